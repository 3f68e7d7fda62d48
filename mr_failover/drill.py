"""Game-day drills: the scenario model, its phases, stop conditions and measurements.

A scenario (YAML, validated with :func:`mr_failover.topology.load_model`, so errors carry
file:line:column) lists steady-state checks, steps, stop conditions, failback steps and
RTO/RPO targets. Each step is a *phase* whose :class:`~mr_failover.engine.plan.Plan` is built
from real state when the phase starts, with the same builders as the single-operation
commands (drain, undrain, promote, health-check), so a drill takes the same refusals and
the same idempotent steps. Fault injection goes through :mod:`mr_failover.faults` (AWS
FIS, or an injector registered as an entry point); the other drill-only steps (waits,
approvals, the cut-over probe and the "target serves and takes writes" check) are
:class:`StepAction` values here. Measurements and phase boundaries go to the run journal
as notes, which is what the report (:mod:`mr_failover.drill_report`) and ``--resume`` read
back.

This module never prints; approvals go through a callback the command supplies.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mr_failover import faults
from mr_failover.aws import call
from mr_failover.drill_custom import CUSTOM_KINDS
from mr_failover.engine.journal import Journal, RunRecord, read_records
from mr_failover.engine.plan import Clock, Plan, Step, StepAction
from mr_failover.engine.run import Execution, Finished, Job, RunInfo
from mr_failover.errors import AwsCallError, MrFailoverError, RefusedError, UsageError
from mr_failover.faults import FisExperiment as FisExperiment
from mr_failover.faults import Outage
from mr_failover.operations.replication import dynamodb_item_key, replication_filter
from mr_failover.resources.client import Sample, SyntheticClient
from mr_failover.resources.client import figures as client_figures
from mr_failover.resources.dns_steps import DnsNotes, serving_answers
from mr_failover.topology import HttpUrl

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.drill_report import DrillReport
    from mr_failover.topology import Topology

StepKind = Literal[
    "drain",
    "undrain",
    "promote",
    "health-check",
    "fault",
    "fault-stop",
    "wait",
    "approve",
    "verify",
    "fence",
    "restore-traffic",
    "restore-writer",
    "restore-capacity",
    "cleanup",
    "http",
    "command",
    "lambda",
    "ssm-automation",
]
# Steps that move traffic, the database or break something: RTO starts at the first one.
DISRUPTIVE: frozenset[str] = frozenset({"drain", "promote", "fault", "health-check"})
_NEEDS_REGION: frozenset[str] = frozenset(
    {"drain", "undrain", "promote", "health-check", "fault", "fault-stop", "verify", "fence"}
)
# Key suffix of the fence phase a failback gets after an unplanned failover (phases()).
IMPLICIT_FENCE = ".fence"
# The two phases every drill ends with (all_phases()): put back what differs from the state
# recorded before the drill, then remove every canary the run wrote.
# The restore is three phases, each planned when it starts from fresh reads: the traffic
# levers first (a promote refuses a target whose checks are unhealthy), then the writer,
# then the capacity (scaled down once traffic and the writer are home).
RESTORE_PARTS: dict[str, str] = {
    "restore-traffic": "restore the traffic levers that differ from before the drill",
    "restore-writer": "restore the Aurora writer if it differs from before the drill",
    "restore-capacity": "restore the desired counts that differ from before the drill",
}
CLEANUP_TITLE = "remove every canary the drill wrote, in every replica"
BUILTINS = ("evacuate", "db-failover")
CANARY_PREFIX = "mr-failover-drill"


# --- the scenario file -------------------------------------------------------------------


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioStep(_M):
    """One step of a scenario: an operation, a fault, a wait, an approval or a check."""

    action: StepKind
    region: str | None = None
    title: str | None = None
    mode: Literal["switchover", "failover"] | None = None  # promote
    allow_data_loss: bool = False  # promote
    beyond_rpo: bool = False  # promote: a failover may lose more than the RPO
    invert: bool = True  # health-check: invert (true) or restore (false)
    seconds: float | None = Field(default=None, ge=0, le=86_400)  # wait
    prompt: str | None = None  # approve
    fis_template: str | None = None  # fault against AWS: an FIS experiment template id
    database: Literal["stop", "rejoin"] | None = None  # fence (default: rejoin, global mode)
    # Custom steps (drill_custom.py): http, command, lambda, ssm-automation.
    url: HttpUrl | None = None  # http
    method: Literal["GET", "HEAD", "POST", "PUT", "DELETE"] = "GET"  # http
    expect_status: int = Field(default=200, ge=100, le=599)  # http
    command: list[str] | None = Field(default=None, min_length=1)  # command: argv, no shell
    timeout: float = Field(default=60.0, gt=0, le=86_400)  # http, command, ssm-automation
    function: str | None = None  # lambda: name or ARN
    payload: Any = None  # lambda: the event, as JSON
    document: str | None = None  # ssm-automation
    parameters: dict[str, list[str]] = Field(default_factory=dict)  # ssm-automation
    idempotent: bool = False  # custom: may run again on --resume without asking

    @model_validator(mode="after")
    def _custom(self) -> ScenarioStep:
        needs = {"http": "url", "command": "command", "lambda": "function"}
        needs["ssm-automation"] = "document"
        wanted = needs.get(self.action)
        if wanted is not None and getattr(self, wanted) is None:
            raise ValueError(f"a {self.action} step needs '{wanted}'")
        if self.action in ("lambda", "ssm-automation") and not self.region:
            raise ValueError(f"a {self.action} step needs 'region'")
        return self

    @model_validator(mode="after")
    def _required(self) -> ScenarioStep:
        if self.action in _NEEDS_REGION and not self.region:
            raise ValueError(f"a {self.action} step needs 'region'")
        if self.action == "wait" and self.seconds is None:
            raise ValueError("a wait step needs 'seconds'")
        return self

    def label(self) -> str:
        if self.title:
            return self.title
        if self.action == "wait":
            return f"hold {self.seconds:g}s (stop conditions watched)"
        if self.action == "approve":
            return "manual approval"
        if self.action == "health-check":
            return f"health-check {'invert' if self.invert else 'restore'} {self.region}"
        if self.action in RESTORE_PARTS:
            return RESTORE_PARTS[self.action]
        if self.action == "cleanup":
            return CLEANUP_TITLE
        if self.action == "http":
            return f"{self.method} {self.url}"
        if self.action == "command":
            return "run " + " ".join(self.command or [])
        if self.action == "lambda":
            return f"invoke lambda {self.function} in {self.region}"
        if self.action == "ssm-automation":
            return f"ssm automation {self.document} in {self.region}"
        return f"{self.action} {self.region}"


class StopCondition(_M):
    """An alarm in ALARM state, or a region whose status verdict turns bad, stops the drill."""

    alarm: str | None = None
    region: str | None = None  # the alarm's region
    status: str | None = None  # a region whose status verdict is watched
    verdicts: tuple[Literal["drained", "degraded", "unreachable"], ...] = ("unreachable",)
    # An application probe: GET probe, which fails when it does not answer expect_status
    # (within timeout) this many times in a row.
    probe: HttpUrl | None = None
    expect_status: int = Field(default=200, ge=100, le=599)
    timeout: float = Field(default=3.0, gt=0, le=60)
    failures: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _one(self) -> StopCondition:
        if sum(x is not None for x in (self.alarm, self.status, self.probe)) != 1:
            raise ValueError(
                "a stop condition is one of 'alarm' (with 'region'), 'status' or 'probe'"
            )
        if self.alarm is not None and not self.region:
            raise ValueError("an alarm stop condition needs the alarm's 'region'")
        return self

    def label(self) -> str:
        if self.alarm:
            return f"CloudWatch alarm {self.alarm} ({self.region}) in ALARM"
        if self.probe:
            return f"probe {self.probe} failed {self.failures} time(s) in a row"
        return f"status of {self.status} is {' or '.join(self.verdicts)}"


class SteadyState(_M):
    """What must hold before the drill starts and after the failback."""

    regions: tuple[str, ...] | None = None  # must be 'serving' (default: every region)
    replication: bool = False  # and `check replication` must say go


class Targets(_M):
    rto_seconds: int | None = Field(default=None, ge=1)
    rpo_seconds: int | None = Field(default=None, ge=0)


class Scenario(_M):
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    steady_state: SteadyState = SteadyState()
    stop_conditions: tuple[StopCondition, ...] = ()
    steps: tuple[ScenarioStep, ...] = Field(min_length=1)
    failback: tuple[ScenarioStep, ...] = ()
    targets: Targets = Targets()
    watch_interval: float = Field(default=10.0, gt=0, le=3600)

    def phases(self) -> list[tuple[str, ScenarioStep]]:
        """Every phase with its key: s1..sN for steps, f1..fN for the failback.

        After an unplanned failover (a ``fault`` step on a region and a ``promote`` that is
        not a switchover), the failback's ``fault-stop`` of that region is followed by an
        implicit fence phase (key ``fN.fence``): once the region is back, its database may
        accept writes if Aurora's best-effort fencing failed (split brain), and must be
        fenced before anything switches back. A scenario that fences the region itself
        (a ``fence`` step) gets none.

        What runs is :meth:`all_phases`: these, then the closing phases every drill has.
        """
        out = [(f"s{i}", s) for i, s in enumerate(self.steps, 1)]
        unplanned = any(s.action == "promote" and s.mode != "switchover" for s in self.steps)
        faulted = {s.region for s in self.steps if s.action == "fault"} if unplanned else set()
        faulted -= {s.region for s in self.failback if s.action == "fence"}
        for i, s in enumerate(self.failback, 1):
            out.append((f"f{i}", s))
            if s.action == "fault-stop" and s.region in faulted:
                fence = ScenarioStep(
                    action="fence",
                    region=s.region,
                    database="rejoin",
                    title=f"fence {s.region} if split brain (old primary back after a failover)",
                )
                out.append((f"f{i}{IMPLICIT_FENCE}", fence))
        return out

    def all_phases(self) -> list[tuple[str, ScenarioStep]]:
        """:meth:`phases`, then the ones every drill ends with, numbered after the
        failback: the three restore phases (what still differs from the state recorded
        before the drill is set back: traffic, writer, capacity) and ``cleanup`` (every
        canary the run wrote is removed from every replica)."""
        n = len(self.failback)
        return [
            *self.phases(),
            *(
                (f"f{n + i}", ScenarioStep(action=part))
                for i, part in enumerate([*RESTORE_PARTS, "cleanup"], 1)
            ),
        ]

    def rto_target(self, topology: Topology) -> int:
        return self.targets.rto_seconds or topology.policy.rto_seconds

    def rpo_target(self, topology: Topology) -> int:
        return (
            self.targets.rpo_seconds
            if self.targets.rpo_seconds is not None
            else topology.policy.rpo_seconds
        )


def _cross_checks(topology: Topology) -> Callable[[Scenario], list[tuple[Any, str]]]:
    known = set(topology.regions)

    def check(s: Scenario) -> list[tuple[Any, str]]:
        out: list[tuple[Any, str]] = []

        def region(path: tuple[Any, ...], name: str | None) -> None:
            if name is not None and name not in known:
                out.append(
                    (path, f"region {name!r} is not in the topology ({', '.join(sorted(known))})")
                )

        for section in ("steps", "failback"):
            for i, st in enumerate(getattr(s, section)):
                region((section, i, "region"), st.region)
                spec = topology.regions.get(st.region or "")
                if st.action == "promote" and spec is not None and spec.aurora is None:
                    out.append(((section, i, "region"), f"{st.region} has no Aurora cluster"))
        for i, sc in enumerate(s.stop_conditions):
            region(("stop_conditions", i, "status"), sc.status)
        for i, name in enumerate(s.steady_state.regions or ()):
            region(("steady_state", "regions", i), name)
        if not any(st.action == "verify" for st in s.steps):
            out.append((("steps",), "no verify step: the drill could not measure its RTO"))
        return out

    return check


def load_scenario(path: str | Path, topology: Topology) -> Scenario:
    """Load and validate a scenario file (ConfigError with file:line:column, exit 2)."""
    from mr_failover.topology import load_model

    return load_model(path, Scenario, what="drill scenario", cross_checks=_cross_checks(topology))


@dataclass(frozen=True)
class BuiltinChoice:
    """What a built-in drill decided from AWS before it started, kept in the run's params
    (a resumed run re-builds the same scenario even though the writer has moved since)."""

    region: str
    target: str
    writer: str | None  # the Aurora writer's region before the drill (None: no Aurora)
    why: str  # why this target, said in the plan

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "to": self.target, "writer": self.writer, "why": self.why}


def choose_target(
    topology: Topology, report: Any, region: str, *, needs_db: bool
) -> tuple[str, str]:
    """The region best able to take over from ``region`` per ``report`` (a status report),
    and why: one that can take over, serving, then (the writer moving) with Aurora and the
    smallest replication lag in whole seconds, then the topology's ``primary_region`` (the
    steady-state home, a preference only), then the file's order."""
    others = [n for n in topology.regions if n != region]
    if not others:
        raise UsageError("a drill needs at least two regions in the topology")
    if needs_db:
        with_db = [n for n in others if topology.regions[n].aurora is not None]
        if not with_db:
            raise UsageError(f"no region other than {region} has Aurora to take the writer")
        others = with_db
    seen = {r.name: r for r in report.regions}

    def lag(name: str) -> float:
        rs = seen.get(name)
        a = rs.sections.get("aurora") if rs is not None else None
        value = getattr(a, "lag_seconds", None)
        return float(value) if value is not None else float("inf")

    def whole_seconds(value: float) -> float:
        return value if value == float("inf") else float(int(value))

    def rank(name: str) -> tuple[bool, bool, float, bool, int]:
        rs = seen.get(name)
        return (
            not (rs is not None and rs.can_take_over),
            not (rs is not None and rs.verdict == "serving"),
            # Whole seconds: lags of 80 and 90 ms are equal, the preference decides. An
            # unknown lag (no datapoint yet, e.g. a writer just demoted) ranks last.
            whole_seconds(lag(name)) if needs_db else 0.0,
            name != topology.primary_region,
            others.index(name),
        )

    best = min(others, key=rank)
    rs = seen.get(best)
    if rs is None or not rs.can_take_over:
        why = (
            "no other region can take over now ("
            + "; ".join(
                f"{n}: {', '.join(seen[n].reasons) or seen[n].verdict}" for n in others if n in seen
            )
            + ")"
        )
    else:
        facts = [rs.verdict]
        if needs_db and lag(best) != float("inf"):
            facts.append(f"Aurora lag {lag(best):.2f} s")
        if best == topology.primary_region:
            facts.append("the topology's primary_region")
        why = f"the region status finds best able to take over ({', '.join(facts)})"
    return best, why


