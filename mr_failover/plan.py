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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from mr_failover.errors import EXIT_FAILED, AwsCallError, MrFailoverError

Plane = Literal["control", "data"]
StepStatus = Literal["applied", "skipped", "failed", "interrupted"]
EventKind = Literal["step-start", "step-skipped", "step-applied", "step-done", "step-failed"]


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
    """Progress of a run, for the command to display."""

    kind: EventKind
    index: int  # 1-based
    total: int
    step: Step
    detail: str = ""
    seconds: float = 0.0


class Recorder(Protocol):
    """Where intent and outcome go (the journal): intent is written before the step."""

    def intent(self, step: Step, index: int) -> None: ...

    def outcome(self, outcome: StepOutcome) -> None: ...


class StepFailedError(MrFailoverError):
    """A step failed; names the step, the region, the call and the error."""

    exit_code = EXIT_FAILED

    def __init__(self, step: Step, index: int, total: int, detail: str) -> None:
        self.step = step
        self.index = index
        self.total = total
        self.detail = detail
        self.run_id: str | None = None
        super().__init__(detail)

    def __str__(self) -> str:
        s = self.step
        text = (
            f"step {self.index}/{self.total} '{s.title}' failed "
            f"({s.service}:{s.call} in {s.region}): {self.detail}"
        )
        if self.run_id:
            text += f"; fix the cause, then resume with --resume {self.run_id}"
        return text


class _StopAt(stop_base):
    """Stop at a deadline on the injected clock (tenacity's stop_after_delay reads the real
    one, which would make tests sleep)."""

    def __init__(self, clock: Clock, deadline: float) -> None:
        self.clock = clock
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock.monotonic() >= self.deadline


def wait_until(
    check: Callable[[], bool],
    *,
    clock: Clock,
    timeout: float,
    poll: float = 2.0,
    max_poll: float = 2.0,
) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` passes on ``clock``.

    Transient AWS errors (throttling, a slow region) are retried too; the last one is
    raised if the deadline passes while failing.
    """
    retrying = Retrying(
        stop=_StopAt(clock, clock.monotonic() + timeout),
        wait=wait_exponential_jitter(multiplier=poll, max=max_poll, jitter=poll / 2),
        sleep=clock.sleep,
        retry=retry_if_result(lambda ok: not ok) | retry_if_exception_type(AwsCallError),
        reraise=True,
    )
    try:
        return bool(retrying(check))
    except RetryError:
        return False


def execute(
    plan: Plan,
    *,
    clock: Clock | None = None,
    recorder: Recorder | None = None,
    on_event: Callable[[Event], None] | None = None,
    completed: Collection[str] = (),
    before_step: Callable[[Step], None] | None = None,
) -> RunResult:
    """Run ``plan`` in order; stop at the first failing step (StepFailedError).

    ``completed`` holds ids of steps an earlier attempt of the same run finished (from
    the journal): they are not applied again, only checked to still hold.
    ``before_step`` runs before each step (the lock's "still mine?" check).
    """
    clock = clock or SystemClock()
    emit = on_event or (lambda _e: None)
    total = len(plan.steps)
    outcomes: list[StepOutcome] = []
    started = clock.monotonic()
    for index, step in enumerate(plan.steps, start=1):
        if before_step is not None:
            before_step(step)
        if step.action is None:
            raise ValueError(f"step {step.id} has no action: a display-only plan cannot run")
        action = step.action
        if recorder is not None:
            recorder.intent(step, index)
        emit(Event("step-start", index, total, step))
        t0 = clock.monotonic()
        status: StepStatus
        try:
            if action.holds():
                status = "skipped"
                detail = (
                    "done by an earlier attempt of this run"
                    if step.id in completed
                    else "already in place"
                )
                emit(Event("step-skipped", index, total, step, detail))
            elif step.id in completed:
                # Re-applying would repeat a mutation the journal says was made: someone
                # changed it back since. A human must decide, not a resume.
                raise MrFailoverError(
                    "the journal says this step completed, but its change no longer holds "
                    "(changed since?); check the state and start a new run"
                )
            else:
                action.apply()
                status = "applied"
                detail = "applied"
                emit(Event("step-applied", index, total, step, detail))
            if not wait_until(
                action.settled,
                clock=clock,
                timeout=step.timeout,
                poll=step.poll,
                max_poll=step.max_poll,
            ):
                raise MrFailoverError(
                    f"its effect did not take hold within {step.timeout:g}s: {action.state()}"
                )
            problem = action.verify()
            if problem:
                raise MrFailoverError(f"verification failed: {problem}")
        except MrFailoverError as exc:
            failed = StepOutcome(step.id, "failed", clock.monotonic() - t0, str(exc))
            outcomes.append(failed)
            if recorder is not None:
                recorder.outcome(failed)
            emit(Event("step-failed", index, total, step, str(exc), failed.seconds))
            raise StepFailedError(step, index, total, str(exc)) from None
        except BaseException as exc:
            # A bug or Ctrl-C: journal it, then let it propagate with its traceback.
            kind: StepStatus = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            broken = StepOutcome(step.id, kind, clock.monotonic() - t0, repr(exc))
            if recorder is not None:
                recorder.outcome(broken)
            raise
        done = StepOutcome(step.id, status, clock.monotonic() - t0, detail)
        outcomes.append(done)
        if recorder is not None:
            recorder.outcome(done)
        emit(Event("step-done", index, total, step, detail, done.seconds))
    return RunResult(tuple(outcomes), clock.monotonic() - started)
