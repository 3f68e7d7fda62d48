"""The contract between a service module and the status report.

A service module (``resources/aurora.py``, ``resources/route53.py``, ...) owns everything
status needs to know about its service: what it reads in a region (:meth:`Section.reads`),
how a failed read counts (:meth:`Section.read_error`), how it judges what was read
(:meth:`Section.judge`: reasons that stop the region taking over, warnings, whether the
service drains the region), its table cell and its JSON. It registers one
:class:`Section` instance in :mod:`mr_failover.resources.registry`; :mod:`mr_failover.status`
iterates that registry and never names a service, and :mod:`mr_failover.render` draws any
section from its cell.

The core never prints, so a cell is plain text and a style name for the renderer.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Region, Topology

T = TypeVar("T")

Verdict = Literal["serving", "drained", "degraded", "unreachable"]
HEALTHY_VERDICTS: frozenset[str] = frozenset({"serving", "drained"})
Layout = Literal["column", "optional-column", "line"]
# How a failed read counts: it blocks the region (reason), makes it unreachable (its
# API did not answer), or is only worth knowing (warning: a control plane elsewhere).
ErrorKind = Literal["reason", "unreachable", "warning"]

# Names of every registered section: RegionStatus answers them as attributes.
_SECTION_NAMES: set[str] = set()


@dataclass(frozen=True)
class Cell:
    """A table cell: text, and a style name the renderer understands ("" for none)."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class SectionError:
    section: str
    region: str
    call: str
    message: str
    unreachable: bool


@dataclass(frozen=True)
class Drift:
    """A fact the topology declares that AWS reports otherwise."""

    resource: str  # "record api.example.com. (use1)", "health check api-us-east-1"
    field: str  # "ttl", "port", ...
    declared: str
    observed: str

    def __str__(self) -> str:
        return (
            f"{self.resource}: {self.field} is {self.observed} in AWS, {self.declared} in the file"
        )


@dataclass(frozen=True)
class Read:
    """One read task of a section in one region, run concurrently with all others.

    ``key`` names the read in errors and in ``observe(sections=...)``; ``api_region`` is
    where the API answering it lives when that is not the region itself (Route 53's
    control plane, Global Accelerator's), so an error names the right region.
    """

    key: str
    fn: Callable[[], object]
    api_region: str | None = None