def choose_builtin(
    name: str,
    topology: Topology,
    factory: ClientSource,
    region: str | None,
    *,
    to: str | None = None,
    observe: Callable[..., Any] | None = None,
) -> tuple[BuiltinChoice, Any]:
    """Decide a built-in drill's regions from AWS: the writer is the one status observes
    (global: the member with ``IsWriter``; replica mode: the writable cluster), never the
    topology's ``role``. Returns the choice and the status report it was made from."""
    from mr_failover import status

    if name not in BUILTINS:
        raise UsageError(f"no built-in drill {name!r}; built-ins: {', '.join(BUILTINS)}")
    for what, value in (("region", region), ("--to", to)):
        if value is not None and value not in topology.regions:
            raise UsageError(
                f"unknown {what} {value!r}; the topology declares {', '.join(topology.regions)}"
            )
    report = (observe or status.observe)(topology, factory, deadline=8)
    writers = [r.name for r in report.regions if r.is_writer]
    writer = writers[0] if len(writers) == 1 else None
    has_db = any(spec.aurora is not None for spec in topology.regions.values())
    if has_db and writer is None:
        raise RefusedError(
            "refused: the Aurora writer cannot be told from AWS now ("
            + ("; ".join(f"{n} is writer" for n in writers) or "no region reports it")
            + "); a drill needs to know it (mr-failover status)"
        )
    if name == "db-failover":
        if writer is None:
            raise UsageError("db-failover needs Aurora in the topology")
        region = region or writer
        if region != writer:
            raise UsageError(
                f"db-failover moves the writer away from {region}, but AWS reports the writer "
                f"in {writer}: use --region {writer}"
            )
    if region is None:
        raise UsageError(f"the built-in drill {name} needs --region")
    needs_db = name == "db-failover" or writer == region
    if to is not None:
        if to == region:
            raise UsageError(f"--to {to} is the region the drill moves away from")
        if needs_db and topology.regions[to].aurora is None:
            raise UsageError(f"--to {to}: it has no Aurora cluster to take the writer")
        target, why = to, "chosen with --to"
    else:
        target, why = choose_target(topology, report, region, needs_db=needs_db)
    return BuiltinChoice(region, target, writer, why), report


def builtin(
    name: str,
    topology: Topology,
    region: str,
    *,
    hold: float = 60.0,
    writer: str | None = None,
    target: str | None = None,
    why: str = "",
) -> Scenario:
    """``evacuate`` (drain R, move the writer off R if it is there, verify, hold, fail back)
    and ``db-failover`` (switch the writer from R to another region, verify, hold, back).

    ``writer``: the Aurora writer's region as AWS reports it (:func:`choose_builtin`); the
    failback returns the writer there. ``target``: the region that takes over (default:
    the first other region with Aurora, in the file's order).
    """
    if region not in topology.regions:
        raise UsageError(
            f"unknown region {region!r}; the topology declares {', '.join(topology.regions)}"
        )
    holds_writer = writer is not None and writer == region
    if target is None:
        others = [n for n in topology.regions if n != region]
        with_db = [n for n in others if topology.regions[n].aurora is not None]
        if not others:
            raise UsageError("a drill needs at least two regions in the topology")
        target = (with_db or others)[0]
    chosen = f" Target {target}: {why}." if why else ""
    watch = (StopCondition(status=target),)
    if name == "evacuate":
        steps = [ScenarioStep(action="drain", region=region)]
        # Traffic first: promote refuses a target whose health checks are not healthy.
        back = [ScenarioStep(action="undrain", region=region)]
        if holds_writer:
            steps.append(ScenarioStep(action="promote", region=target, mode="switchover"))
            back.append(ScenarioStep(action="promote", region=region, mode="switchover"))
        steps += [
            ScenarioStep(action="verify", region=target),
            ScenarioStep(action="wait", seconds=hold),
        ]
        return Scenario(
            name=f"evacuate {region}",
            description=f"Move all traffic{' and the writer' if holds_writer else ''} from "
            f"{region} to {target}, hold, and fail back"
            + (f" (the writer back to {writer})" if holds_writer else "")
            + f".{chosen}",
            stop_conditions=watch,
            steps=tuple(steps),
            failback=tuple(back),
        )
    if name == "db-failover":
        if topology.regions[region].aurora is None or topology.regions[target].aurora is None:
            raise UsageError(f"db-failover needs Aurora in {region} and {target}")
        home = writer or region
        return Scenario(
            name=f"db-failover {region}",
            description=f"Switch the Aurora writer from {region} to {target}, hold, switch "
            f"back to {home}.{chosen}",
            stop_conditions=watch,
            steps=(
                ScenarioStep(action="promote", region=target, mode="switchover"),
                ScenarioStep(action="verify", region=target),
                ScenarioStep(action="wait", seconds=hold),
            ),
            failback=(ScenarioStep(action="promote", region=home, mode="switchover"),),
        )
    raise UsageError(f"no built-in drill {name!r}; built-ins: {', '.join(BUILTINS)}")


# --- the context the actions share ---------------------------------------------------------


class StopConditionFiredError(MrFailoverError):
    """A stop condition fired: the drill stops and runs its failback."""

    def __init__(self, condition: str) -> None:
        self.condition = condition
        super().__init__(f"stop condition fired: {condition}")


