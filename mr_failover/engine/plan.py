"""Plans and their executor: the shared contract of every mutation.

A :class:`Plan` is data: ordered :class:`Step` values, each naming the API call and its
parameters, the region endpoint it goes to, whether it is control plane (and which
region hosts that plane) or data plane, and whether it can be undone. The dry run
renders the plan; the real run hands the very same object to :func:`execute`.

Behaviour lives in each step's :class:`StepAction`, which must be idempotent: it reads
whether its change already holds (and is then skipped), applies it, is polled until its
effect takes hold (tenacity, with a deadline measured on the injected :class:`Clock`),
and is verified from a fresh read. The executor reports progress through a callback
and records intent/outcome through a :class:`Recorder` (the journal); it never prints.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Plane = Literal["control", "data"]
StepStatus = Literal["applied", "skipped", "failed", "interrupted"]
EventKind = Literal[
    "step-start", "step-skipped", "step-applied", "step-waiting", "step-done", "step-failed"
]


class Clock(Protocol):
    """Time as the executor, the journal and the lock see it (tests inject a fake)."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class StepAction(ABC):
    """What a step does. Every method reads fresh state: nothing is cached between calls."""

    @abstractmethod
    def holds(self) -> bool:
        """Is the change already made? (Then the step is skipped: this is idempotency.)"""

    @abstractmethod
    def apply(self) -> None:
        """Make the change (the one mutating call)."""

    def settled(self) -> bool:
        """Has the change's effect taken hold? Polled until the step's deadline."""
        return True

    def state(self) -> str:
        """Short text of what is observed now, for progress and failure messages."""
        return ""

    def verify(self) -> str | None:
        """Fresh read after the wait: None when the effect holds, else what is wrong."""
        if not self.holds():
            return "the change is not in place any more (edited concurrently?)"
        if not self.settled():
            return f"the effect does not hold: {self.state()}".rstrip(": ")
        return None


@dataclass(frozen=True)
class Wait:
    """A step that only waits: ``seconds`` after the change of the steps ``after`` applied.

    The executor owns such a wait: it starts from the wall time at which this run applied
    the latest of those changes (in this attempt, or in an earlier one as the journal
    recorded it), journals that time, and waits only what remains. So a resume waits
    the rest of a wait that was cut short, not the whole and not nothing; when none of
    ``after`` was applied by this run, the change is older than the run and nothing is
    waited. The step's action is still polled (``settled``: the lock's check rides on it)
    and verifies the change afterwards; its ``holds`` and ``apply`` are not called.
    """

    seconds: float
    after: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One step of a plan: the call it makes, where, and whether it can be undone."""

    id: str  # stable across re-plans, so a resume can match journaled steps
    title: str
    service: str
    call: str
    params: Mapping[str, Any]
    region: str  # the endpoint the call is sent to
    plane: Plane
    plane_region: str | None  # the region hosting the control plane; None for data plane
    undoable: bool
    undo: str | None = None  # how to undo it, as a command line
    timeout: float = 300.0  # seconds to wait for the effect
    # First poll interval, backing off with jitter to max_poll. The 2 s cap is what
    # lets a run notice a state change within one interval (bench/bench_actions.py).
    poll: float = 2.0
    max_poll: float = 2.0
    action: StepAction | None = field(default=None, compare=False, repr=False)
    wait: Wait | None = None  # set on a step that waits after other steps' changes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "call": f"{self.service}:{self.call}",
            "params": dict(self.params),
            "region": self.region,
            "plane": self.plane,
            "plane_region": self.plane_region,
            "undoable": self.undoable,
            "undo": self.undo,
            "timeout_seconds": self.timeout,
        }


@dataclass(frozen=True)
class Plan:
    """What a mutation will do, in order. Built from real state; shown before running."""

    command: str  # e.g. "health-check invert"
    params: Mapping[str, Any]  # what re-plans it on resume, e.g. {"region": "us-east-1"}
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "params": dict(self.params),
            "steps": [s.to_json() for s in self.steps],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class StepOutcome:
    step_id: str
    status: StepStatus
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class RunResult:
    outcomes: tuple[StepOutcome, ...]
    seconds: float

    @property
    def applied(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "applied")

    @property
    def skipped(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "skipped")


@dataclass(frozen=True)
class Event:
    """Progress of a run, for the command to display.

    ``step-waiting`` comes after each poll that found the step's effect not yet in place:
    ``detail`` is what was observed (the action's ``state()``, or the error of a poll that
    failed), ``seconds`` the time waited so far and ``deadline`` the most the wait lasts
    (both in seconds from the wait's start, on the run's clock).
    """

    kind: EventKind
    index: int  # 1-based
    total: int
    step: Step
    detail: str = ""
    seconds: float = 0.0
    deadline: float = 0.0


class Recorder(Protocol):
    """Where intent and outcome go (the journal): intent is written before the step."""

    def intent(self, step: Step, index: int) -> None: ...

    def outcome(self, outcome: StepOutcome) -> None: ...

    def wait(self, step: Step, *, since: float, seconds: float, remaining: float) -> None:
        """A wait starts: ``since`` is the wall time the change it waits after was applied."""