class SharedReads:
    """Reads that every region's task of one observation needs alike, made once.

    Global Accelerator's API answers the same about the accelerator whichever region
    asks (one control plane, in us-west-2): the first task to ask makes the calls, the
    others wait for its answer or its error. A waiting task is bound by status's deadline
    like the one it waits for.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, Future[Any]] = {}

    def once(self, key: str, fn: Callable[[], T]) -> T:
        with self._lock:
            answer = self._answers.get(key)
            first = answer is None
            if answer is None:
                answer = self._answers[key] = Future()
        if first:
            try:
                answer.set_result(fn())
            except BaseException as exc:
                answer.set_exception(exc)
        result: T = answer.result()
        return result


@dataclass(frozen=True)
class ReadContext:
    topology: Topology
    factory: ClientSource
    region: str
    now: datetime
    # One for all the regions of an observation (status.observe).
    shared: SharedReads = field(default_factory=SharedReads, compare=False, repr=False)

    @property
    def spec(self) -> Region:
        return self.topology.regions[self.region]


@dataclass(frozen=True)
class RegionView:
    """What a section's judgement may look at: its region, and every region's reads."""

    topology: Topology
    region: str
    # region -> read key -> what the read returned (absent: not read, or failed)
    found: Mapping[str, Mapping[str, object]]
    # report-wide facts assembled by the sections (e.g. "writer")
    facts: Mapping[str, object]

    @property
    def spec(self) -> Region:
        return self.topology.regions[self.region]

    @property
    def rpo(self) -> int:
        return self.topology.policy.rpo_seconds

    def get(self, key: str, region: str | None = None) -> object | None:
        return self.found.get(region or self.region, {}).get(key)


@dataclass(frozen=True)
class Judgement:
    """A section's findings on one region.

    ``value`` is what the report keeps for the section (None: nothing read); ``attrs``
    sets region-wide fields the section owns (the writer flag, split brain).
    """

    reasons: Sequence[str] = ()
    warnings: Sequence[str] = ()
    drained: bool = False
    value: object | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    drift: Sequence[Drift] = ()


@dataclass(frozen=True, init=False)
class RegionStatus:
    name: str
    verdict: Verdict
    can_take_over: bool
    is_writer: bool | None
    reasons: tuple[str, ...]  # what stops this region from taking over
    warnings: tuple[str, ...]  # worth knowing, not blocking
    errors: tuple[SectionError, ...]
    # section name -> what its service module kept (absent: not observed)
    sections: Mapping[str, object]
    # Its database accepts writes without being the global writer (mr-failover fence).
    split_brain: bool
    # Declared facts that AWS reports otherwise (status exit code 6 when nothing worse).
    drift: tuple[Drift, ...]

    def __init__(
        self,
        name: str,
        verdict: Verdict,
        can_take_over: bool,
        is_writer: bool | None,
        reasons: tuple[str, ...],
        warnings: tuple[str, ...],
        errors: tuple[SectionError, ...],
        sections: Mapping[str, object] | None = None,
        split_brain: bool = False,
        drift: tuple[Drift, ...] = (),
        **by_name: object,
    ) -> None:
        """``by_name``: sections given by name (``aurora=...``), as tests build them."""
        unknown = set(by_name) - _SECTION_NAMES
        if unknown:
            raise TypeError(f"RegionStatus: no section named {', '.join(sorted(unknown))}")
        kept = {**(sections or {}), **{k: v for k, v in by_name.items() if v is not None}}
        for attr, value in (
            ("name", name),
            ("verdict", verdict),
            ("can_take_over", can_take_over),
            ("is_writer", is_writer),
            ("reasons", reasons),
            ("warnings", warnings),
            ("errors", errors),
            ("sections", kept),
            ("split_brain", split_brain),
            ("drift", drift),
        ):
            object.__setattr__(self, attr, value)

    @property
    def healthy(self) -> bool:
        return self.verdict in HEALTHY_VERDICTS

    def __getattr__(self, name: str) -> Any:
        # r.aurora, r.traffic, ...: a registered section's value, None when not observed.
        if name in _SECTION_NAMES:
            return self.sections.get(name)
        raise AttributeError(name)

    def error(self, key: str) -> str | None:
        """A short word for a failed read: "no answer" (unreachable) or "error"."""
        for e in self.errors:
            if e.section == key:
                return "no answer" if e.unreachable else "error"
        return None


class Section(ABC):
    """A service's part of the status report (see the module docstring)."""

    name: ClassVar[str]  # JSON key, the RegionStatus attribute, the default read key
    title: ClassVar[str]  # column header, or the label on the region's line
    layout: ClassVar[Layout] = "column"
    # Its cell already counts its problems (else the cell gets ", N problems").
    counts_problems: ClassVar[bool] = False
    # Calls its longest read makes one after another: status starts the reads with the
    # most first, so that they are not also the last to get their clients.
    rounds: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _SECTION_NAMES.add(cls.name)

    @abstractmethod
    def reads(self, ctx: ReadContext) -> Sequence[Read]:
        """The reads to make in ``ctx.region`` (none when the topology declares nothing)."""

    def read_error(self, key: str, exc: Exception, unreachable: bool) -> tuple[ErrorKind, str]:
        return ("unreachable" if unreachable else "reason"), f"{key}: {exc}"

    def assemble(
        self, topology: Topology, found: Mapping[str, Mapping[str, object]]
    ) -> dict[str, object]:
        """Report-wide facts from every region's reads, for any section's judgement."""
        return {}

    @abstractmethod
    def judge(self, view: RegionView) -> Judgement:
        """Findings on ``view.region``; called for every region, read or not."""

    def problems(self, r: RegionStatus) -> int:
        """How many of the region's reasons this section gave."""
        return sum(1 for reason in r.reasons if reason.startswith(f"{self.name}:"))

    def cell(self, r: RegionStatus) -> Cell:
        """The table cell: never "ok" alone where a reason of this section says otherwise."""
        value = r.sections.get(self.name)
        if value is None:
            return Cell(r.error(self.name) or "-")
        cell = self.value_cell(value, r)
        n = self.problems(r)
        if n and not self.counts_problems:
            text = f"{cell.text}, {n} problem{'s' if n > 1 else ''}"
            return Cell(text, cell.style or "red")
        return cell

    @abstractmethod
    def value_cell(self, value: Any, r: RegionStatus) -> Cell:
        """The cell of a section that was read."""

    def present(self, r: RegionStatus) -> bool:
        """Whether the region shows this section (an optional column, a line part)."""
        return r.sections.get(self.name) is not None or r.error(self.name) is not None

    def to_json(self, value: Any) -> Any:
        return None if value is None else asdict(value)


class GlobalSection(ABC):
    """A service observed once for the whole report (CloudFront), not per region."""

    name: ClassVar[str]
    api_region: ClassVar[str]
    rounds: ClassVar[int] = 1  # as Section.rounds

    @abstractmethod
    def declared(self, topology: Topology) -> bool: ...

    @abstractmethod
    def read(self, topology: Topology, factory: ClientSource) -> tuple[Any, ...]: ...

    @abstractmethod
    def apply(
        self, topology: Topology, regions: tuple[RegionStatus, ...], found: tuple[Any, ...]
    ) -> tuple[tuple[RegionStatus, ...], list[str]]:
        """The regions with this service's reasons added, and report-wide warnings."""

    @abstractmethod
    def lines(self, found: tuple[Any, ...]) -> list[str]:
        """Lines shown under the status table."""

    def to_json(self, found: tuple[Any, ...]) -> Any:
        return [asdict(d) for d in found]


def at_once(*fns: Callable[[], Any]) -> list[Any]:
    """Each of ``fns`` on a thread of its own; their results in order.

    For a section's reads that wait for no other and use different clients (Stubber
    tests expect one client's calls in order): the section then takes as long as its
    longest chain of calls rather than their sum, which is what status's wall time
    follows when each call has a latency (bench/bench_status_cold.py).

    An exception is raised once all have ended, the first one in ``fns``'s order: the
    one the calls made one after another would have raised. Daemon threads, like
    status's own: a read still waiting on a black-holed endpoint never holds the process.
    """
    outcomes: list[tuple[bool, Any]] = [(False, None)] * len(fns)

    def run(i: int) -> None:
        try:
            outcomes[i] = (True, fns[i]())
        except BaseException as exc:
            outcomes[i] = (False, exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]
