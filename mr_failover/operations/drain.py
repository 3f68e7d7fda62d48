"""``drain`` / ``undrain``: move a region's traffic away, and back, with its topology's lever.

Drain first checks, from a fresh read of the other regions' traffic and compute
(:func:`mr_failover.status.observe`, narrowed to ``ABSORBER_SECTIONS``), that at least
one of them serves traffic and can absorb the drained region's load; it refuses
otherwise, because Route 53 answers as if every record were healthy when all are
unhealthy, and treats weight 0 everywhere as "all eligible" (AWS-FACTS.md), so
draining the last serving region would not drain it. The plan then scales the absorbing
regions up to ``takeover_desired`` (ECS services, Auto Scaling groups; recorded in the
plan's params, which the journal keeps), shifts traffic with ``traffic.drain_lever``
(health check inversion, or weight 0 on the region's weighted records), waits for Route 53
to treat the region as out and for the records' TTL, and verifies.

Undrain restores what the last successful drain of that region recorded in this machine's
journal: the lever (inversion cleared; weights and the traffic dial set back to what the
drain found before it changed them), waits the TTL, then scales the other regions back to
the counts the drain recorded, unless someone changed them since. With no such record it
says what it cannot know (the weights go to the topology's declared ``weight``, the
capacity of the other regions is left as it is) rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from mr_failover import status
from mr_failover.aws import call
from mr_failover.engine import journal
from mr_failover.engine.plan import Clock, Plan, Step, Wait
from mr_failover.errors import MrFailoverError, RefusedError, RegionUnreachableError, UsageError
from mr_failover.resources import arc
from mr_failover.resources import globalaccelerator as ga
from mr_failover.resources.arc_steps import plan_routing_controls
from mr_failover.resources.aurora import observed_writer
from mr_failover.resources.capacity import SCALE_UP_QUOTAS, CapacityStatus, shortfall
from mr_failover.resources.compute_steps import (
    AAS,
    asg_key,
    asg_limits,
    asg_min_step,
    asg_step,
    ecs_key,
    ecs_min_step,
    ecs_resource_id,
    ecs_scalable_target,
    ecs_step,
    scaling_notes,
)
from mr_failover.resources.dns_steps import answers_step
from mr_failover.resources.probes import ProbeResult
from mr_failover.resources.route53 import (
    METRICS_REGION,
    HealthCheckFinding,
    find_zone_id,
    observe_region_checks,
    require_lever_moves_traffic,
)
from mr_failover.resources.route53_steps import (
    ROUTE53_REGION,
    TrafficShift,
    describe,
    inversion_step,
    read_record_set,
    ttl_wait_step,
    weight_step,
)

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.resources.arc_steps import RoutingControlPlan
    from mr_failover.topology import Record, Region, Topology

Observe = Callable[..., status.StatusReport]
# How long the other regions' read may take before a region counts as not answering.
OBSERVE_DEADLINE = 8.0
# What judge_absorbers looks at. Only these are read: the data stores, API endpoints,
# readiness items and CloudFront, which status also reads, cost drain most of its
# overhead (bench/bench_arc.py) and decide nothing here.
ABSORBER_SECTIONS: frozenset[status.Readable] = frozenset(
    {"traffic", "routing_controls", "compute", "accelerator"}
)
# Read besides, when the topology asks for capacity headroom (``capacity:``, the opt-in
# status follows: its reads need Service Quotas permissions) and the drain scales up.
QUOTA_SECTION: status.Readable = "capacity"


# The application probes (topology ``probes``): the other regions' own URLs are asked
# with the reads above; one that fails blocks its region (what clients would get there).
PROBE_SECTION: status.Readable = "probes"


def _absorber_probes(topology: Topology, others: Sequence[str]) -> Topology:
    """``topology`` with its probes narrowed to the other regions' own URLs (the drained
    region's may not answer, and the global URL says nothing of an absorber); itself
    when none of them has one."""
    spec = topology.probes
    if spec is None:
        return topology
    urls = {r: u for r, u in spec.regions.items() if r in others}
    if not urls:
        return topology
    narrowed = spec.model_copy(update={"global_url": None, "regions": urls})
    return topology.model_copy(update={"probes": narrowed})


class QuotaShortError(RefusedError):
    """A region that would absorb the traffic lacks the quota headroom for its scale-up.

    ``why``: the shortfalls and their fix, without drain's own override (a drill, which
    has none, words its refusal from it)."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(f"refused: {why}, or drain with --no-scale-up")


@dataclass(frozen=True)
class Absorber:
    """Whether a region can take a drained region's traffic, and if not, why."""

    region: str
    blockers: tuple[str, ...]
    # What could not be read but does not block (the plan says so).
    unverified: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.blockers


@dataclass(frozen=True)
class RecordedScaleUp:
    """What a drain run scaled up: region -> service key -> (from, to).

    ``minimums``: the autoscaling minimums it raised, in the same shape.
    """

    run_id: str
    counts: Mapping[str, Mapping[str, tuple[int, int]]]
    minimums: Mapping[str, Mapping[str, tuple[int, int]]] = field(default_factory=dict)


def _known(topology: Topology, region: str) -> Region:
    if region not in topology.regions:
        raise UsageError(
            f"unknown region {region!r}; the topology declares {', '.join(topology.regions)}"
        )
    return topology.regions[region]