@dataclass
class DrillContext:
    """What a drill's phases share: clients, clock, the journal's notes, the approver."""

    topology: Topology
    factory: ClientSource
    clock: Clock
    run_id: str
    # Where AWS calls go (--endpoint-url / AWS_ENDPOINT_URL), for the fault injectors.
    endpoint_url: str | None = None
    approve: Callable[[str], bool] = lambda _prompt: False
    # Asks before re-running a custom step that may have run (False with --yes: refuse).
    confirm_rerun: Callable[[str], bool] = lambda _prompt: False
    # key -> fields of the journal note; prefilled from the journal on --resume.
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)
    write_note: Callable[[str, dict[str, Any]], None] = lambda _k, _f: None
    # The state the drill may touch, as observed before its first step (observe_state).
    before: dict[str, dict[str, Any]] | None = None
    # Every canary write the run attempted (journaled before the write: drill-canary).
    canaries: list[dict[str, Any]] = field(default_factory=list)
    observe: Callable[..., Any] | None = None  # status.observe (tests inject one)

    def mark(self, key: str, **fields: Any) -> None:
        measure = fields.pop("kind", None)
        record = {"key": key, "t": round(self.clock.time(), 3), "measure": measure, **fields}
        self.marks[key] = record
        self.write_note("drill-measure", record)

    def canary(self, entry: dict[str, Any]) -> None:
        """Journal a canary write *before* making it: a crash right after the write still
        leaves its record, for --resume or ``mr-failover cleanup --run``."""
        if any(c["id"] == entry["id"] for c in self.canaries):
            return
        self.canaries.append(entry)
        self.write_note("drill-canary", entry)

    def load(self, records: Sequence[dict[str, Any]]) -> tuple[set[str], str | None]:
        """What an earlier attempt journaled (``--resume``): marks, the state before, the
        canaries; returns the phases it finished and the stop condition that fired."""
        done: set[str] = set()
        stopped: str | None = None
        for rec in records:
            if rec.get("type") != "note":
                continue
            kind = rec.get("kind")
            if kind == "drill-measure":
                self.marks[rec["key"]] = rec
            elif kind == "drill-phase" and rec.get("event") == "done":
                done.add(rec["phase"])
            elif kind == "drill-stop":
                stopped = rec["condition"]
            elif kind == "drill-state" and rec.get("when") == "before":
                self.before = rec.get("items") or {}
            elif kind == "drill-canary" and not any(
                c["id"] == rec.get("id") for c in self.canaries
            ):
                self.canaries.append(_canary_fields(rec))
        return done, stopped


def _canary_fields(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in ("type", "kind", "at", "t")}


# --- the state a drill may touch, before and after ---------------------------------------

# What observe_state reads: the levers, the capacity and the writer; nothing else.
STATE_SECTIONS = frozenset({"traffic", "routing_controls", "compute", "accelerator", "aurora"})


def observe_state(
    topology: Topology, factory: ClientSource, observe: Callable[..., Any] | None = None
) -> tuple[dict[str, dict[str, Any]], Any]:
    """The state a drill may touch, item by item, from a fresh status read: the Aurora
    writer, each health check's inversion flag, each routing control, each traffic dial,
    each weighted record's weight, each ECS service's and Auto Scaling group's desired
    count. Returns ``{key: {"label", "value"}}`` (value None: not read) and the report."""
    from mr_failover import status

    report = (observe or status.observe)(topology, factory, sections=STATE_SECTIONS, deadline=8)
    return state_items(topology, report), report


def state_items(topology: Topology, report: Any) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}

    def add(key: str, label: str, value: Any) -> None:
        items[key] = {"label": label, "value": value}

    if any(spec.aurora is not None for spec in topology.regions.values()):
        writers = [r.name for r in report.regions if r.is_writer]
        known = any(r.is_writer is not None for r in report.regions)
        add(
            "writer",
            "Aurora writer",
            writers[0] if len(writers) == 1 else None if not known else ",".join(writers) or "none",
        )
    for rs in report.regions:
        r = rs.name
        traffic = rs.sections.get("traffic")
        for hc in getattr(traffic, "health_checks", ()):
            add(f"{r}:health-check:{hc.name}", f"{r} health check {hc.name} inverted", hc.inverted)
        for rec in getattr(traffic, "records", ()):
            if rec.found and rec.routing_policy == "weighted":
                label = f"{rec.name} ({rec.set_identifier})"
                add(f"{r}:weight:{label}", f"{r} weight of {label}", rec.weight)
        for rc in getattr(traffic, "routing_controls", ()):
            add(f"{r}:routing-control:{rc.arn}", f"{r} routing control {rc.short_name}", rc.state)
        accelerator = rs.sections.get("accelerator")
        group = getattr(accelerator, "group", None)
        if group is not None:
            add(f"{r}:traffic-dial", f"{r} traffic dial (%)", group.dial)
        compute = rs.sections.get("compute")
        for svc in getattr(compute, "services", ()):
            if svc.found:
                add(f"{r}:{svc.kind}:{svc.name}", f"{r} {svc.kind} {svc.name} desired", svc.desired)
    return items


