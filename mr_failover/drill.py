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

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mr_failover import faults
from mr_failover.aws import call
from mr_failover.engine.journal import Journal, RunRecord, read_records
from mr_failover.engine.plan import Clock, Plan, Step, StepAction
from mr_failover.engine.run import Execution, Finished, Job, RunInfo
from mr_failover.errors import AwsCallError, MrFailoverError, RefusedError, UsageError
from mr_failover.faults import FisExperiment as FisExperiment
from mr_failover.faults import Outage
from mr_failover.operations.replication import dynamodb_item_key

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
]
# Steps that move traffic, the database or break something: RTO starts at the first one.
DISRUPTIVE: frozenset[str] = frozenset({"drain", "promote", "fault", "health-check"})
_NEEDS_REGION: frozenset[str] = frozenset(
    {"drain", "undrain", "promote", "health-check", "fault", "fault-stop", "verify", "fence"}
)
# Key suffix of the fence phase a failback gets after an unplanned failover (phases()).
IMPLICIT_FENCE = ".fence"
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
        return f"{self.action} {self.region}"


class StopCondition(_M):
    """An alarm in ALARM state, or a region whose status verdict turns bad, stops the drill."""

    alarm: str | None = None
    region: str | None = None  # the alarm's region
    status: str | None = None  # a region whose status verdict is watched
    verdicts: tuple[Literal["drained", "degraded", "unreachable"], ...] = ("unreachable",)

    @model_validator(mode="after")
    def _one(self) -> StopCondition:
        if (self.alarm is None) == (self.status is None):
            raise ValueError("a stop condition is either 'alarm' (with 'region') or 'status'")
        if self.alarm is not None and not self.region:
            raise ValueError("an alarm stop condition needs the alarm's 'region'")
        return self

    def label(self) -> str:
        if self.alarm:
            return f"CloudWatch alarm {self.alarm} ({self.region}) in ALARM"
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


def _other_region(topology: Topology, region: str) -> str:
    others = [n for n in topology.regions if n != region]
    with_db = [n for n in others if topology.regions[n].aurora is not None]
    if not others:
        raise UsageError("a drill needs at least two regions in the topology")
    return (with_db or others)[0]