def judge_absorbers(
    topology: Topology, report: status.StatusReport, *, scale_up: bool
) -> tuple[Absorber, ...]:
    """For each observed region, what stops it from absorbing more traffic right now.

    Only traffic and compute count: a region serves when Route 53 sends it traffic and
    its compute runs. Aurora, DynamoDB and S3 do not move traffic (drain does not promote
    the database), so plan_drain does not read them (``ABSORBER_SECTIONS``); ``status``
    shows them. With ``scale_up``, a service below its ``takeover_desired`` is no
    blocker: the plan scales it and waits for it to run.
    """
    out = []
    for rs in report.regions:
        spec = topology.regions[rs.name]
        blockers: list[str] = []
        unverified: list[str] = []
        for err in rs.errors:
            if err.section == "traffic" and err.unreachable and _controls_on(rs):
                # Route 53's API (us-east-1) is down, not the region: its routing controls,
                # read through ARC's data plane, say that it takes traffic.
                unverified.append(
                    f"its health checks and records were not read ({err.call} in {err.region} "
                    "did not answer); its routing controls are ON (ARC data plane)"
                )
            elif err.section in ("traffic", "compute", "accelerator"):
                blockers.append(err.message)
        if rs.verdict == "unreachable" and not blockers:
            blockers.append("the region is not answering")
        for p in report.global_found.get(PROBE_SECTION, ()):
            if isinstance(p, ProbeResult) and p.target == rs.name and not p.ok:
                blockers.append(f"its application probe {p.url} failed: {p.error or p.describe()}")
        if not (
            spec.traffic.health_checks
            or spec.traffic.records
            or spec.global_accelerator
            or spec.traffic.routing_controls
        ):
            blockers.append("no health check or record in the topology sends it traffic")
        if rs.traffic is not None:
            for hc in rs.traffic.health_checks:
                if hc.effective_healthy is not True:
                    blockers.append(describe(hc))
            for rec in rs.traffic.records:
                if not rec.found:
                    blockers.append(f"record {rec.name} ({rec.set_identifier}) not found")
            weighted = [r for r in rs.traffic.records if r.found and r.routing_policy == "weighted"]
            if weighted and all(r.weight == 0 for r in weighted):
                blockers.append("its weighted records are at weight 0 (drained)")
        if rs.traffic is not None:
            for rc in rs.traffic.routing_controls:
                # OFF drains the region whatever its lever; unknown only matters when the
                # routing controls are the lever that will have to bring traffic back.
                if rc.state == "Off" or (
                    rc.state is None and spec.traffic.drain_lever == "routing_control"
                ):
                    blockers.append(f"its routing control {rc.label} is {rc.state_word}")
        if rs.accelerator is not None:
            group = rs.accelerator.group
            if group is None:
                blockers.append("it has no Global Accelerator endpoint group")
            elif group.dial == 0:
                blockers.append("its Global Accelerator traffic dial is at 0% (drained)")
        if rs.compute is not None:
            for svc in rs.compute.services:
                scalable = scale_up and svc.takeover_desired and svc.desired < svc.takeover_desired
                if not svc.found:
                    blockers.append(f"{svc.kind} {svc.name} not found")
                elif scalable:
                    continue
                elif svc.desired == 0:
                    blockers.append(f"{svc.kind} {svc.name} is scaled to 0")
                elif svc.running < svc.desired:
                    blockers.append(f"{svc.kind} {svc.name} runs {svc.running} of {svc.desired}")
        out.append(Absorber(rs.name, tuple(blockers), tuple(unverified)))
    return tuple(out)


def _controls_on(rs: status.RegionStatus) -> bool:
    """The region has routing controls, all read ON through the data plane."""
    controls = rs.traffic.routing_controls if rs.traffic is not None else ()
    return bool(controls) and all(rc.state == "On" for rc in controls)


def _control_plane_note(lever: str) -> str:
    if lever == "routing_control":
        return (
            "Route 53 ARC UpdateRoutingControlStates goes to the cluster's data plane: its "
            "five regional endpoints, tried in random order until one answers, so no "
            f"us-east-1 call is needed. The safety rules are read from the ARC control plane "
            f"({arc.CONTROL_PLANE_REGION}), or from this machine's cache when it does not answer."
        )
    if lever == "traffic_dial":
        return (
            "Global Accelerator UpdateEndpointGroup is a control-plane call served from "
            f"{ga.GA_REGION} only (for every region); when that API does not answer, the "
            "edge network keeps routing with the dials last set."
        )
    api = "UpdateHealthCheck" if lever == "health_check_inversion" else "ChangeResourceRecordSets"
    return f"Route 53 {api} is a control-plane call served from {ROUTE53_REGION}."


def _undo(command: str, region: str) -> str:
    return f"mr-failover {command} --region {region}"


def _zone_id(client: Any, record: Record, cache: dict[str, str]) -> str:
    if record.hosted_zone_id:
        return record.hosted_zone_id
    key = f"{record.zone}|{'private' if record.private_zone else 'public'}"
    if key not in cache:
        cache[key] = find_zone_id(client, record.zone, private=record.private_zone)
    return cache[key]


def _weighted(spec: Region) -> list[Record]:
    return [r for r in spec.traffic.records if r.routing_policy == "weighted"]


def _observe_checks(client: Any, spec: Region, cloudwatch: Any) -> list[HealthCheckFinding]:
    return observe_region_checks(client, spec.traffic, cloudwatch=cloudwatch)