def state_differences(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every item whose value after differs from before (a missing item counts)."""
    out = []
    for key, item in before.items():
        now = after.get(key, {}).get("value")
        if now != item.get("value"):
            out.append(
                {
                    "key": key,
                    "label": item.get("label", key),
                    "before": item.get("value"),
                    "after": now,
                }
            )
    return out


# An alarm stop condition that cannot be read this many checks in a row stops the drill:
# a condition that can no longer fire must not let the drill go on unwatched.
UNREADABLE_LIMIT = 3
ALARM_TYPES = ["CompositeAlarm", "MetricAlarm"]


def alarm_state(factory: ClientSource, name: str, region: str) -> str:
    """The ``StateValue`` of the metric or composite alarm ``name``; raises when unreadable.

    # rule: cloudwatch-alarm-types
    "If you omit this parameter, only metric alarms are returned, even if composite alarms
    exist in the account" (DescribeAlarms, AlarmTypes, Amazon CloudWatch API Reference,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html):
    both types are asked for. A name that matches no alarm is an error, not "OK".
    """
    cw = factory.client("cloudwatch", region)
    out = call(cw, "describe_alarms", AlarmNames=[name], AlarmTypes=ALARM_TYPES)
    alarms = [*out.get("MetricAlarms", []), *out.get("CompositeAlarms", [])]
    if not alarms:
        raise AwsCallError(
            region,
            "cloudwatch:DescribeAlarms",
            f"no metric or composite alarm named {name!r}",
            "check the stop condition's alarm name and region",
        )
    return str(alarms[0].get("StateValue", ""))


class StopWatch:
    """Evaluates the stop conditions at most every ``interval`` seconds on the clock."""

    def __init__(
        self,
        conditions: Sequence[StopCondition],
        ctx: DrillContext,
        interval: float,
        observe: Callable[..., Any] | None = None,
    ) -> None:
        self.conditions = tuple(conditions)
        self.ctx = ctx
        self.interval = interval
        self.fired: str | None = None
        self._next = float("-inf")
        self._observe = observe
        self._unreadable: dict[str, int] = {}  # label -> failed reads in a row

    def check(self) -> None:
        """Raise :class:`StopConditionFiredError` when a condition holds (or held)."""
        if self.fired is not None:
            raise StopConditionFiredError(self.fired)
        now = self.ctx.clock.monotonic()
        if not self.conditions or now < self._next:
            return
        self._next = now + self.interval
        for condition in self.conditions:
            if self._holds(condition):
                self.fired = condition.label()
                raise StopConditionFiredError(self.fired)

    def _holds(self, c: StopCondition) -> bool:
        if c.probe is not None:
            from mr_failover.resources.probes import probe
            from mr_failover.topology import Probes

            spec = Probes(expect_status=c.expect_status, timeout_seconds=c.timeout)
            label = c.label()
            if probe(c.probe, spec).ok:
                self._unreadable.pop(label, None)
                return False
            self._unreadable[label] = self._unreadable.get(label, 0) + 1
            return self._unreadable[label] >= c.failures
        if c.alarm is not None:
            assert c.region is not None
            label = c.label()
            try:
                state = alarm_state(self.ctx.factory, c.alarm, c.region)
            except MrFailoverError as exc:
                # Not read (access denied, a name that matches nothing, throttling): a
                # condition that cannot fire must not go unseen for long.
                self._unreadable[label] = self._unreadable.get(label, 0) + 1
                if self._unreadable[label] >= UNREADABLE_LIMIT:
                    self.fired = (
                        f"{label}: could not be read {UNREADABLE_LIMIT} times in a row ({exc})"
                    )
                    raise StopConditionFiredError(self.fired) from None
                return False
            self._unreadable.pop(label, None)
            return state == "ALARM"
        try:
            from mr_failover import status

            observe = self._observe or status.observe
            assert c.status is not None
            report = observe(self.ctx.topology, self.ctx.factory, regions=[c.status], deadline=5)
            return bool(report.region(c.status).verdict in c.verdicts)
        except MrFailoverError:
            # A watcher that cannot read is not a reason to abort, nor to stop watching.
            return False


class Watched(StepAction):
    """A step whose waits also watch the stop conditions."""

    def __init__(self, inner: StepAction, watch: StopWatch) -> None:
        self.inner = inner
        self.watch = watch

    def holds(self) -> bool:
        return self.inner.holds()

    def apply(self) -> None:
        self.watch.check()
        self.inner.apply()

    def settled(self) -> bool:
        self.watch.check()
        return self.inner.settled()

    def state(self) -> str:
        return self.inner.state()

    def verify(self) -> str | None:
        return self.inner.verify()

    def note(self) -> str:
        return self.inner.note()

    def journal_notes(self) -> list[tuple[str, dict[str, Any]]]:
        return self.inner.journal_notes()


# --- drill-only step actions -----------------------------------------------------------------


class _Marked(StepAction):
    """A step that is done once its mark is in the journal (so a resume skips it)."""

    def __init__(self, ctx: DrillContext, key: str) -> None:
        self.ctx = ctx
        self.key = key

    def holds(self) -> bool:
        return self.key in self.ctx.marks

    def verify(self) -> str | None:
        return None if self.holds() else "the step did not complete"


class WaitAction(_Marked):
    def __init__(self, ctx: DrillContext, key: str, seconds: float) -> None:
        super().__init__(ctx, key)
        self.seconds = seconds
        self.start: float | None = None

    def apply(self) -> None:
        self.start = self.ctx.clock.monotonic()

    def settled(self) -> bool:
        if self.holds():
            return True
        assert self.start is not None
        if self.ctx.clock.monotonic() - self.start >= self.seconds:
            self.ctx.mark(self.key, kind="waited", seconds=self.seconds)
            return True
        return False

    def state(self) -> str:
        if self.start is None:
            return ""
        return f"{self.ctx.clock.monotonic() - self.start:.0f}s of {self.seconds:g}s"


class ApproveAction(_Marked):
    def __init__(self, ctx: DrillContext, key: str, prompt: str) -> None:
        super().__init__(ctx, key)
        self.prompt = prompt

    def apply(self) -> None:
        if not self.ctx.approve(self.prompt):
            raise RefusedError(f"refused: not approved: {self.prompt}")
        self.ctx.mark(self.key, kind="approved", prompt=self.prompt)


def _canary_buckets(topology: Topology, source: str, target: str) -> list[tuple[str, str]]:
    """(bucket in ``source``, its replica bucket in ``target``): where S3 canaries can go."""
    return [
        (b.name, dest.bucket)
        for b in topology.regions[source].s3_buckets
        for dest in b.replicate_to
        if dest.region == target
    ]


# --- canaries: what a drill writes, and their removal from every replica -------------------


def dynamodb_canary(
    region: str, table: str, item_key: Mapping[str, Any], phase: str
) -> dict[str, Any]:
    marker = next(iter(next(iter(item_key.values())).values()))
    return {
        "id": f"dynamodb:{table}:{marker}",
        "service": "dynamodb",
        "region": region,
        "table": table,
        "item_key": dict(item_key),
        "phase": phase,
    }


def s3_canary(region: str, bucket: str, key: str, phase: str) -> dict[str, Any]:
    return {
        "id": f"s3:{bucket}:{key}",
        "service": "s3",
        "region": region,
        "bucket": bucket,
        "key": key,
        "phase": phase,
    }


def canary_replicas(topology: Topology, canary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(region, table or bucket) of every copy a canary can have: a DynamoDB item in every
    region whose topology lists the table (a global table's replicas); an S3 object in its
    bucket and every bucket it replicates into, and onward."""
    if canary["service"] == "dynamodb":
        table = str(canary["table"])
        regions = [canary["region"], *topology.regions]
        return [
            (r, table)
            for r in dict.fromkeys(regions)
            if r == canary["region"] or table in topology.regions[r].dynamodb_tables
        ]
    edges = {
        b.name: [(d.region, d.bucket) for d in b.replicate_to]
        for spec in topology.regions.values()
        for b in spec.s3_buckets
    }
    out = [(str(canary["region"]), str(canary["bucket"]))]
    i = 0
    while i < len(out):
        for nxt in edges.get(out[i][1], []):
            if nxt not in out:
                out.append(nxt)
        i += 1
    return out


def _dynamodb_present(client: Any, table: str, key: Mapping[str, Any]) -> bool:
    out = call(client, "get_item", TableName=table, Key=dict(key), ConsistentRead=True)
    return "Item" in out


def _s3_versions(client: Any, bucket: str, key: str) -> list[str]:
    """Every version id and delete marker of ``key`` in ``bucket``."""
    found: list[str] = []
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
    while True:
        out = call(client, "list_object_versions", **request)
        for v in [*out.get("Versions", []), *out.get("DeleteMarkers", [])]:
            if v["Key"] == key:
                found.append(str(v["VersionId"]))
        if not out.get("IsTruncated"):
            return found
        request["KeyMarker"] = out.get("NextKeyMarker")
        request["VersionIdMarker"] = out.get("NextVersionIdMarker")


class RemoveCanary(StepAction):
    """Remove one canary from every replica: the DynamoDB item in each region, or each
    version and delete marker of the S3 object in each bucket. A copy that a late
    replication brings back is removed again while the step waits.

    Every bucket is cleaned itself: "when S3 Replication is enabled and an object is
    deleted in the source bucket, Amazon S3 adds a delete marker in the source bucket
    only" unless delete marker replication is enabled ("Replicating delete markers
    between buckets", Amazon S3 User Guide,
    https://docs.amazonaws.cn/en_us/AmazonS3/latest/userguide/delete-marker-replication.md).
    So the removal relies on no delete being replicated: it deletes every version and
    delete marker it finds, by version id, in each bucket, and checks each bucket again.
    """

    def __init__(self, topology: Topology, factory: ClientSource, canary: Mapping[str, Any]):
        self.factory = factory
        self.canary = canary
        self.replicas = canary_replicas(topology, canary)
        self.left: list[str] = []

    def _present(self) -> list[tuple[str, str, list[str]]]:
        """(region, resource, S3 versions) of every copy still there; unreadable counts."""
        out: list[tuple[str, str, list[str]]] = []
        for region, resource in self.replicas:
            try:
                if self.canary["service"] == "dynamodb":
                    client = self.factory.client("dynamodb", region)
                    if _dynamodb_present(client, resource, self.canary["item_key"]):
                        out.append((region, resource, []))
                else:
                    client = self.factory.client("s3", region)
                    versions = _s3_versions(client, resource, self.canary["key"])
                    if versions:
                        out.append((region, resource, versions))
            except MrFailoverError as exc:
                out.append((region, resource, [f"unread: {exc}"]))
        # A copy that could not be read may be there: said apart ("not read"), so a
        # region that does not answer is not reported as holding the canary.
        self.left = [
            f"{resource} ({region})"
            + (f" not read: {versions[0].removeprefix('unread: ')}" if _unread(versions) else "")
            for region, resource, versions in out
        ]
        return out

    def holds(self) -> bool:
        return not self._present()

    def apply(self) -> None:
        for region, resource, versions in self._present():
            with contextlib.suppress(MrFailoverError):  # said by settled()/verify()
                if self.canary["service"] == "dynamodb":
                    client = self.factory.client("dynamodb", region)
                    call(client, "delete_item", TableName=resource, Key=self.canary["item_key"])
                    continue
                client = self.factory.client("s3", region)
                for version in versions:
                    if version.startswith("unread: "):
                        continue
                    call(
                        client,
                        "delete_object",
                        Bucket=resource,
                        Key=self.canary["key"],
                        VersionId=version,
                    )

    def settled(self) -> bool:
        if not self._present():
            return True
        self.apply()  # a replica that arrived after the first pass
        return False

    def verify(self) -> str | None:
        return None if self.holds() else self._where()

    def state(self) -> str:
        return self._where() if self.left else "removed everywhere"

    def _where(self) -> str:
        found = [x for x in self.left if " not read: " not in x]
        unread = [x for x in self.left if " not read: " in x]
        parts = [f"still in {', '.join(found)}"] if found else []
        if unread:
            parts.append(
                "; ".join(unread) + " (may hold it: cleanup --run removes it once it answers)"
            )
        return "; ".join(parts)


def _unread(versions: Sequence[str]) -> bool:
    return bool(versions) and versions[0].startswith("unread: ")


def canary_steps(
    topology: Topology, factory: ClientSource, canaries: Sequence[Mapping[str, Any]]
) -> list[Step]:
    """One step per canary, removing it from every replica."""
    steps = []
    for c in canaries:
        where = ", ".join(f"{res} ({r})" for r, res in canary_replicas(topology, c))
        what = (
            f"item {next(iter(c['item_key'].values()))}"
            if c["service"] == "dynamodb"
            else f"object {c['key']} (every version and delete marker)"
        )
        steps.append(
            _drill_step(
                f"remove:{c['id']}",
                f"remove canary {what} from {where}",
                str(c["service"]),
                "DeleteItem" if c["service"] == "dynamodb" else "DeleteObject",
                str(c["region"]),
                RemoveCanary(topology, factory, c),
                params={"replicas": [list(x) for x in canary_replicas(topology, c)]},
                timeout=120.0,
                poll=1.0,
            )
        )
    return steps


def _cleanup_phase(ctx: DrillContext, *, planning: bool) -> tuple[list[Step], tuple[str, ...]]:
    if planning:
        return [], (
            "the drill writes canaries (DynamoDB items and S3 objects whose keys start with "
            f"{CANARY_PREFIX}) and removes every one, in every replica, at its end",
        )
    return canary_steps(ctx.topology, ctx.factory, ctx.canaries), ()


def plan_cleanup(
    topology: Topology, factory: ClientSource, run_id: str, records: Sequence[dict[str, Any]]
) -> Plan:
    """``mr-failover cleanup --run RUN_ID``: remove every canary the run journaled."""
    canaries = [
        _canary_fields(r)
        for r in records
        if r.get("type") == "note" and r.get("kind") == "drill-canary"
    ]
    canaries = list({c["id"]: c for c in canaries}.values())
    if not canaries:
        from mr_failover.operations.promote import NothingToDo

        raise NothingToDo(f"nothing to do: run {run_id} journaled no canary write")
    return Plan(
        command="cleanup",
        params={"run": run_id},
        steps=tuple(canary_steps(topology, factory, canaries)),
        notes=(
            f"{len(canaries)} canary write(s) journaled by run {run_id}; each step removes one "
            "from every replica (a step finds it already gone: skipped)",
        ),
    )


def _canary_tables(topology: Topology, source: str, target: str) -> list[str]:
    """DynamoDB tables both regions hold (global tables): where canaries can go."""
    theirs = set(topology.regions[target].dynamodb_tables)
    return [t for t in topology.regions[source].dynamodb_tables if t in theirs]


class CutoverProbe(_Marked):
    """At cut-over: the writer's replication lag into the target, and a canary write in the
    old writer's region per global table, to be looked for in the target afterwards."""

    def __init__(self, ctx: DrillContext, key: str, source: str, target: str) -> None:
        super().__init__(ctx, key)
        self.source = source
        self.target = target

    def apply(self) -> None:
        from mr_failover.operations.promote import aurora_lag

        topology, factory = self.ctx.topology, self.ctx.factory
        lag: float | None = None
        metric: str | None = None
        spec = topology.regions[self.target].aurora
        if spec is not None:
            with contextlib.suppress(MrFailoverError):
                # The clock's time, as `promote` judges metrics (a sandbox's runs ahead).
                now = datetime.fromtimestamp(self.ctx.clock.time(), UTC)
                reading = aurora_lag(
                    factory, self.target, spec.cluster, spec.mode, now, self.source
                )
                lag, metric = reading.seconds, reading.metric
        canaries = []
        for table in _canary_tables(topology, self.source, self.target):
            marker = f"{CANARY_PREFIX}#{self.ctx.run_id}#{self.key}"
            client = factory.client("dynamodb", self.source)
            entry: dict[str, Any] = {"table": table, "source": self.source, "written": False}
            try:
                key = dynamodb_item_key(client, table, marker)
                self.ctx.canary(dynamodb_canary(self.source, table, key, self.key))
                item = {**key, "mr_failover_canary": {"S": self.ctx.run_id}}
                call(client, "put_item", TableName=table, Item=item)
                entry |= {"written": True, "item_key": key}
            except (MrFailoverError, Exception) as exc:  # the source may be the broken region
                entry["error"] = str(exc).splitlines()[0][:200]
            canaries.append(entry)
        for bucket, dest in _canary_buckets(topology, self.source, self.target):
            entry = {"bucket": bucket, "to_bucket": dest, "source": self.source, "written": False}
            try:
                # Under the rule's prefix, with its tags: an object outside the rule's
                # filter is never replicated (rule: s3-replication-filter).
                client = factory.client("s3", self.source)
                flt = replication_filter(client, bucket, dest)
                object_key = f"{flt.prefix}{CANARY_PREFIX}/{self.ctx.run_id}/{self.key}"
                self.ctx.canary(s3_canary(self.source, bucket, object_key, self.key))
                call(
                    client,
                    "put_object",
                    Bucket=bucket,
                    Key=object_key,
                    Body=f"mr-failover drill canary {self.ctx.run_id}\n".encode(),
                    Metadata={"mr-failover-canary": self.ctx.run_id},
                    **({"Tagging": urlencode(flt.tags)} if flt.tags else {}),
                )
                entry |= {"written": True, "key": object_key}
            except (MrFailoverError, Exception) as exc:  # the source may be the broken region
                entry["error"] = str(exc).splitlines()[0][:200]
            canaries.append(entry)
        self.ctx.mark(
            self.key,
            kind="cutover",
            source=self.source,
            target=self.target,
            lag_seconds=lag,
            lag_metric=metric,
            canaries=canaries,
        )


class ServingCheck(_Marked):
    """The target serves traffic (effective health), holds the writer, takes a write."""

    def __init__(self, ctx: DrillContext, key: str, region: str) -> None:
        super().__init__(ctx, key)
        self.region = region
        self.last = ""
        self.dns = ""
        self.dns_notes = DnsNotes(ctx.clock)

    def apply(self) -> None:
        """Nothing to change: the check is the wait."""

    def _problems(self) -> list[str]:
        from mr_failover.resources.route53 import METRICS_REGION, observe_region_checks
        from mr_failover.resources.route53_steps import ROUTE53_REGION

        topology, factory = self.ctx.topology, self.ctx.factory
        spec = topology.regions[self.region]
        problems: list[str] = []
        r53 = factory.client("route53", ROUTE53_REGION)
        cw = factory.client("cloudwatch", METRICS_REGION)
        for hc in observe_region_checks(r53, spec.traffic, cloudwatch=cw):
            if hc.effective_healthy is not True:
                problems.append(f"health check {hc.name} not healthy")
        # What clients get: DNS must send a client near the region to it.
        answered, self.dns = serving_answers(topology, self.region, self.dns_notes)
        if answered is False:
            problems.append(f"DNS does not answer with {self.region} yet: {self.dns}")
        if spec.aurora is not None and spec.aurora.mode == "global":
            from mr_failover.resources.aurora import observe_global_cluster

            assert spec.aurora.global_cluster is not None
            g = observe_global_cluster(
                factory.client("rds", self.region), spec.aurora.global_cluster
            )
            if g.writer_region != self.region:
                problems.append(f"the Aurora writer is in {g.writer_region}, not {self.region}")
        return problems

    def _canary_write(self) -> str | None:
        """A marked write in the target's first table; None when it took. It is journaled
        first and removed, from every replica, by the drill's cleanup phase."""
        tables = self.ctx.topology.regions[self.region].dynamodb_tables
        if not tables:
            return None
        client = self.ctx.factory.client("dynamodb", self.region)
        marker = f"{CANARY_PREFIX}#{self.ctx.run_id}#{self.key}#write"
        try:
            key = dynamodb_item_key(client, tables[0], marker)
            self.ctx.canary(dynamodb_canary(self.region, tables[0], key, self.key))
            call(
                client,
                "put_item",
                TableName=tables[0],
                Item={**key, "mr_failover_canary": {"S": self.ctx.run_id}},
            )
        except MrFailoverError as exc:
            return f"canary write to {tables[0]} failed: {exc}"
        return None

    def _lost_canaries(self) -> tuple[int, int]:
        """Cut-over canaries written in the old writer's region: (written, not in target)."""
        written = lost = 0
        factory = self.ctx.factory
        for mark in self.ctx.marks.values():
            if mark.get("measure") != "cutover" or mark.get("target") != self.region:
                continue
            for canary in mark.get("canaries", []):
                if not canary.get("written"):
                    continue
                written += 1
                try:
                    if "bucket" in canary:
                        present = bool(
                            _s3_versions(
                                factory.client("s3", self.region),
                                canary["to_bucket"],
                                canary["key"],
                            )
                        )
                    else:
                        present = _dynamodb_present(
                            factory.client("dynamodb", self.region),
                            canary["table"],
                            canary["item_key"],
                        )
                    if not present:
                        lost += 1
                except MrFailoverError:
                    lost += 1
        return written, lost

    def settled(self) -> bool:
        if self.holds():
            return True
        problems = self._problems()
        if not problems:
            failed = self._canary_write()
            if failed:
                problems.append(failed)
        self.last = "; ".join(problems)
        if problems:
            return False
        written, lost = self._lost_canaries()
        self.ctx.mark(
            self.key,
            kind="serving",
            region=self.region,
            canaries_written=written,
            canaries_lost=lost,
            dns_answers=self.dns,
        )
        return True

    def state(self) -> str:
        return self.last or "serving, writer here, canary write accepted"

    def journal_notes(self) -> list[tuple[str, dict[str, Any]]]:
        return self.dns_notes.take()


def _drill_step(
    key: str,
    title: str,
    service: str,
    call_name: str,
    region: str,
    action: StepAction,
    *,
    params: Mapping[str, Any] | None = None,
    plane: Literal["control", "data"] = "data",
    timeout: float = 300.0,
    poll: float = 2.0,
) -> Step:
    return Step(
        id=key,
        title=title,
        service=service,
        call=call_name,
        params=params or {},
        region=region,
        plane=plane,
        plane_region=region if plane == "control" else None,
        undoable=False,
        timeout=timeout,
        poll=poll,
        max_poll=min(15.0, max(poll, 1.0)),
        action=action,
    )


def _custom_step(ctx: DrillContext, key: str, spec: ScenarioStep) -> Step:
    """A scenario's own step (drill_custom.py): journaled, run once, bounded."""
    from mr_failover import drill_custom as custom

    region = spec.region or "-"
    common: dict[str, Any] = {
        "key": f"{key}:{spec.action}",
        "kind": spec.action,
        "marks": ctx.marks,
        "mark": ctx.mark,
        "confirm": ctx.confirm_rerun,
        "idempotent": spec.idempotent,
        "title": spec.label(),
    }
    action: StepAction
    params: dict[str, Any]
    service: str
    call_name: str
    if spec.action == "http":
        assert spec.url is not None
        action = custom.CustomAction(
            run=custom.http_request(spec.method, spec.url, spec.expect_status, spec.timeout),
            **common,
        )
        params = {"method": spec.method, "url": spec.url, "expect_status": spec.expect_status}
        service, call_name = "http", spec.method
    elif spec.action == "command":
        assert spec.command is not None
        env = {
            "MR_FAILOVER_RUN_ID": ctx.run_id,
            "MR_FAILOVER_PHASE": key,
            "MR_FAILOVER_REGION": spec.region or "",
            "MR_FAILOVER_APPLICATION": ctx.topology.application,
        }
        action = custom.CustomAction(
            run=custom.local_command(spec.command, env, spec.timeout), **common
        )
        params = {"command": list(spec.command)}
        service, call_name = "local", "Command"
    elif spec.action == "lambda":
        assert spec.function is not None
        action = custom.CustomAction(
            run=custom.lambda_invoke(ctx.factory, region, spec.function, spec.payload), **common
        )
        params = {"FunctionName": spec.function}
        service, call_name = "lambda", "Invoke"
    else:
        assert spec.document is not None
        start, check = custom.ssm_automation(ctx.factory, region, spec.document, spec.parameters)
        action = custom.AutomationAction(start=start, check=check, **common)
        params = {"DocumentName": spec.document}
        service, call_name = "ssm", "StartAutomationExecution"
    return _drill_step(
        f"{key}:{spec.action}",
        spec.label(),
        service,
        call_name,
        region,
        action,
        params=params,
        timeout=spec.timeout + 5.0,
        poll=min(5.0, max(spec.timeout / 20, 0.2)),
    )


def _fault_step(ctx: DrillContext, key: str, spec: ScenarioStep, region: str, start: bool) -> Step:
    """The step of a fault (``start``) or fault-stop phase, by the first fault injector
    that can inject this outage (:func:`mr_failover.faults.choose`)."""
    outage = Outage(region, f"fault:{region}", ctx.endpoint_url, spec.fis_template)
    try:
        injector = faults.choose(outage)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    step = injector.describe(outage, start)
    return _drill_step(
        f"{key}:{step.suffix}",
        step.title,
        step.service,
        step.call,
        step.region,
        injector.start(ctx, outage) if start else injector.stop(ctx, outage),
        params=step.params,
        plane=step.plane,
        poll=step.poll,
    )


# --- phases -----------------------------------------------------------------------------------


def _writer_region(ctx: DrillContext, target: str) -> str | None:
    """The live writer region as AWS reports it, asked of the target first (it answers
    when the writer's region does not); None when nobody can tell (never the file's role)."""
    from mr_failover.resources.aurora import observed_writer

    writer, _why = observed_writer(ctx.topology, ctx.factory, ask_first=[target])
    return writer


def _restore_phase(
    ctx: DrillContext, part: str, *, planning: bool
) -> tuple[list[Step], tuple[str, ...]]:
    """Steps putting back the items of ``part`` (a :data:`RESTORE_PARTS` key) that differ
    from the state recorded before the drill, read now."""
    if planning or ctx.before is None:
        if part != "restore-traffic":
            return [], ()
        return [], (
            "at the end the drill reads again what it recorded before its first step (the "
            "Aurora writer, health-check inversion flags, routing controls, traffic dials, "
            "weights, ECS/ASG desired counts) and puts back whatever still differs: the "
            "traffic levers, then the writer, then the capacity",
        )
    from mr_failover.operations.promote import NothingToDo, plan_promotion
    from mr_failover.resources import globalaccelerator as ga
    from mr_failover.resources.arc_steps import plan_routing_controls
    from mr_failover.resources.compute_steps import set_back_step
    from mr_failover.resources.route53 import METRICS_REGION, find_zone_id
    from mr_failover.resources.route53_steps import ROUTE53_REGION, inversion_step, weight_step

    topology, factory = ctx.topology, ctx.factory
    now, report = observe_state(topology, factory, ctx.observe)
    kinds = {
        "restore-writer": ("writer",),
        "restore-capacity": ("ecs", "asg"),
        "restore-traffic": ("health-check", "weight", "routing-control", "traffic-dial"),
    }[part]
    diffs = {
        d["key"]: d
        for d in state_differences(ctx.before, now)
        if (d["key"] if d["key"] == "writer" else d["key"].split(":")[1]) in kinds
    }
    if not diffs:
        return [], (f"{part}: nothing differs from the state recorded before the drill",)
    traffic: list[Step] = []
    writer: list[Step] = []
    capacity: list[Step] = []
    notes: list[str] = []
    undo = "none: it puts back the state recorded before the drill"
    r53 = None
    controls: dict[str, set[Any]] = {}
    for key, d in diffs.items():
        before = d["before"]
        if before is None:
            notes.append(f"{d['label']}: not read before the drill, so not restored")
            continue
        if key == "writer":
            try:
                plan = plan_promotion(
                    topology,
                    factory,
                    str(before),
                    mode="switchover",
                    now=datetime.fromtimestamp(ctx.clock.time(), UTC),
                )
            except NothingToDo:
                continue
            writer += plan.steps
            notes += plan.notes
            continue
        region, kind, name = key.split(":", 2) if key.count(":") >= 2 else (*key.split(":"), "")
        rs = report.region(region)
        spec = topology.regions[region]
        if kind == "health-check":
            r53 = r53 or factory.client("route53", ROUTE53_REGION)
            hc = next(h for h in spec.traffic.health_checks if h.name == name)
            seen = next(h for h in rs.traffic.health_checks if h.name == name)
            cloudwatch = factory.client("cloudwatch", METRICS_REGION)
            traffic.append(
                inversion_step(
                    r53, hc, seen.id, region=region, inverted=bool(before), cloudwatch=cloudwatch
                )
            )
        elif kind == "weight":
            r53 = r53 or factory.client("route53", ROUTE53_REGION)
            rec = next(r for r in spec.traffic.records if f"{r.name} ({r.set_identifier})" == name)
            zone = rec.hosted_zone_id or find_zone_id(r53, rec.zone)
            traffic.append(
                weight_step(r53, zone, rec, region=region, weight=int(before), undo=undo)
            )
        elif kind == "routing-control":
            controls.setdefault(region, set()).add(before)
        elif kind == "traffic-dial":
            group = rs.accelerator.group
            client = factory.client("globalaccelerator", ga.GA_REGION)
            traffic.append(
                ga.dial_step(
                    client,
                    group_arn=group.arn,
                    region=region,
                    dial=float(before),
                    previous=group.dial,
                    undo=undo,
                )
            )
        elif kind in ("ecs", "asg"):
            service, after = f"{kind}:{name}", int(d["after"] or 0)
            capacity.append(set_back_step(factory, region, service, int(before), after, undo))
    for region, states in controls.items():
        if len(states) != 1:
            notes.append(f"{region}'s routing controls were not all alike before: set them by hand")
            continue
        found = plan_routing_controls(topology, factory, region, on=states.pop() == "On", undo=undo)
        traffic.append(found.step)
    notes.insert(
        0,
        "differs from before the drill: "
        + "; ".join(f"{d['label']} {d['after']} (was {d['before']})" for d in diffs.values()),
    )
    return [*traffic, *writer, *capacity], tuple(notes)


def _drain_record(ctx: DrillContext, region: str) -> dict[str, Any] | None:
    """What this drill's newest drain of ``region`` recorded (its ``drained`` mark)."""
    marks = [
        m for m in ctx.marks.values() if m.get("measure") == "drained" and m.get("region") == region
    ]
    return max(marks, key=lambda m: m.get("t", 0)) if marks else None


def build_phase(key: str, spec: ScenarioStep, ctx: DrillContext, *, planning: bool = False) -> Plan:
    """The plan of one phase, built from real state now.

    ``planning`` (the dry run and the up-front plan): phases that only make sense after
    earlier ones (promoting back to the region that still holds the writer) are shown
    as they will run rather than refused.
    """
    from mr_failover.operations.promote import NothingToDo

    topology, factory, clock = ctx.topology, ctx.factory, ctx.clock
    region = spec.region or "-"
    steps: list[Step]
    notes: tuple[str, ...] = ()
    params: dict[str, Any] = {"phase": key}
    if spec.action == "drain":
        from mr_failover.operations.drain import plan_drain

        plan = plan_drain(topology, factory, region, clock=clock)
        steps, notes = list(plan.steps), plan.notes
        # What the undrain of this drill restores (a resumed drain re-plans from changed
        # state: the first record stands).
        if not planning and f"{key}:drained" not in ctx.marks:
            ctx.mark(
                f"{key}:drained",
                kind="drained",
                region=region,
                **{
                    k: plan.params.get(k)
                    for k in ("previous_desired", "previous_min", "dial_before", "weights_before")
                },
            )
    elif spec.action == "undrain":
        from mr_failover.operations.drain import plan_undrain, recorded_scale_up

        rec = _drain_record(ctx, region) or {}
        drill_run = f"drill {ctx.run_id}"
        scaled = recorded_scale_up(drill_run, rec)
        dial = rec.get("dial_before")
        weights = rec.get("weights_before")
        plan = plan_undrain(
            topology,
            factory,
            region,
            clock=clock,
            # The drill's own drain, never another run's: scale back what it raised.
            recorded=lambda _r: scaled,
            recorded_dial=lambda _r: (drill_run, float(dial)) if dial else None,
            recorded_weights=lambda _r: (drill_run, dict(weights)) if weights else None,
        )
        steps, notes = list(plan.steps), plan.notes
    elif spec.action == "health-check":
        from mr_failover.operations.healthcheck import plan_inversion

        plan = plan_inversion(topology, factory, region, invert=spec.invert)
        steps, notes = list(plan.steps), plan.notes
    elif spec.action == "promote":
        from mr_failover.operations.promote import plan_promotion

        probe_key = f"{key}:cutover"
        # On --resume the writer may already have moved: the probe's own mark says where from.
        marked = ctx.marks.get(probe_key, {}).get("source")
        source = marked or _writer_region(ctx, region)
        steps = []
        if (source is not None and source != region) or probe_key in ctx.marks:
            steps.append(
                _drill_step(
                    probe_key,
                    f"cut-over probe: lag into {region}, canary writes in {source}",
                    "drill",
                    "CutoverProbe",
                    region,
                    CutoverProbe(ctx, probe_key, source or "-", region),
                    params={"from": source, "to": region},
                )
            )
        try:
            plan = plan_promotion(
                topology,
                factory,
                region,
                mode=spec.mode,
                allow_data_loss=spec.allow_data_loss,
                beyond_rpo=spec.beyond_rpo,
                now=datetime.fromtimestamp(ctx.clock.time(), UTC),
                resuming=planning or probe_key in ctx.marks,
            )
            steps += list(plan.steps)
            notes = plan.notes
        except NothingToDo as exc:
            steps, notes = [], (str(exc),)
    elif spec.action in ("fault", "fault-stop"):
        steps = [_fault_step(ctx, key, spec, region, start=spec.action == "fault")]
    elif spec.action == "wait":
        seconds = float(spec.seconds or 0)
        steps = [
            _drill_step(
                f"{key}:wait",
                spec.label(),
                "drill",
                "Wait",
                "-",
                WaitAction(ctx, f"{key}:wait", seconds),
                params={"seconds": seconds},
                timeout=seconds + 60.0,
                poll=min(5.0, max(seconds / 10, 0.2)),
            )
        ]
    elif spec.action == "approve":
        prompt = spec.prompt or "continue the drill?"
        steps = [
            _drill_step(
                f"{key}:approve",
                f"approval: {prompt}",
                "drill",
                "Approve",
                "-",
                ApproveAction(ctx, f"{key}:approve", prompt),
            )
        ]
    elif spec.action == "fence":
        steps, notes, fenced = _fence_phase(key, spec, ctx, planning=planning)
        if fenced:
            params["fence"] = fenced
    elif spec.action in RESTORE_PARTS:
        steps, notes = _restore_phase(ctx, spec.action, planning=planning)
    elif spec.action == "cleanup":
        steps, notes = _cleanup_phase(ctx, planning=planning)
    elif spec.action in CUSTOM_KINDS:
        steps = [_custom_step(ctx, key, spec)]
    else:  # verify
        from mr_failover.resources.route53_steps import HEALTH_POLL

        steps = [
            _drill_step(
                f"{key}:serving",
                f"verify {region} serves traffic, holds the writer and takes a write",
                "drill",
                "VerifyServing",
                region,
                ServingCheck(ctx, f"{key}:serving", region),
                timeout=900.0,
                # Health comes from Route 53's one-minute CloudWatch metrics: looking
                # again sooner than every 15 s sees nothing new.
                poll=HEALTH_POLL,
            )
        ]
    steps = [dataclasses.replace(s, id=f"{key}/{s.id}") for s in steps]
    return Plan(
        command=f"drill {spec.action}",
        params=params,
        steps=tuple(steps),
        notes=tuple(notes),
    )


def _fence_phase(
    key: str, spec: ScenarioStep, ctx: DrillContext, *, planning: bool
) -> tuple[list[Step], tuple[str, ...], dict[str, Any] | None]:
    """A fence phase: fence's own plan (traffic kept drained, database fenced).

    The implicit phase of a failback (``IMPLICIT_FENCE``) fences only a split brain: when
    the old primary came back as a secondary (Aurora's fencing worked) it has no step.
    """
    from mr_failover.operations.fence import IsWriterError, plan_fence

    region = spec.region or "-"
    implicit = key.endswith(IMPLICIT_FENCE)
    aurora = ctx.topology.regions[region].aurora
    if implicit and (aurora is None or aurora.mode != "global"):
        return [], (f"{region}: no Aurora global database to check for split brain",), None
    if implicit and planning:
        return (
            [],
            (
                f"after {region}'s fault is healed, the failback checks whether its database "
                "accepts writes without being the writer (split brain) and, if so, fences it: "
                "rename, stop, rejoin as a new secondary",
            ),
            None,
        )
    database = spec.database or ("rejoin" if aurora and aurora.mode == "global" else "stop")
    try:
        plan = plan_fence(ctx.topology, ctx.factory, region, database=database, clock=ctx.clock)
    except IsWriterError as exc:
        if not implicit:
            raise
        return [], (f"{region} holds the writer: no split brain ({exc})",), None
    if implicit and plan.params["action"] == "none":
        return [], (f"no split brain in {region}: its database accepts no writes",), None
    fenced = {
        "region": region,
        "database": plan.params["action"],
        "cluster": plan.params["cluster"],
        "fenced_cluster": plan.params["fenced_cluster"],
    }
    return list(plan.steps), plan.notes, fenced


@dataclass(frozen=True)
class PlannedPhase:
    key: str
    spec: ScenarioStep
    plan: Plan | None
    problem: str = ""  # why it cannot be planned now (it is re-planned when it starts)
    # Why the whole drill is refused up front, if it is: a drain whose absorbers lack the
    # quota headroom for their scale-up (it would refuse the same when its phase starts).
    refusal: str = ""


@dataclass(frozen=True)
class DrillPlan:
    scenario: Scenario
    phases: tuple[PlannedPhase, ...]

    def as_plan(self, params: Mapping[str, Any]) -> Plan:
        steps = tuple(s for p in self.phases if p.plan for s in p.plan.steps)
        notes = tuple(n for p in self.phases if p.plan for n in p.plan.notes)
        return Plan(command="drill", params=params, steps=steps, notes=notes)


def plan_drill(scenario: Scenario, ctx: DrillContext) -> DrillPlan:
    """Every phase planned from current state, for the dry run and the journal."""
    from mr_failover.operations.drain import QuotaShortError

    out = []
    for key, spec in scenario.all_phases():
        try:
            out.append(PlannedPhase(key, spec, build_phase(key, spec, ctx, planning=True)))
        except MrFailoverError as exc:
            refusal = exc.why if isinstance(exc, QuotaShortError) else ""
            out.append(PlannedPhase(key, spec, None, str(exc), refusal=refusal))
    return DrillPlan(scenario, tuple(out))


def phase_refusal(drill: DrillPlan) -> str | None:
    """Why the whole drill is refused from its plan (a phase that would refuse as it stands
    now, whatever the phases before it change), or None."""
    for p in drill.phases:
        if p.refusal:
            return (
                f"refused: {p.key} ({p.spec.label()}): {p.refusal} (a drill has no "
                "--no-scale-up: its drain scales the absorbing regions up)"
            )
    return None


# --- static stability --------------------------------------------------------------------------


@dataclass(frozen=True)
class StabilityFinding:
    """Steps that would fail if ``region`` were the one that is down."""

    region: str
    steps: tuple[tuple[str, str, str], ...]  # (step id, title, why)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "steps": [{"id": i, "title": t, "why": w} for i, t, w in self.steps],
        }