def builtin(name: str, topology: Topology, region: str, *, hold: float = 60.0) -> Scenario:
    """``evacuate`` (drain R, move the writer off R, verify, hold, fail back) and
    ``db-failover`` (switch the writer from R to another region, verify, hold, back)."""
    if region not in topology.regions:
        raise UsageError(
            f"unknown region {region!r}; the topology declares {', '.join(topology.regions)}"
        )
    target = _other_region(topology, region)
    holds_writer = topology.writer_region() == region
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
            f"{region} to {target}, hold, and fail back.",
            stop_conditions=watch,
            steps=tuple(steps),
            failback=tuple(back),
        )
    if name == "db-failover":
        if topology.regions[region].aurora is None or topology.regions[target].aurora is None:
            raise UsageError(f"db-failover needs Aurora in {region} and {target}")
        return Scenario(
            name=f"db-failover {region}",
            description=f"Switch the Aurora writer from {region} to {target}, hold, switch back.",
            stop_conditions=watch,
            steps=(
                ScenarioStep(action="promote", region=target, mode="switchover"),
                ScenarioStep(action="verify", region=target),
                ScenarioStep(action="wait", seconds=hold),
            ),
            failback=(ScenarioStep(action="promote", region=region, mode="switchover"),),
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
    # key -> fields of the journal note; prefilled from the journal on --resume.
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)
    write_note: Callable[[str, dict[str, Any]], None] = lambda _k, _f: None

    def mark(self, key: str, **fields: Any) -> None:
        measure = fields.pop("kind", None)
        record = {"key": key, "t": round(self.clock.time(), 3), "measure": measure, **fields}
        self.marks[key] = record
        self.write_note("drill-measure", record)


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
                item = {**key, "mr_failover_canary": {"S": self.ctx.run_id}}
                call(client, "put_item", TableName=table, Item=item)
                entry |= {"written": True, "item_key": key}
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

    def apply(self) -> None:
        """Nothing to change: the check is the wait."""

    def _problems(self) -> list[str]:
        from mr_failover.resources.route53 import observe_region_checks
        from mr_failover.resources.route53_steps import ROUTE53_REGION

        topology, factory = self.ctx.topology, self.ctx.factory
        spec = topology.regions[self.region]
        problems: list[str] = []
        r53 = factory.client("route53", ROUTE53_REGION)
        for hc in observe_region_checks(r53, spec.traffic):
            if hc.effective_healthy is not True:
                problems.append(f"health check {hc.name} not healthy")
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
        """A marked write in the target's first table, removed at once; None when it took."""
        tables = self.ctx.topology.regions[self.region].dynamodb_tables
        if not tables:
            return None
        client = self.ctx.factory.client("dynamodb", self.region)
        marker = f"{CANARY_PREFIX}#{self.ctx.run_id}#{self.key}#write"
        try:
            key = dynamodb_item_key(client, tables[0], marker)
            call(client, "put_item", TableName=tables[0], Item={**key, "x": {"S": "canary"}})
            call(client, "delete_item", TableName=tables[0], Key=key)
        except MrFailoverError as exc:
            return f"canary write to {tables[0]} failed: {exc}"
        return None

    def _lost_canaries(self) -> tuple[int, int]:
        """Cut-over canaries written in the old writer's region: (written, not in target)."""
        written = lost = 0
        client = self.ctx.factory.client("dynamodb", self.region)
        for mark in self.ctx.marks.values():
            if mark.get("measure") != "cutover" or mark.get("target") != self.region:
                continue
            for canary in mark.get("canaries", []):
                if not canary.get("written"):
                    continue
                written += 1
                try:
                    out = call(
                        client,
                        "get_item",
                        TableName=canary["table"],
                        Key=canary["item_key"],
                        ConsistentRead=True,
                    )
                    if "Item" not in out:
                        lost += 1
                    else:
                        call(
                            client, "delete_item", TableName=canary["table"], Key=canary["item_key"]
                        )
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
        )
        return True

    def state(self) -> str:
        return self.last or "serving, writer here, canary write accepted"


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
    """The live writer region, read from the target (it answers when the writer does not)."""
    spec = ctx.topology.regions[target].aurora
    if spec is None or spec.global_cluster is None:
        return ctx.topology.writer_region()
    from mr_failover.resources.aurora import observe_global_cluster

    try:
        g = observe_global_cluster(ctx.factory.client("rds", target), spec.global_cluster)
    except MrFailoverError:
        return ctx.topology.writer_region()
    return g.writer_region


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
    elif spec.action == "undrain":
        from mr_failover.operations.drain import plan_undrain

        plan = plan_undrain(topology, factory, region, clock=clock)
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
    else:  # verify
        steps = [
            _drill_step(
                f"{key}:serving",
                f"verify {region} serves traffic, holds the writer and takes a write",
                "drill",
                "VerifyServing",
                region,
                ServingCheck(ctx, f"{key}:serving", region),
                timeout=900.0,
                poll=1.0,
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
    out = []
    for key, spec in scenario.phases():
        try:
            out.append(PlannedPhase(key, spec, build_phase(key, spec, ctx, planning=True)))
        except MrFailoverError as exc:
            out.append(PlannedPhase(key, spec, None, str(exc)))
    return DrillPlan(scenario, tuple(out))


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
    for key, spec in scenario.phases():
        if key.startswith("f"):
            phase(key, spec, False)
    return DrillOutcome(stopped)


# --- the drill under the engine's run lifecycle ------------------------------------------------


class DrillJob(Job):
    """A drill as a :class:`~mr_failover.engine.run.Job`: guard, lock, journal and
    release are the engine's; the phases, the steady state and the notes are the drill's.

    ``scenario`` is a built-in's name or a scenario file; a resumed run takes its own from
    the journal. The steady state is a precondition of a new run: checked before
    confirmation and again under the lock (the phases are planned under the lock anyway,
    each when it starts).
    """

    def __init__(
        self, *, endpoint_url: str | None = None, approve: Callable[[str], bool] | None = None
    ) -> None:
        self.endpoint_url = endpoint_url
        self.approve = approve or (lambda _prompt: False)
        self.done: set[str] = set()
        self.stopped_before: str | None = None
        self.drill_plan: DrillPlan | None = None
        self.stability: tuple[StabilityFinding, ...] = ()

    def resume_params(self, prior: RunRecord, given: Mapping[str, Any]) -> dict[str, Any]:
        return dict(prior.params)

    def setup(self, info: RunInfo) -> None:
        super().setup(info)
        params, topology = info.params, info.topology
        name = str(params["scenario"])
        if name in BUILTINS:
            if not params.get("region"):
                raise UsageError(f"the built-in drill {name} needs --region")
            self.spec = builtin(name, topology, str(params["region"]), hold=float(params["hold"]))
        else:
            self.spec = load_scenario(name, topology)
        self.ctx = DrillContext(
            topology,
            info.factory,
            info.clock,
            info.run_id,
            endpoint_url=self.endpoint_url,
            approve=self.approve,
        )

    def first_region(self) -> str | None:
        return None  # STS in the declared regions' order: a drill has no single target

    def plan(self) -> Plan:
        self.drill_plan = plan_drill(self.spec, self.ctx)
        self.stability = static_stability(self.drill_plan, self.info.topology)
        return self.drill_plan.as_plan(self.info.params)

    def check(self, plan: Plan) -> None:
        # Steady state first: a drill must not start from, or hide, a real incident.
        problems = steady_state_problems(self.spec, self.ctx) if self.info.prior is None else []
        if problems:
            raise RefusedError(
                "refused: not in steady state (" + "; ".join(problems) + "); fix it before a drill"
            )

    def recheck(self, shown: Plan, *, confirmed: bool) -> Plan:
        # Each phase is planned from fresh reads when it starts, under the lock; what
        # the whole drill relies on up front is the steady state: read it again.
        self.check(shown)
        return shown

    def begin(self, recorder: Journal) -> None:
        if self.info.prior is not None:
            for rec in read_records(self.info.run_id):
                if rec.get("type") != "note":
                    continue
                if rec.get("kind") == "drill-measure":
                    self.ctx.marks[rec["key"]] = rec
                elif rec.get("kind") == "drill-phase" and rec.get("event") == "done":
                    self.done.add(rec["phase"])
                elif rec.get("kind") == "drill-stop":
                    self.stopped_before = rec["condition"]
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

    def execute(self, plan: Plan, ex: Execution) -> Finished:
        clock = self.info.clock
        started = clock.monotonic()
        watch = StopWatch(self.spec.stop_conditions, self.ctx, self.spec.watch_interval)
        result = run_phases(
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
        after = steady_state_problems(self.spec, self.ctx)
        self.ctx.write_note("drill-steady", {"when": "after", "problems": after})
        outcome = "stopped" if result.stopped_by else "succeeded"
        return Finished(outcome, clock.monotonic() - started, result.stopped_by or "")

    def resume_command(self, run_id: str) -> str:
        return f"mr-failover drill {self.info.params['scenario']} --resume {run_id}"


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