def _traffic_steps(
    topology: Topology,
    factory: ClientSource,
    region: str,
    *,
    drain: bool,
    clock: Clock,
    dial: DialMemo | None = None,
    controls: ControlsMemo | None = None,
    weights: WeightsMemo | None = None,
) -> list[Step]:
    """The lever's steps for ``region`` (drain or restore), then the TTL wait."""
    spec = topology.regions[region]
    if spec.traffic.drain_lever == "traffic_dial":
        return _dial_steps(topology, factory, region, drain=drain, memo=dial or DialMemo())
    lever = spec.traffic.drain_lever
    undo = _undo("undrain" if drain else "drain", region)
    shift = TrafficShift()
    steps: list[Step] = []
    if lever == "routing_control":
        memo = controls or ControlsMemo()
        found = plan_routing_controls(
            topology,
            factory,
            region,
            on=not drain,
            overrides=memo.overrides,
            undo=undo,
            clock=clock,
        )
        memo.found = found
        steps.append(shift.track(found.step))
    else:
        client = factory.client("route53", ROUTE53_REGION)
        # The checks' health (CloudWatch, us-east-1) is read to invert them, or before
        # restoring weights; draining by weight reads none.
        reads_health = lever == "health_check_inversion" or not drain
        cloudwatch = factory.client("cloudwatch", METRICS_REGION) if reads_health else None
        try:
            steps += _route53_lever_steps(
                client,
                cloudwatch,
                spec,
                region,
                drain=drain,
                undo=undo,
                shift=shift,
                weights=weights or WeightsMemo(),
            )
        except RegionUnreachableError as exc:
            raise _route53_unreachable(exc, region, lever, drain=drain) from None
    moved = tuple(s.id for s in steps)
    # The DNS answers must follow (the zone's name servers asked directly); the TTL wait
    # then starts when they changed, and its verification asks them again.
    confirm = answers_step(topology, region, drained=drain, clock=clock, timeout=_dns_timeout(spec))
    if confirm is not None:
        assert confirm.action is not None
        shift.actions.append(confirm.action)
        steps.append(confirm)
    ttl = max((r.ttl for r in spec.traffic.records), default=0)
    if ttl > 0:
        wait = ttl_wait_step(shift, ttl=ttl, region=region, clock=clock)
        # The engine times the wait from when this run moved the traffic (journaled), so
        # a resumed run waits the rest of the TTL, not all of it and not none of it.
        after = moved + ((confirm.id,) if confirm is not None else ())
        steps.append(replace(wait, wait=Wait(float(ttl), after=after)))
    return steps


def _dns_timeout(spec: Region) -> float:
    """How long the answers may take to follow: the checks' evaluation twice over, plus
    a minute of propagation to every Route 53 name server (as the inversion step)."""
    cycles = [c.request_interval * c.failure_threshold * 2 for c in spec.traffic.health_checks]
    return max(cycles, default=60.0) + 60.0


def _route53_unreachable(
    exc: RegionUnreachableError, region: str, lever: str, *, drain: bool
) -> RegionUnreachableError:
    """The one line for a Route 53 lever whose API (us-east-1's control plane) is down."""
    command = "drain" if drain else "undrain"
    return RegionUnreachableError(
        exc.region,
        exc.call,
        f"no answer from Route 53's API, a control plane served only from {ROUTE53_REGION}: "
        f"drain_lever {lever} cannot {command} {region} without it; nothing was changed",
        "use drain_lever: routing_control, whose ARC data plane needs no "
        f"{ROUTE53_REGION} call, or wait until {ROUTE53_REGION} answers",
    )


def _route53_lever_steps(
    client: Any,
    cloudwatch: Any,
    spec: Region,
    region: str,
    *,
    drain: bool,
    undo: str,
    shift: TrafficShift,
    weights: WeightsMemo,
) -> list[Step]:
    """Health check inversion or weights: Route 53 control-plane steps, read at plan time."""
    steps: list[Step] = []
    if spec.traffic.drain_lever == "health_check_inversion":
        if not spec.traffic.health_checks:
            raise UsageError(
                f"{region} has no health checks to invert (regions.{region}.traffic); "
                "add them or use drain_lever: weight"
            )
        checks = _observe_checks(client, spec, cloudwatch)
        if drain:
            require_lever_moves_traffic(client, region, spec, checks)
        for hc, seen in zip(spec.traffic.health_checks, checks, strict=True):
            # A disabled check is inverted like any other: Route 53 then treats it as
            # unhealthy (rule route53-disabled-inverted); its checkers do not run.
            if seen.raw_healthy is False and not seen.inverted and not seen.disabled:
                if drain:
                    raise RefusedError(
                        f"refused: {describe(seen)}: Route 53 already sends {region} no "
                        "traffic, and inverting would make it look healthy and send traffic "
                        "to it"
                    )
                raise RefusedError(
                    f"refused: {describe(seen)}: {region}'s endpoint is failing, so "
                    "undraining would bring no traffic back; fix the region first"
                )
            step = inversion_step(
                client, hc, seen.id, region=region, inverted=drain, cloudwatch=cloudwatch
            )
            steps.append(shift.track(replace(step, undo=undo)))
    else:
        records = _weighted(spec)
        if not records:
            raise UsageError(f"{region} has no weighted records (regions.{region}.traffic)")
        if not drain:
            for seen in _observe_checks(client, spec, cloudwatch):
                if seen.raw_healthy is False:
                    raise RefusedError(
                        f"refused: {describe(seen)}: {region}'s endpoint is failing, so "
                        "undraining would bring no traffic back; fix the region first"
                    )
        zones: dict[str, str] = {}
        unknown: list[str] = []
        for rec in records:
            assert rec.weight is not None  # the topology requires it on weighted records
            label = weight_label(rec)
            recorded = (weights.restore_to or {}).get(label)
            if not drain and recorded is None and rec.weight == 0:
                raise UsageError(
                    f"the topology declares weight 0 for {rec.name} ({rec.set_identifier}) and "
                    "no drain recorded its weight before it: undrain restores the declared "
                    f"weight; set regions.{region}.traffic.records[].weight to the weight to "
                    "restore"
                )
            if not drain and recorded is None:
                unknown.append(label)
            weight = 0 if drain else (recorded if recorded is not None else rec.weight)
            zone_id = _zone_id(client, rec, zones)
            # Read it while planning: a missing record, or Route 53's API not answering,
            # stops the plan before anything (the other regions' scale-up) has changed.
            found = read_record_set(client, zone_id, rec)
            if found is None:
                raise UsageError(
                    f"record {rec.name} ({rec.set_identifier}) not found in zone {zone_id}; "
                    f"check regions.{region}.traffic.records"
                )
            if drain and found.get("Weight") is not None:
                weights.before[label] = int(found["Weight"])
            weights.to[label] = weight
            step = weight_step(
                client,
                zone_id,
                rec,
                region=region,
                weight=weight,
                undo=undo,
            )
            steps.append(shift.track(step))
        if unknown:
            weights.notes.append(
                f"no drain of {region} in this machine's journal recorded the weights before "
                f"it: what they were is unknown, so {', '.join(unknown)} go back to the "
                f"topology's declared weight (regions.{region}.traffic.records[].weight)"
            )
    return steps