def static_stability(drill: DrillPlan, topology: Topology) -> tuple[StabilityFinding, ...]:
    """For each region the plan touches: which steps need it (endpoint or control plane)."""
    from mr_failover.resources import arc

    regions: list[str] = list(topology.regions)
    # A routing-control step is served by any one of the ARC cluster's five endpoints: no
    # single region's outage stops it. Only reading the endpoints, when the topology does
    # not list them, is a control-plane call (us-west-2), and the tool caches its answer.
    arc_needs = arc.CONTROL_PLANE_REGION if topology.arc and not topology.arc.endpoints else None
    for phase in drill.phases:
        for s in phase.plan.steps if phase.plan else ():
            places = (
                (arc_needs,) if s.service == arc.CLUSTER_SERVICE else (s.region, s.plane_region)
            )
            for r in places:
                if r and r != "-" and r not in regions:
                    regions.append(r)
    findings = []
    for region in regions:
        hits = []
        for phase in drill.phases:
            for s in phase.plan.steps if phase.plan else ():
                if s.service == arc.CLUSTER_SERVICE:
                    if region == arc_needs:
                        why = (
                            f"ARC control plane in {region}: DescribeCluster reads the cluster's "
                            "endpoints unless cached (list them: mr-failover arc endpoints)"
                        )
                        hits.append((s.id, s.title, why))
                    continue
                if s.region == region and s.plane_region not in (None, region):
                    why = f"endpoint in {region}"
                elif s.plane == "control" and s.plane_region == region and s.region != region:
                    why = f"control plane in {region} (called from {s.region})"
                elif s.region == region:
                    why = (
                        f"{s.service} control plane in {region}"
                        if s.plane == "control"
                        else f"endpoint in {region}"
                    )
                else:
                    continue
                hits.append((s.id, s.title, why))
        findings.append(StabilityFinding(region, tuple(hits)))
    return tuple(findings)


# --- running -----------------------------------------------------------------------------------


def steady_state_problems(
    scenario: Scenario, ctx: DrillContext, observe: Callable[..., Any] | None = None
) -> list[str]:
    """What keeps the system out of its steady state now (empty: steady)."""
    from mr_failover import status

    wanted = list(scenario.steady_state.regions or ctx.topology.regions)
    report = (observe or status.observe)(ctx.topology, ctx.factory, regions=wanted, deadline=8)
    problems = [
        f"{r.name} is {r.verdict}" + (f" ({'; '.join(r.reasons)})" if r.reasons else "")
        for r in report.regions
        if r.verdict != "serving"
    ]
    for c in scenario.stop_conditions:
        if c.alarm is None or c.region is None:
            continue
        # A stop condition that cannot be read would never fire: not a steady state. (One
        # in ALARM stops the drill at its first check.)
        try:
            alarm_state(ctx.factory, c.alarm, c.region)
        except MrFailoverError as exc:
            problems.append(f"stop condition alarm {c.alarm} ({c.region}) cannot be read: {exc}")
    if scenario.steady_state.replication:
        from mr_failover.operations.replication import check_replication

        rep = check_replication(ctx.topology, ctx.factory, clock=ctx.clock)
        if not rep.go:
            problems.append("check replication says no-go")
    return problems