def weight_label(record: Record) -> str:
    """How a drain records a weighted record's weight: ``name (set identifier)``."""
    return f"{record.name} ({record.set_identifier})"


@dataclass
class WeightsMemo:
    """The weight lever: weights found before a drain, set, and to restore (undrain)."""

    before: dict[str, int] = field(default_factory=dict)
    to: dict[str, int] = field(default_factory=dict)
    restore_to: Mapping[str, int] | None = None  # undrain: from the drain's record
    notes: list[str] = field(default_factory=list)


@dataclass
class ControlsMemo:
    """The routing-control lever: the overrides asked for, and what planning found."""

    overrides: tuple[str, ...] = ()
    found: RoutingControlPlan | None = None

    def notes(self) -> list[str]:
        if self.found is None:
            return []
        # The overrides themselves are shown apart, in red, from the plan's params.
        return list(self.found.notes)

    def params(self) -> dict[str, Any]:
        if self.found is None:
            return {}
        params: dict[str, Any] = {"routing_controls_before": self.found.before}
        if self.found.overrides:
            params["override_safety_rules"] = [o.to_json() for o in self.found.overrides]
        return params


@dataclass
class DialMemo:
    """The traffic dial as the plan found it (``before``), and what it sets (``to``)."""

    before: float | None = None
    to: float | None = None
    restore_to: float | None = None  # undrain: the value to go back to (None: topology's)
    notes: list[str] = field(default_factory=list)


def _dial_steps(
    topology: Topology, factory: ClientSource, region: str, *, drain: bool, memo: DialMemo
) -> list[Step]:
    """Drain: the region's dial to 0. Undrain: back to ``memo.restore_to`` or the topology's."""
    spec = topology.regions[region]
    if topology.global_accelerator is None or spec.global_accelerator is None:
        raise UsageError(
            f"drain_lever: traffic_dial needs global_accelerator at the top level and in "
            f"regions.{region}"
        )
    client = factory.client("globalaccelerator", ga.GA_REGION)
    found = ga.observe_accelerator(client, topology.global_accelerator)
    group = found.group(region, spec.global_accelerator.endpoint_group_arn)
    if group is None:
        raise UsageError(
            f"Global Accelerator {found.name} has no endpoint group in {region}; create it or "
            f"set regions.{region}.global_accelerator.endpoint_group_arn"
        )
    memo.before = group.dial
    declared = float(spec.global_accelerator.traffic_dial)
    if drain:
        target = 0.0
        # "when you change a traffic dial, the updated setting applies to only new
        # connections. Existing connections are not terminated" ("Use traffic dials to
        # adjust traffic flow to Regions", AWS Global Accelerator Developer Guide,
        # https://docs.aws.amazon.com/global-accelerator/latest/dg/about-endpoint-groups-traffic-dial.html).
        memo.notes.append(
            f"the traffic dial moves new connections only: connections already open to "
            f"{region} stay there until the clients or the endpoints close them"
        )
        if group.dial == 0:
            memo.notes.append(
                f"the traffic dial of {region} is already at 0%: nothing to drain there; "
                f"undrain restores the topology's traffic_dial ({declared:g}%)"
            )
    else:
        if group.endpoints and group.healthy == 0:
            raise RefusedError(
                f"refused: no endpoint of {region}'s endpoint group is healthy (0 of "
                f"{group.endpoints}), so undraining would bring no traffic back; fix the "
                "region first"
            )
        target = memo.restore_to if memo.restore_to else declared
        if target == 0:
            raise UsageError(
                f"the topology declares traffic_dial 0 for {region} and no drain recorded the "
                f"dial before it; set regions.{region}.global_accelerator.traffic_dial"
            )
    memo.to = target
    undo = _undo("undrain" if drain else "drain", region)
    return [
        ga.dial_step(
            client,
            group_arn=group.arn,
            region=region,
            dial=target,
            previous=group.dial,
            undo=undo,
        )
    ]