@dataclass(frozen=True)
class DrillOutcome:
    stopped_by: str | None  # the stop condition that fired, if one did


def disruptive(spec: ScenarioStep) -> bool:
    return spec.action in DISRUPTIVE and not (spec.action == "health-check" and not spec.invert)


def run_phases(
    scenario: Scenario,
    ctx: DrillContext,
    *,
    watch: StopWatch,
    recorder: Any,
    on_event: Callable[[Any], None],
    done: Collection[str] = (),
    completed: Collection[str] = (),
    stopped_before: str | None = None,
    total: int = 0,
    wrap: Callable[[Plan], Plan] = lambda p: p,
    before_step: Callable[[Step], None] | None = None,
    applied_at: Mapping[str, float] | None = None,
) -> DrillOutcome:
    """Run the scenario's phases, each planned when it starts; on a stop condition, skip
    to the failback. ``done``: phases an earlier attempt finished (``--resume``)."""
    from mr_failover.engine.executor import StepFailedError, execute

    offset = 0

    def emit(event: Any) -> None:
        index = event.index + offset
        on_event(dataclasses.replace(event, index=index, total=max(total, index)))

    def phase(key: str, spec: ScenarioStep, watched: bool) -> None:
        nonlocal offset
        if key in done:
            return
        base = {"phase": key, "action": spec.action, "title": spec.label()}
        ctx.write_note("drill-phase", {**base, "event": "start", "disruptive": disruptive(spec)})
        t0 = ctx.clock.monotonic()
        try:
            plan = build_phase(key, spec, ctx)
            if watched:
                plan = dataclasses.replace(
                    plan,
                    steps=tuple(
                        dataclasses.replace(s, action=Watched(s.action, watch))
                        for s in plan.steps
                        if s.action is not None
                    ),
                )

            def before(step: Step) -> None:
                if before_step is not None:
                    before_step(step)
                if watched:
                    watch.check()

            execute(
                wrap(plan),
                clock=ctx.clock,
                recorder=recorder,
                on_event=emit,
                completed=completed,
                before_step=before,
                applied_at=applied_at,
            )
        except BaseException as exc:
            seconds = round(ctx.clock.monotonic() - t0, 3)
            ctx.write_note(
                "drill-phase", {**base, "event": "failed", "seconds": seconds, "detail": str(exc)}
            )
            raise
        offset += len(plan.steps)
        if plan.params.get("fence"):
            ctx.write_note("drill-fence", {"phase": key, **plan.params["fence"]})
        seconds = round(ctx.clock.monotonic() - t0, 3)
        ctx.write_note(
            "drill-phase", {**base, "event": "done", "seconds": seconds, "steps": len(plan.steps)}
        )

    stopped = stopped_before
    if stopped is None:
        try:
            for key, spec in scenario.phases():
                if key.startswith("s"):
                    phase(key, spec, True)
        except StopConditionFiredError as exc:
            stopped = exc.condition
        except StepFailedError:
            if watch.fired is None:
                raise
            stopped = watch.fired
        if stopped is not None:
            ctx.write_note("drill-stop", {"condition": stopped})
    for key, spec in scenario.all_phases():
        if key.startswith("f"):
            phase(key, spec, False)
    return DrillOutcome(stopped)


# --- the drill under the engine's run lifecycle ------------------------------------------------


class DrillJob(Job):
    """A drill as a :class:`~mr_failover.engine.run.Job`: guard, lock, journal and
    release are the engine's; the phases, the steady state and the notes are the drill's.

    ``scenario`` is a built-in's name or a scenario file; a resumed run takes its own from
    the journal. A built-in's regions are decided from AWS (:func:`choose_builtin`) when
    the run is first planned, after the account guard, and kept in the plan's params: a
    resumed run re-builds the same scenario although the writer has moved since. The
    steady state is a precondition of a new run: checked before confirmation and again
    under the lock (the phases are planned under the lock anyway, each when it starts).
    Under the lock, before the first step, the state the drill may touch is recorded
    (:func:`observe_state`); the closing phases put it back and remove the canaries.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        approve: Callable[[str], bool] | None = None,
        observe: Callable[..., Any] | None = None,
        confirm_rerun: Callable[[str], bool] | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.approve = approve or (lambda _prompt: False)
        self.confirm_rerun = confirm_rerun or (lambda _prompt: False)
        self.observe = observe
        self.done: set[str] = set()
        self.stopped_before: str | None = None
        self.drill_plan: DrillPlan | None = None
        self.stability: tuple[StabilityFinding, ...] = ()
        self.params: dict[str, Any] = {}
        self._spec: Scenario | None = None
        # The status read a built-in was chosen from: the first steady-state check (before
        # the confirmation) uses it rather than reading again; under the lock it reads anew.
        self._report: Any = None

    @property
    def spec(self) -> Scenario:
        assert self._spec is not None, "planned first"
        return self._spec

    def resume_params(self, prior: RunRecord, given: Mapping[str, Any]) -> dict[str, Any]:
        return dict(prior.params)

    def setup(self, info: RunInfo) -> None:
        super().setup(info)
        params, topology = info.params, info.topology
        self.params = dict(params)
        name = str(params["scenario"])
        if name not in BUILTINS:
            self._spec = load_scenario(name, topology)
        elif info.prior is not None and "to" in info.prior.first_plan.get("params", {}):
            # What the first attempt decided from AWS (the writer has moved since).
            self.params |= {
                k: info.prior.first_plan["params"].get(k) for k in ("region", "to", "writer", "why")
            }
            self._spec = self._builtin()
        self.ctx = DrillContext(
            topology,
            info.factory,
            info.clock,
            info.run_id,
            endpoint_url=self.endpoint_url,
            approve=self.approve,
            confirm_rerun=self.confirm_rerun,
            observe=self.observe,
        )

    def _builtin(self) -> Scenario:
        p = self.params
        return builtin(
            str(p["scenario"]),
            self.info.topology,
            str(p["region"]),
            hold=float(p["hold"]),
            writer=p.get("writer"),
            target=p.get("to"),
            why=str(p.get("why") or ""),
        )

    def first_region(self) -> str | None:
        return None  # STS in the declared regions' order: a drill has no single target

    def plan(self) -> Plan:
        if self._spec is None:
            # A built-in: the writer and the target from AWS, once (after the guard).
            region = self.params.get("region")
            choice, self._report = choose_builtin(
                str(self.params["scenario"]),
                self.info.topology,
                self.info.factory,
                str(region) if region else None,
                to=self.params.get("to"),
                observe=self.observe,
            )
            self.params |= choice.params()
            self._spec = self._builtin()
        self.drill_plan = plan_drill(self.spec, self.ctx)
        self.stability = static_stability(self.drill_plan, self.info.topology)
        return self.drill_plan.as_plan(self.params)

    def check(self, plan: Plan) -> None:
        # A phase that would refuse as things stand (quota headroom), before anything runs.
        if self.info.prior is None and self.drill_plan is not None:
            refused = phase_refusal(self.drill_plan)
            if refused is not None:
                raise RefusedError(refused)
        # Steady state first: a drill must not start from, or hide, a real incident.
        observe = self.observe
        if self._report is not None:
            report, self._report = self._report, None
            observe = lambda *_a, **_k: report  # noqa: E731
        problems = (
            steady_state_problems(self.spec, self.ctx, observe) if self.info.prior is None else []
        )
        if problems:
            raise RefusedError(
                "refused: not in steady state (" + "; ".join(problems) + "); fix it before a drill"
            )

    def refusal(self, plan: Plan) -> str | None:
        """What a real run would refuse after this plan (the dry run says it), or None."""
        try:
            self.check(plan)
        except RefusedError as exc:
            return str(exc).removeprefix("refused: ")
        return None

    def recheck(self, shown: Plan, *, confirmed: bool) -> Plan:
        # Each phase is planned from fresh reads when it starts, under the lock; what
        # the whole drill relies on up front is the steady state, and for a built-in the
        # writer it was planned from: read them again.
        self.check(shown)
        planned = self.params.get("writer")
        if self.info.prior is None and "to" in self.params and planned is not None:
            from mr_failover.engine.run import PlanChangedError
            from mr_failover.resources.aurora import observed_writer

            writer, why = observed_writer(self.info.topology, self.info.factory)
            if writer != planned:
                now = f"now in {writer}" if writer else f"unknown now ({why})"
                raise PlanChangedError([f"the Aurora writer is {now}, not in {planned}"])
        return shown

    def begin(self, recorder: Journal) -> None:
        if self.info.prior is not None:
            self.done, self.stopped_before = self.ctx.load(read_records(self.info.run_id))
        else:
            topology = self.info.topology
            recorder.note(
                "drill-plan",
                scenario=self.spec.name,
                description=self.spec.description,
                rto_target=self.spec.rto_target(topology),
                rpo_target=self.spec.rpo_target(topology),
                static_stability=[f.to_json() for f in self.stability],
            )
            recorder.note("drill-steady", when="before", problems=[])
        self.ctx.write_note = lambda kind, fields: recorder.note(kind, **fields)
        if self.ctx.before is None:
            # What the failback must leave as it is now, read under the lock before the
            # first step (journaled: a resumed run restores the same).
            self.ctx.before, _ = observe_state(self.info.topology, self.info.factory, self.observe)
            recorder.note("drill-state", when="before", items=self.ctx.before)

    def execute(self, plan: Plan, ex: Execution) -> Finished:
        clock = self.info.clock
        started = clock.monotonic()
        watch = StopWatch(
            self.spec.stop_conditions, self.ctx, self.spec.watch_interval, self.observe
        )
        probes = self.info.topology.probes
        client = (
            SyntheticClient(probes, now=clock.time).start()
            if probes is not None and probes.global_url
            else None
        )
        try:
            result = self._phases(plan, ex, watch)
        finally:
            if client is not None:
                _journal_client(self.ctx, client.stop())
        after = steady_state_problems(self.spec, self.ctx, self.observe)
        self.ctx.write_note("drill-steady", {"when": "after", "problems": after})
        after_state, _ = observe_state(self.info.topology, self.info.factory, self.observe)
        self.ctx.write_note(
            "drill-state",
            {
                "when": "after",
                "items": after_state,
                "differences": state_differences(self.ctx.before or {}, after_state),
            },
        )
        outcome = "stopped" if result.stopped_by else "succeeded"
        return Finished(outcome, clock.monotonic() - started, result.stopped_by or "")

    def _phases(self, plan: Plan, ex: Execution, watch: StopWatch) -> DrillOutcome:
        return run_phases(
            self.spec,
            self.ctx,
            watch=watch,
            recorder=ex.recorder,
            on_event=ex.on_event,
            done=self.done,
            completed=ex.completed,
            stopped_before=self.stopped_before,
            total=len(plan.steps),
            wrap=ex.wrap,
            before_step=ex.before_step,
            applied_at=ex.applied_at,
        )

    def resume_command(self, run_id: str) -> str:
        return f"mr-failover drill {self.info.params['scenario']} --resume {run_id}"

    def left_behind(self) -> str:
        """The state an interrupted run leaves (:func:`describe_left_behind`)."""
        ctx = getattr(self, "ctx", None)
        return "not read (the run had not started)" if ctx is None else describe_left_behind(ctx)


def save_report(run_id: str) -> tuple[DrillReport, Path, Path]:
    """Build the drill's report from its journal and write it as Markdown, JSON and a
    self-contained HTML page with its timeline (0600), beside the journal."""
    import os

    from mr_failover import drill_html, drill_report, statedir
    from mr_failover.engine.journal import runs_dir

    records = read_records(run_id)
    report = drill_report.build(run_id, records)
    base = runs_dir() / run_id
    md_path, json_path = base.with_suffix(".report.md"), base.with_suffix(".report.json")
    html_path = base.with_suffix(".report.html")
    page = drill_html.render(report, records, earlier_drills(report))
    # Reports are 0600 like the journal (they name callers, hosts and resources).
    for path, text in (
        (md_path, drill_report.markdown(report)),
        (json_path, drill_report.to_json_text(report)),
        (html_path, page),
    ):
        with os.fdopen(statedir.create_private(path), "w") as report_file:
            report_file.write(text)
    return report, md_path, json_path


# How many earlier drills the HTML report's trend shows.
TREND_DRILLS = 12


def earlier_drills(report: DrillReport) -> list[dict[str, Any]]:
    """Trend entries (with ``run_id``) of the drills journaled here before ``report``'s,
    oldest first; a journal that cannot be read is left out."""
    from mr_failover import drill_report
    from mr_failover.engine.journal import list_runs

    out: list[dict[str, Any]] = []
    for run in list_runs():
        if run.command != "drill" or run.run_id == report.run_id:
            continue
        if run.started >= report.started or len(out) >= TREND_DRILLS:
            continue
        try:
            past = drill_report.build(run.run_id, read_records(run.run_id))
        except (KeyError, StopIteration, ValueError, TypeError, AttributeError, IndexError):
            continue
        out.append({"run_id": run.run_id, **drill_report.trend(past)})
    return list(reversed(out))


# --- what the synthetic client saw ---------------------------------------------------------


def _journal_client(ctx: DrillContext, samples: list[Sample]) -> None:
    """The synthetic client's figures (``drill-client``), and a ``drill-probe`` note at each
    change of what the users got (ok or failed, and the region that answered): the HTML
    page's probe lane; a few notes, not one per request."""
    last: tuple[bool, str | None] | None = None
    for s in samples:
        now = (s.ok, s.region)
        if now != last:
            ctx.write_note(
                "drill-probe",
                {
                    "t": s.t,
                    "ok": s.ok,
                    "region": s.region or "",
                    "detail": f"{s.latency_ms:.0f} ms",
                },
            )
            last = now
    ctx.write_note("drill-client", client_figures(samples))


# --- what an interrupted drill leaves behind ------------------------------------------------


def describe_left_behind(ctx: DrillContext) -> str:
    """The state an interrupted drill leaves, from fresh reads, in one line: drained
    regions, the writer, capacity and levers that differ from before the drill, canaries
    not removed yet (e.g. "eu-west-1 drained; writer in eu-central-1 (was eu-west-1);
    absorbers at take-over capacity: ...")."""
    try:
        now, report = observe_state(ctx.topology, ctx.factory, ctx.observe)
    except MrFailoverError as exc:
        return f"not read ({exc})"
    parts = [f"{r.name} {r.verdict}" for r in report.regions if r.verdict != "serving"]
    before = ctx.before or {}
    writer = now.get("writer", {}).get("value")
    if "writer" in now:
        was = before.get("writer", {}).get("value")
        moved = f" (was {was})" if was is not None and was != writer else ""
        parts.append(f"writer in {writer or 'unknown'}{moved}")
    diffs = [d for d in state_differences(before, now) if d["key"] != "writer"]
    capacity = [d for d in diffs if d["key"].split(":")[1] in ("ecs", "asg")]
    levers = [d for d in diffs if d not in capacity]
    if capacity:
        raised = all((d["after"] or 0) > (d["before"] or 0) for d in capacity)
        parts.append(
            ("absorbers at take-over capacity: " if raised else "capacity differs: ")
            + ", ".join(f"{d['label']} {d['after']} (was {d['before']})" for d in capacity)
        )
    if levers:
        parts.append(
            "differs from before: "
            + ", ".join(f"{d['label']} {d['after']} (was {d['before']})" for d in levers)
        )
    if ctx.canaries:
        parts.append(
            f"{len(ctx.canaries)} canary write(s) journaled, not removed yet (--resume or "
            "cleanup --run removes them)"
        )
    return "; ".join(parts) or "as before the drill"