def _recorded_drains(region: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(run id, plan params) of this machine's successful drains of ``region``, newest
    first, back to its newest successful undrain (which ended what they recorded)."""
    for run in journal.list_runs():
        if run.params.get("region") != region or run.outcome != "succeeded":
            continue
        if run.command == "undrain":
            return
        if run.command != "drain":
            continue
        # The first plan of the run: a resumed attempt re-plans from already-changed state.
        yield run.run_id, run.first_plan.get("params") or {}


def last_dial(region: str) -> tuple[str, float] | None:
    """(run id, dial before the drain) of the newest successful drain of ``region``.

    None when there is none, when it recorded no dial (it found the dial at 0 already),
    or when a successful undrain came after it.
    """
    for run_id, params in _recorded_drains(region):
        before = params.get("dial_before")
        return (run_id, float(before)) if before else None
    return None


def last_weights(region: str) -> tuple[str, dict[str, int]] | None:
    """(run id, weights before the drain) of the newest successful drain of ``region``.

    None when there is none, when it recorded no weights (not the weight lever, or a drain
    from before weights were recorded), or when a successful undrain came after it.
    """
    for run_id, params in _recorded_drains(region):
        before = params.get("weights_before")
        return (run_id, {str(k): int(v) for k, v in before.items()}) if before else None
    return None


def plan_drain(
    topology: Topology,
    factory: ClientSource,
    region: str,
    *,
    scale_up: bool = True,
    clock: Clock,
    observe: Observe = status.observe,
    override_safety_rules: Sequence[str] = (),
) -> Plan:
    """The plan for ``drain --region region``; refuses when no other region can absorb."""
    spec = _known(topology, region)
    others = [n for n in topology.regions if n != region]
    quotas = scale_up and topology.capacity is not None
    sections = ABSORBER_SECTIONS | ({QUOTA_SECTION} if quotas else set())
    probed = _absorber_probes(topology, others)
    if probed is not topology:
        sections |= {PROBE_SECTION}
    # One concurrent read of every other region (status.observe), quotas and the other
    # regions' application probes included.
    report = observe(probed, factory, regions=others, sections=sections, deadline=OBSERVE_DEADLINE)
    verdicts = judge_absorbers(topology, report, scale_up=scale_up)
    absorbers = [a for a in verdicts if a.ok]
    if not absorbers:
        why = "; ".join(f"{a.region}: {', '.join(a.blockers)}" for a in verdicts)
        raise RefusedError(
            f"refused: draining {region} would leave no region able to serve its traffic "
            f"({why}); fix or undrain another region first (mr-failover undrain --region R)"
        )
    quota_notes = _require_quota_headroom(report, absorbers, region) if quotas else []

    steps: list[Step] = []
    previous: dict[str, dict[str, tuple[int, int]]] = {}
    minimums: dict[str, dict[str, tuple[int, int]]] = {}
    notes: list[str] = [
        "regions taking the traffic: " + ", ".join(a.region for a in absorbers),
    ]
    if scale_up:
        for absorber in absorbers:
            found = report.region(absorber.region)
            steps += _scale_up_steps(
                topology, factory, absorber.region, found, region, previous, minimums, notes
            )
    dial = DialMemo()
    weights = WeightsMemo()
    controls = controls_memo(spec, region, override_safety_rules)
    steps += _traffic_steps(
        topology,
        factory,
        region,
        drain=True,
        clock=clock,
        dial=dial,
        controls=controls,
        weights=weights,
    )

    lever = spec.traffic.drain_lever
    notes += dial.notes
    notes += controls.notes()
    notes.append(_control_plane_note(lever))
    if previous:
        notes.append(
            "ECS UpdateService and Auto Scaling SetDesiredCapacity go to the control plane of "
            "the region they scale; undrain scales back to the recorded counts."
        )
    if minimums:
        notes.append(
            "autoscaling minimums (Application Auto Scaling MinCapacity, Auto Scaling MinSize) "
            "are raised to the take-over counts so that scaling policies cannot scale the "
            "take-over back in; undrain restores the recorded minimums."
        )
    notes += quota_notes
    writer_note = _writer_note(topology, factory, region, others)
    if writer_note:
        notes.append(writer_note)
    for absorber in absorbers:
        for what in absorber.unverified:
            notes.append(f"{absorber.region}: not verified: {what}")
        degraded = report.region(absorber.region).reasons
        if degraded:
            notes.append(f"{absorber.region} is not fully ready: {'; '.join(degraded)}")
    params = {
        "region": region,
        "lever": lever,
        "scale_up": scale_up,
        "previous_desired": {
            r: {k: {"from": a, "to": b} for k, (a, b) in v.items()} for r, v in previous.items()
        },
    }
    if minimums:
        params["previous_min"] = {
            r: {k: {"from": a, "to": b} for k, (a, b) in v.items()} for r, v in minimums.items()
        }
    if lever == "traffic_dial":
        # What undrain goes back to; a dial already at 0 records nothing (see last_dial).
        params["dial_before"] = dial.before or None
    if weights.before:
        params["weights_before"] = dict(weights.before)
    params |= controls.params()
    return Plan(command="drain", params=params, steps=tuple(steps), notes=tuple(notes))


def _require_quota_headroom(
    report: status.StatusReport, absorbers: Sequence[Absorber], drained: str
) -> list[str]:
    """Refuse when an absorber's scale-up to ``takeover_desired`` needs more Fargate or
    EC2 vCPU than its Service Quotas headroom (resources/capacity.py: the figures status
    gives as "cannot take over"): the scale-up would stop half-way, tasks and instances
    failing to launch, while the drained region's traffic arrives. Returns the notes for
    what could not be verified. ``--no-scale-up`` (no scale-up, so no quota drawn on) is
    the override, as for the other scale-up refusals (MaxSize, MaxCapacity)."""
    short: list[str] = []
    notes: list[str] = []
    for absorber in absorbers:
        rs = report.region(absorber.region)
        for err in rs.errors:
            if err.section == QUOTA_SECTION:
                notes.append(
                    f"{absorber.region}: quota headroom for the scale-up not verified: "
                    f"{err.message}"
                )
        found = rs.sections.get(QUOTA_SECTION)
        if not isinstance(found, CapacityStatus):
            continue
        for h in found.headroom:
            if h.key not in SCALE_UP_QUOTAS or h.needed <= 0:
                continue
            if h.headroom is None:
                notes.append(
                    f"{absorber.region}: quota headroom for {h.needed:g} more {h.unit} not "
                    f"verified (quota {h.quota_code} not read)"
                )
            elif h.short:
                short.append(shortfall(absorber.region, h))
    if short:
        raise QuotaShortError(
            f"{'; '.join(short)}: not enough for the take-over scale-up of draining "
            f"{drained}, which would stop half-way; request a quota increase (Service Quotas) "
            "or lower takeover_desired"
        )
    return notes


def _writer_note(
    topology: Topology, factory: ClientSource, region: str, others: Sequence[str]
) -> str | None:
    """Whether ``region`` holds the Aurora writer, as AWS reports it (asked of the others
    first: the drained region may be the one that is down). None: it does not."""
    if topology.regions[region].aurora is None:
        return None
    writer, why = observed_writer(topology, factory, ask_first=others)
    if writer is None:
        return (
            f"not verified whether {region} holds the Aurora writer ({why}); drain moves "
            "traffic, not the database (see mr-failover status and promote)."
        )
    if writer != region:
        return None
    return (
        f"{region} still holds the Aurora writer (rds:DescribeGlobalClusters IsWriter, or its "
        "writable cluster): drain moves traffic, not the database (see mr-failover promote)."
    )


def controls_memo(spec: Region, region: str, overrides: Sequence[str]) -> ControlsMemo:
    """The memo for ``region``'s lever; overrides are only for the routing_control lever."""
    if overrides and spec.traffic.drain_lever != "routing_control":
        raise UsageError(
            f"--override-safety-rule is for drain_lever: routing_control; {region}'s lever is "
            f"{spec.traffic.drain_lever}"
        )
    return ControlsMemo(overrides=tuple(dict.fromkeys(overrides)))


def _scale_up_steps(
    topology: Topology,
    factory: ClientSource,
    target: str,
    found: status.RegionStatus,
    drained: str,
    previous: dict[str, dict[str, tuple[int, int]]],
    minimums: dict[str, dict[str, tuple[int, int]]] | None = None,
    notes: list[str] | None = None,
) -> list[Step]:
    """Steps raising ``target``'s compute to ``takeover_desired``; records what they change.

    Each service's autoscaling minimum goes up first (recorded in ``minimums``), so that
    its scaling policies cannot scale the take-over back in (rule: autoscaling-scale-in).
    """
    minimums = {} if minimums is None else minimums
    notes = [] if notes is None else notes
    spec = topology.regions[target]
    seen = {(s.kind, s.name): s for s in (found.compute.services if found.compute else ())}
    undo = _undo("undrain", drained)
    ecs_todo = []
    for svc in spec.compute.ecs_services:
        finding = seen.get(("ecs", f"{svc.cluster}/{svc.service}"))
        if svc.takeover_desired is None or finding is None or not finding.found:
            continue
        ecs_todo.append((svc.cluster, svc.service, svc.takeover_desired, finding.desired))
    asg_steps: list[Step] = []
    for group in spec.compute.autoscaling_groups:
        if group.takeover_desired is None:
            continue
        client = factory.client("autoscaling", target)
        limits = asg_limits(client, group.name)
        if group.takeover_desired > limits.max_size:
            if limits.desired >= group.takeover_desired:
                continue
            raise RefusedError(
                f"refused: takeover_desired {group.takeover_desired} of Auto Scaling group "
                f"{group.name} in {target} exceeds its MaxSize {limits.max_size}; raise MaxSize "
                "or lower takeover_desired, or drain with --no-scale-up"
            )
        if limits.min_size < group.takeover_desired and _scales_itself(
            client, group.name, target, notes
        ):
            minimums.setdefault(target, {})[asg_key(group.name)] = (
                limits.min_size,
                group.takeover_desired,
            )
            asg_steps.append(
                asg_min_step(
                    client,
                    region=target,
                    name=group.name,
                    minimum=group.takeover_desired,
                    previous=limits.min_size,
                    goal="at_least",
                    undo=undo,
                )
            )
            notes += _scaling_notes("asg", client, group.name, target, group.takeover_desired)
        if limits.desired >= group.takeover_desired:
            continue
        previous.setdefault(target, {})[asg_key(group.name)] = (
            limits.desired,
            group.takeover_desired,
        )
        asg_steps.append(
            asg_step(
                client,
                region=target,
                name=group.name,
                desired=group.takeover_desired,
                previous=limits.desired,
                goal="at_least",
                undo=undo,
            )
        )
    steps: list[Step] = []
    for cluster, service, takeover, desired in ecs_todo:
        steps += _ecs_min_steps(factory, target, cluster, service, takeover, minimums, notes, undo)
        if desired >= takeover:
            continue
        previous.setdefault(target, {})[ecs_key(cluster, service)] = (desired, takeover)
        steps.append(
            ecs_step(
                factory.client("ecs", target),
                region=target,
                cluster=cluster,
                service=service,
                desired=takeover,
                previous=desired,
                goal="at_least",
                undo=undo,
            )
        )
    return steps + asg_steps


def _ecs_min_steps(
    factory: ClientSource,
    region: str,
    cluster: str,
    service: str,
    takeover: int,
    minimums: dict[str, dict[str, tuple[int, int]]],
    notes: list[str],
    undo: str,
) -> list[Step]:
    """Raise the service's scalable target's MinCapacity to ``takeover`` (if it has one)."""
    client = factory.client(AAS, region)
    name = f"{cluster}/{service}"
    try:
        found = ecs_scalable_target(client, cluster, service)
    except MrFailoverError as exc:
        notes.append(
            f"ecs {name} in {region}: its Application Auto Scaling target was not read ({exc}); "
            "if it has scaling policies they may scale the take-over back in"
        )
        return []
    if found is None or found.min_capacity >= takeover:
        return []
    if not _scales_itself(client, name, region, notes):
        return []
    if takeover > found.max_capacity:
        raise RefusedError(
            f"refused: takeover_desired {takeover} of ECS service {name} in {region} exceeds "
            f"its scalable target's MaxCapacity {found.max_capacity} (Application Auto Scaling "
            "would scale it back in); raise MaxCapacity or lower takeover_desired, or drain "
            "with --no-scale-up"
        )
    minimums.setdefault(region, {})[ecs_key(cluster, service)] = (found.min_capacity, takeover)
    notes += _scaling_notes("ecs", client, name, region, takeover)
    return [
        ecs_min_step(
            client,
            region=region,
            cluster=cluster,
            service=service,
            minimum=takeover,
            previous=found.min_capacity,
            goal="at_least",
            undo=undo,
        )
    ]


def _scales_itself(client: Any, name: str, region: str, notes: list[str]) -> bool:
    """Does something scale ``name`` on its own: a scaling policy or a scheduled action?

    ``client`` is Application Auto Scaling (``name`` an ECS cluster/service) or Auto
    Scaling (``name`` a group). Unreadable: assumed so (the minimum is raised anyway).
    """
    try:
        if client.meta.service_model.service_name == AAS:
            cluster, _, service = name.partition("/")
            ids = {"ServiceNamespace": "ecs", "ResourceId": ecs_resource_id(cluster, service)}
            found = call(client, "describe_scaling_policies", **ids).get("ScalingPolicies")
            found = found or call(client, "describe_scheduled_actions", **ids).get(
                "ScheduledActions"
            )
        else:
            group = {"AutoScalingGroupName": name}
            found = call(client, "describe_policies", **group).get("ScalingPolicies")
            found = found or call(client, "describe_scheduled_actions", **group).get(
                "ScheduledUpdateGroupActions"
            )
    except MrFailoverError as exc:
        notes.append(f"{name} in {region}: scaling policies not read ({exc})")
        return True
    return bool(found)


def _scaling_notes(
    kind: Literal["ecs", "asg"], client: Any, name: str, region: str, floor: int
) -> list[str]:
    try:
        return scaling_notes(kind, client, name, region, floor)
    except MrFailoverError as exc:
        return [f"{kind} {name} in {region}: scheduled actions not read ({exc})"]


# --- undrain ------------------------------------------------------------------------------


def last_drain(region: str) -> RecordedScaleUp | None:
    """The scale-up of the newest successful drain of ``region`` that scaled anything.

    Read from this machine's journal. None when there is none, or when a successful
    undrain of the region came after it (its scale-back was done or declined then).
    """
    for run_id, params in _recorded_drains(region):
        found = recorded_scale_up(run_id, params)
        if found is not None:
            return found
        # A drain that scaled nothing (a re-run of one that had): look further back.
    return None


def recorded_scale_up(run_id: str, params: Mapping[str, Any]) -> RecordedScaleUp | None:
    """What a drain's plan params (``previous_desired``, ``previous_min``) say it scaled
    up; None when it scaled nothing. ``run_id`` names the run in undrain's notes."""
    counts, minimums = (
        {
            r: {k: (int(v["from"]), int(v["to"])) for k, v in services.items()}
            for r, services in (params.get(name) or {}).items()
        }
        for name in ("previous_desired", "previous_min")
    )
    return RecordedScaleUp(run_id, counts, minimums) if counts or minimums else None


def plan_undrain(
    topology: Topology,
    factory: ClientSource,
    region: str,
    *,
    scale_back: bool | None = None,
    clock: Clock,
    recorded: Callable[[str], RecordedScaleUp | None] = last_drain,
    recorded_dial: Callable[[str], tuple[str, float] | None] = last_dial,
    recorded_weights: Callable[[str], tuple[str, dict[str, int]] | None] = last_weights,
    override_safety_rules: Sequence[str] = (),
) -> Plan:
    """The plan for ``undrain --region region``.

    ``recorded``, ``recorded_dial``, ``recorded_weights``: what the drain being undone
    recorded (default: the newest successful ``drain`` of this machine's journal; a drill
    passes its own drain phase's record).

    ``scale_back``: None scales back when a drain recorded counts, True requires them,
    False leaves the other regions' capacity as it is.
    """
    spec = _known(topology, region)
    dial = DialMemo()
    dial_run = None
    if spec.traffic.drain_lever == "traffic_dial":
        dial_run = recorded_dial(region)
        dial.restore_to = dial_run[1] if dial_run else None
    weights = WeightsMemo()
    weights_run = None
    if spec.traffic.drain_lever == "weight":
        weights_run = recorded_weights(region)
        weights.restore_to = weights_run[1] if weights_run else None
    controls = controls_memo(spec, region, override_safety_rules)
    steps = _traffic_steps(
        topology,
        factory,
        region,
        drain=False,
        clock=clock,
        dial=dial,
        controls=controls,
        weights=weights,
    )
    notes: list[str] = controls.notes() + weights.notes
    if spec.traffic.drain_lever == "traffic_dial":
        notes.append(
            f"the traffic dial goes back to {dial.to:g}%, "
            + (
                f"the value drain run {dial_run[0]} found before draining"
                if dial_run
                else f"the topology's traffic_dial (no drain of {region} recorded the dial)"
            )
        )
    if weights_run is not None:
        notes.append(
            f"weights go back to what drain run {weights_run[0]} found before draining: "
            + ", ".join(f"{k} {v}" for k, v in weights.to.items())
        )
    params: dict[str, Any] = {
        "region": region,
        "lever": spec.traffic.drain_lever,
        "scale_back": scale_back,
    }
    if dial_run is not None:
        params["dial_from"] = dial_run[0]
    if weights_run is not None:
        params["weights_from"] = weights_run[0]
    params |= controls.params()
    drained = recorded(region) if scale_back is not False else None
    if scale_back is True and (drained is None or not (drained.counts or drained.minimums)):
        raise UsageError(
            f"no successful drain of {region} in this machine's journal recorded counts to "
            "scale back to (see mr-failover history); scale by hand, or run without --scale-back"
        )
    if drained is not None and (drained.counts or drained.minimums):
        params["scale_back_from"] = drained.run_id
        steps += _scale_back_steps(factory, region, drained, notes)
    elif scale_back is None and _scales_up(topology, region):
        notes.append(
            f"no successful drain of {region} in this machine's journal recorded the other "
            "regions' capacity before it: what their desired counts were is unknown, so they "
            "are left as they are (scale them by hand if a drain raised them)"
        )
    notes.append(_control_plane_note(spec.traffic.drain_lever))
    return Plan(command="undrain", params=params, steps=tuple(steps), notes=tuple(notes))


def _scales_up(topology: Topology, region: str) -> bool:
    """Whether a drain of ``region`` could have scaled another region up."""
    return any(
        any(s.takeover_desired for s in spec.compute.ecs_services)
        or any(g.takeover_desired for g in spec.compute.autoscaling_groups)
        for name, spec in topology.regions.items()
        if name != region
    )


def _scale_back_steps(
    factory: ClientSource, region: str, drained: RecordedScaleUp, notes: list[str]
) -> list[Step]:
    undo = _undo("drain", region)
    # Minimums first: a desired count below the raised minimum would be refused (Auto
    # Scaling) or scaled straight back up (Application Auto Scaling).
    steps = _restore_min_steps(factory, drained, notes, undo)
    for target, services in drained.counts.items():
        for key, (before, after) in services.items():
            kind, _, name = key.partition(":")
            if kind == "ecs":
                cluster, _, service = name.partition("/")
                client = factory.client("ecs", target)
                now = _ecs_desired(client, cluster, service)
            elif kind == "asg":
                client = factory.client("autoscaling", target)
                now = _asg_desired(client, name)
            else:
                continue
            if now == before:
                continue
            if now is None:
                notes.append(f"{kind} {name} in {target} is gone: nothing to scale back")
                continue
            if now != after:
                notes.append(
                    f"left {kind} {name} in {target} at {now}: changed since drain run "
                    f"{drained.run_id} set it to {after} (scale it by hand if needed)"
                )
                continue
            if kind == "ecs":
                steps.append(
                    ecs_step(
                        client,
                        region=target,
                        cluster=cluster,
                        service=service,
                        desired=before,
                        previous=now,
                        goal="exactly",
                        undo=undo,
                    )
                )
            else:
                steps.append(
                    asg_step(
                        client,
                        region=target,
                        name=name,
                        desired=before,
                        previous=now,
                        goal="exactly",
                        undo=undo,
                    )
                )
    return steps


def _restore_min_steps(
    factory: ClientSource, drained: RecordedScaleUp, notes: list[str], undo: str
) -> list[Step]:
    """Put back the autoscaling minimums drain raised, unless changed since."""
    steps: list[Step] = []
    for target, services in drained.minimums.items():
        for key, (before, after) in services.items():
            kind, _, name = key.partition(":")
            now: int | None
            if kind == "ecs":
                cluster, _, service = name.partition("/")
                client = factory.client(AAS, target)
                found = ecs_scalable_target(client, cluster, service)
                now = found.min_capacity if found is not None else None
            elif kind == "asg":
                client = factory.client("autoscaling", target)
                now = _asg_min(client, name)
            else:
                continue
            what = "MinCapacity" if kind == "ecs" else "MinSize"
            if now == before:
                continue
            if now is None:
                notes.append(f"{kind} {name} in {target}: no {what} to restore (gone)")
                continue
            if now != after:
                notes.append(
                    f"left the {what} of {kind} {name} in {target} at {now}: changed since "
                    f"drain run {drained.run_id} set it to {after} (restore it by hand if needed)"
                )
                continue
            if kind == "ecs":
                steps.append(
                    ecs_min_step(
                        client,
                        region=target,
                        cluster=cluster,
                        service=service,
                        minimum=before,
                        previous=now,
                        goal="exactly",
                        undo=undo,
                    )
                )
            else:
                steps.append(
                    asg_min_step(
                        client,
                        region=target,
                        name=name,
                        minimum=before,
                        previous=now,
                        goal="exactly",
                        undo=undo,
                    )
                )
    return steps


def _asg_min(client: Any, name: str) -> int | None:
    out = call(client, "describe_auto_scaling_groups", AutoScalingGroupNames=[name])
    groups = out.get("AutoScalingGroups", [])
    return int(groups[0]["MinSize"]) if groups else None


def _ecs_desired(client: Any, cluster: str, service: str) -> int | None:
    out = call(client, "describe_services", cluster=cluster, services=[service])
    for svc in out.get("services", []):
        if svc.get("status") == "ACTIVE":
            return int(svc.get("desiredCount", 0))
    return None


def _asg_desired(client: Any, name: str) -> int | None:
    out = call(client, "describe_auto_scaling_groups", AutoScalingGroupNames=[name])
    groups = out.get("AutoScalingGroups", [])
    return int(groups[0]["DesiredCapacity"]) if groups else None


# --- for other operations that keep a region drained ---------------------------------------


def drain_traffic_steps(
    topology: Topology,
    factory: ClientSource,
    region: str,
    *,
    clock: Clock,
    controls: ControlsMemo | None = None,
) -> tuple[list[Step], tuple[str, ...]]:
    """``region``'s traffic steps as drain plans them (lever, then TTL wait), and notes.

    For operations that must keep a region drained (``fence``): each step holds when
    the region already is drained, so a drained region is not touched again. ``controls``
    carries the safety rules to override (routing_control lever) and gets what was found.
    """
    _known(topology, region)
    dial = DialMemo()
    controls = controls or ControlsMemo()
    steps = _traffic_steps(
        topology, factory, region, drain=True, clock=clock, dial=dial, controls=controls
    )
    lever = topology.regions[region].traffic.drain_lever
    return steps, (*dial.notes, *controls.notes(), _control_plane_note(lever))
