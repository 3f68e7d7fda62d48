"""``promote``: make a region's Aurora cluster the writer, and refuse what would hurt.

Three modes. ``switchover`` (the default while the writer's region answers) is Aurora's
planned global database move, with no data loss. ``failover`` (the default when the
writer's region does not answer) is the unplanned one, which loses what had not
replicated, so it always needs ``--allow-data-loss``. ``replica`` promotes a cross-region
read replica cluster (topology ``aurora.mode: replica``).

:func:`plan_promotion` reads real state and checks every precondition before the first
change: the target cluster exists, is available and is a member; no other move is under
way; engine versions match; the measured lag is within the RPO (unless data loss is
allowed); the target region's traffic is healthy; and the target is not already the
writer (:class:`NothingToDo`, exit 0). Each refusal is a :class:`RefusedError` saying how
to proceed. ``SwitchoverGlobalCluster`` goes to the current primary's region and
``FailoverGlobalCluster`` to the target's, as the Aurora user guide's procedures say.

The RPO is judged where data can be lost: a switchover synchronizes the secondaries
first (RPO 0), so its lag only makes it slower; a failover loses the lag, so it is
refused above the RPO, or without a lag datapoint, unless ``beyond_rpo``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from mr_failover.aws import ClientFactory, Timeouts, call
from mr_failover.engine.plan import Plan, Step
from mr_failover.errors import (
    EXIT_OK,
    AwsCallError,
    MrFailoverError,
    RefusedError,
    RegionUnreachableError,
    UsageError,
)
from mr_failover.resources import elasticache as cache
from mr_failover.resources.aurora import (
    arn_region,
    lag_queries,
    lag_seconds,
    observe_global_cluster,
)
from mr_failover.resources.aurora_steps import (
    MOVE_TIMEOUT,
    ClusterDetail,
    GlobalMoveKind,
    describe_move,
    global_move_step,
    move_region,
    promote_replica_step,
    read_cluster,
    version_mismatch,
)
from mr_failover.resources.cloudwatch import MetricQuery, latest_values
from mr_failover.resources.route53 import (
    METRICS_REGION,
    HealthCheckFinding,
    observe_region_checks,
)
from mr_failover.resources.route53_steps import ROUTE53_REGION, describe

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Aurora, Topology

Mode = Literal["switchover", "failover", "replica"]
MODES: tuple[Mode, ...] = ("switchover", "failover", "replica")

# Write I/Os replicated into the secondary, per minute; published only in the secondary's
# region, so it can still be read when the writer's region is down.
WRITE_IO_METRIC = "AuroraGlobalDBReplicatedWriteIO"
PERIOD_SECONDS = 60
# How long the writer's region gets to answer the probe: an outage must not stall the plan
# (a black-holed endpoint would otherwise cost three full read timeouts).
PROBE_DEADLINE = 9.0
# Error codes that mean "the region's service is not answering", as opposed to a refusal.
_DOWN_CODES = ("ServiceUnavailable", "InternalFailure", "InternalError", "InternalServerError")

# What AWS does after a managed failover ("Using switchover or failover in Amazon Aurora
# Global Database", aurora-global-database-disaster-recovery.html).
REBUILD_NOTE = (
    "After the failover AWS rebuilds every other secondary region to the new primary's "
    "point in time (a few minutes to several hours; they are not readable meanwhile), and "
    "adds the old primary region back as a secondary once it is healthy, with a new storage "
    "volume. Before that, Aurora tries to snapshot the old volume as "
    "rds:unplanned-global-failover-<old primary cluster>-<timestamp> "
    "(DescribeDBClusterSnapshots): the writes this failover loses are there."
)

NOT_INHERITED = (
    "The promoted cluster keeps its own cluster and DB parameter groups and CloudWatch "
    "alarms: the old writer's are not copied. Check them before taking full load."
)


class NothingToDo(MrFailoverError):
    """The target already is the writer: say so and exit 0."""

    exit_code = EXIT_OK


@dataclass(frozen=True)
class LagReading:
    """Replication lag into the target, and the recent write rate when it is published."""

    seconds: float | None
    metric: str | None
    write_ios_per_second: float | None = None
    missing: str = ""  # why there is no datapoint, when there is none

    def loss_text(self) -> str:
        """What the lag means in lost writes, in words."""
        if self.seconds is None:
            why = f" ({self.missing})" if self.missing else ""
            return f"no lag datapoint in the last 15 minutes{why}, so the loss cannot be estimated"
        text = f"measured lag {self.seconds:.2f} s ({self.metric})"
        if self.write_ios_per_second is not None:
            ios = self.seconds * self.write_ios_per_second
            text += (
                f", about {ios:.0f} write I/Os at the recent rate of "
                f"{self.write_ios_per_second:.1f}/s ({WRITE_IO_METRIC})"
            )
        else:
            text += "; no write rate is published, so the number of writes is unknown"
        return text


@dataclass(frozen=True)
class WriterInfo:
    """The writer after a promotion, from a fresh read of the target region."""

    region: str
    cluster: str
    endpoint: str | None
    status: str
    rebuilding: tuple[str, ...] = ()  # secondaries AWS is rebuilding (after a failover)


def _aurora(topology: Topology, region: str) -> Aurora:
    if region not in topology.regions:
        raise UsageError(
            f"unknown region {region!r}; the topology declares {', '.join(topology.regions)}"
        )
    spec = topology.regions[region].aurora
    if spec is None:
        raise UsageError(
            f"{region} has no Aurora cluster in the topology (regions.{region}.aurora)"
        )
    return spec


def _resolve_mode(spec: Aurora, region: str, mode: str | None) -> Mode | None:
    """The mode asked for, checked against the topology; None: decide from the writer."""
    if spec.mode == "replica":
        if mode not in (None, "replica"):
            raise UsageError(
                f"{region}'s cluster is a read replica (aurora.mode: replica): promote it with "
                "--mode replica, or leave --mode out"
            )
        return "replica"
    if mode == "replica":
        raise UsageError(
            f"{region}'s cluster is a global database member (aurora.mode: global): use "
            "--mode switchover (planned) or --mode failover (writer region down)"
        )
    if mode is None:
        return None
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def _probe(factory: ClientSource, region: str, cluster: str) -> tuple[ClusterDetail | None, str]:
    """A member's cluster read in its own region; ("", reason) when the region is down.

    Only a missing answer or a 5xx counts as down: a refusal (access denied, throttling)
    is raised, because it says nothing about the region's health.
    """
    if isinstance(factory, ClientFactory):
        factory = factory.with_timeouts(Timeouts.for_deadline(PROBE_DEADLINE))
    try:
        return read_cluster(factory.client("rds", region), cluster), ""
    except RegionUnreachableError as exc:
        return None, exc.detail
    except AwsCallError as exc:
        if exc.detail.startswith(_DOWN_CODES):
            return None, exc.detail
        raise


def aurora_lag(
    factory: ClientSource,
    region: str,
    cluster: str,
    mode: str,
    now: datetime,
    source_region: str | None = None,
) -> LagReading:
    """The replication lag into ``cluster`` (its region's metrics), and the write rate.

    ``source_region`` (the primary's) adds the ``SourceRegion`` dimension set. When no
    query finds a datapoint, ``ListMetrics`` says which lag metrics exist for the
    cluster at all, so "no datapoint" is never silent (``LagReading.missing``).
    """
    queries = lag_queries(cluster, mode, source_region)
    rate = MetricQuery(
        WRITE_IO_METRIC,
        "AWS/RDS",
        WRITE_IO_METRIC,
        (("DBClusterIdentifier", cluster),),
        stat="Sum",
    )
    wanted = [q for q, _ in queries] + ([rate] if mode == "global" else [])
    cw = factory.client("cloudwatch", region)
    values = latest_values(cw, wanted, now=now)
    seconds, metric = lag_seconds(values, queries)
    per_minute = values.get(rate.key) if mode == "global" else None
    per_second = per_minute / PERIOD_SECONDS if per_minute is not None else None
    missing = "" if seconds is not None else _missing_lag(cw, cluster, queries)
    return LagReading(seconds, metric, per_second, missing)


def _missing_lag(cw: Any, cluster: str, queries: list[tuple[MetricQuery, float]]) -> str:
    """Which lag metrics CloudWatch holds for ``cluster`` (ListMetrics matches partially)."""
    names = sorted({q.metric for q, _ in queries})
    found: dict[str, None] = {}  # ordered, without repeats
    for name in names:
        out = call(
            cw,
            "list_metrics",
            Namespace="AWS/RDS",
            MetricName=name,
            Dimensions=[{"Name": "DBClusterIdentifier", "Value": cluster}],
        )
        for m in out.get("Metrics", []):
            dims = ", ".join(f"{d['Name']}={d['Value']}" for d in m.get("Dimensions", []))
            found[f"{name} [{dims}]"] = None
    if not found:
        return f"CloudWatch holds no {' or '.join(names)} for {cluster} in its region"
    return "published as " + "; ".join(found) + ", but with no recent datapoint"


def _traffic(
    topology: Topology, factory: ClientSource, region: str
) -> tuple[list[HealthCheckFinding], str]:
    """The target's health checks read now; ("", reason) when Route 53 does not answer."""
    checks = topology.regions[region].traffic.health_checks
    if not checks:
        return [], ""
    # Route 53's API lives in us-east-1 only: an outage there must not stall the plan.
    if isinstance(factory, ClientFactory):
        factory = factory.with_timeouts(Timeouts.for_deadline(PROBE_DEADLINE))
    client = factory.client("route53", ROUTE53_REGION)
    try:
        cloudwatch = factory.client("cloudwatch", METRICS_REGION)
        traffic = topology.regions[region].traffic
        return observe_region_checks(client, traffic, cloudwatch=cloudwatch), ""
    except RegionUnreachableError as exc:
        return [], exc.detail
    except AwsCallError as exc:
        if exc.detail.startswith(_DOWN_CODES):
            return [], exc.detail
        raise


def plan_promotion(
    topology: Topology,
    factory: ClientSource,
    region: str,
    *,
    mode: str | None = None,
    allow_data_loss: bool = False,
    beyond_rpo: bool = False,
    resuming: bool = False,
    now: datetime | None = None,
) -> Plan:
    """The plan for ``promote --region region``; raises what refuses it.

    ``beyond_rpo``: a failover may lose more than the RPO (or an unmeasured amount).

    ``resuming``: a resumed run re-plans even when the target already is the writer, so
    that its step is recorded as done rather than the run left without an end.
    """
    spec = _aurora(topology, region)
    resolved = _resolve_mode(spec, region, mode)
    now = now or datetime.now(UTC)
    if resolved == "replica":
        return _plan_replica(topology, factory, region, spec, allow_data_loss, resuming, now)
    return _plan_global(
        topology, factory, region, spec, resolved, allow_data_loss, beyond_rpo, resuming, now
    )


def _plan_global(
    topology: Topology,
    factory: ClientSource,
    region: str,
    spec: Aurora,
    mode: GlobalMoveKind | None,
    allow_data_loss: bool,
    beyond_rpo: bool,
    resuming: bool,
    now: datetime,
) -> Plan:
    assert spec.global_cluster is not None  # the topology model requires it for global
    gid = spec.global_cluster
    rds = factory.client("rds", region)
    # Asked of the target region: it answers when the writer's region does not.
    g = observe_global_cluster(rds, gid)
    target = _member_cluster(factory, region, spec)
    _require_instance(target, region)
    if g.member(target.finding.arn) is None:
        raise RefusedError(
            f"refused: {spec.cluster} ({region}) is not a member of global cluster {gid}; "
            "add it to the global cluster first"
        )
    notes: list[str] = []
    moving = g.failover
    ours = moving is not None and moving.to_cluster_arn == target.finding.arn
    if moving is not None and not ours:
        raise RefusedError(
            f"refused: global cluster {gid} is already moving ({describe_move(g)}); wait "
            "until its FailoverState is gone, then check `mr-failover status`"
        )
    target_member = g.member(target.finding.arn)
    if moving is None and target_member is not None and target_member.is_writer:
        # The database may have moved while its cache did not (a run stopped in between,
        # or a move made by hand): then only the cache's step is left to do.
        cache_pending = any(
            s.action is not None and not s.action.holds()
            for s in datastore_steps(topology, factory, region, [], writer_down=False)
        )
        if not resuming and not cache_pending:
            raise NothingToDo(
                f"nothing to do: {spec.cluster} ({region}) is already the writer of {gid}"
            )
        notes.append(f"{spec.cluster} ({region}) is already the writer of {gid}")
    writer_region = g.writer_region
    if moving is not None and moving.from_cluster_arn:
        writer_region = arn_region(moving.from_cluster_arn)
    down = _check_members(topology, factory, region, target, writer_region)
    writer_down = writer_region is not None and writer_region in down

    kind: GlobalMoveKind
    if moving is not None and ours:
        # Someone (or this run, before it was killed) already started this move: wait
        # for it rather than decide again.
        kind = "failover" if moving.data_loss_allowed else "switchover"
        notes.append(
            f"a move to {spec.cluster} is already under way ({describe_move(g)}); the run "
            "waits for it"
        )
    else:
        kind = mode or ("failover" if writer_down else "switchover")
        if kind == "switchover" and writer_down and writer_region is not None:
            raise RefusedError(
                f"refused: a switchover needs every region, but the writer's region "
                f"{writer_region} does not answer ({down[writer_region]}); if it is down, fail "
                f"over instead: mr-failover promote --region {region} --mode failover "
                "--allow-data-loss"
            )
        if kind == "switchover":
            _require_every_member(region, down, writer_region)
        _check_target_traffic(topology, factory, region, kind, notes)
        lag = aurora_lag(factory, region, spec.cluster, "global", now, writer_region)
        if kind == "failover" and not allow_data_loss:
            alternative = (
                ", or switch over without loss (--mode switchover)" if not writer_down else ""
            )
            raise RefusedError(
                f"refused: a failover to {region} loses the writes "
                f"{writer_region or 'the writer'} had not replicated: {lag.loss_text()}; rerun "
                f"with --allow-data-loss to accept that{alternative}"
            )
        if kind == "failover":
            _check_failover_rpo(topology, region, spec.cluster, lag, beyond_rpo, notes)
            notes.append(
                f"AllowDataLoss: writes {writer_region or 'the writer'} had not replicated are "
                f"lost ({lag.loss_text()}). Aurora fences the old writer on a best-effort "
                "basis only: stop the application's writes to it."
            )
            notes.append(REBUILD_NOTE)
        else:
            notes.append(_switchover_lag_note(spec.cluster, lag))
    call_region = move_region(kind, region, writer_region)
    call = "FailoverGlobalCluster" if kind == "failover" else "SwitchoverGlobalCluster"
    why = (
        "the current primary's region, as the Aurora user guide's switchover procedure says"
        if kind == "switchover"
        else f"the target, which answers even when the writer's region "
        f"({writer_region or 'unknown'}) does not"
    )
    notes[:0] = [
        f"rds:{call} is sent to {call_region}'s endpoint ({why}).",
        "Aurora moves take minutes: FailoverState goes pending -> "
        f"{'failing-over' if kind == 'failover' else 'switching-over'} -> gone; the run "
        f"waits up to {MOVE_TIMEOUT / 60:.0f} min, then checks IsWriter on {spec.cluster}.",
    ]
    notes.append(NOT_INHERITED)
    step = global_move_step(
        factory.client("rds", call_region) if call_region != region else rds,
        global_id=gid,
        target_cluster=spec.cluster,
        target_arn=target.finding.arn,
        target_region=region,
        writer_region=writer_region,
        kind=kind,
    )
    cache_steps = datastore_steps(topology, factory, region, notes, writer_down=writer_down)
    return Plan(
        command="promote",
        params={
            "region": region,
            "mode": kind,
            "allow_data_loss": allow_data_loss,
            **({"beyond_rpo": True} if beyond_rpo else {}),
        },
        steps=(step, *cache_steps),
        notes=tuple(notes),
    )


def _member_cluster(factory: ClientSource, region: str, spec: Aurora) -> ClusterDetail:
    target = read_cluster(factory.client("rds", region), spec.cluster)
    if target is None:
        raise RefusedError(
            f"refused: cluster {spec.cluster} does not exist in {region} "
            f"(rds:DescribeDBClusters); create it or fix regions.{region}.aurora.cluster"
        )
    if target.finding.status != "available":
        raise RefusedError(
            f"refused: cluster {spec.cluster} in {region} is {target.finding.status}, not "
            f"available; wait until it is (mr-failover status --region {region})"
        )
    return target


def _require_instance(target: ClusterDetail, region: str) -> None:
    """A headless secondary (no DB instance) cannot take over.

    # rule: aurora-headless-target
    "Before you can perform a switchover or failover to a headless secondary Aurora DB
    cluster, you must add a DB instance to it" ("Using switchover or failover in Amazon
    Aurora Global Database",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html).
    """
    if target.instances == 0:
        c = target.finding
        raise RefusedError(
            f"refused: {c.id} ({region}) has no DB instance (a headless secondary); Aurora "
            "needs one before a switchover or failover: add one (aws rds create-db-instance "
            f"--region {region} --db-cluster-identifier {c.id} --engine {c.engine or 'ENGINE'} "
            "--db-instance-class CLASS --db-instance-identifier NAME) and wait until it is "
            "available"
        )


def _check_members(
    topology: Topology,
    factory: ClientSource,
    region: str,
    target: ClusterDetail,
    writer_region: str | None,
) -> dict[str, str]:
    """Engine versions of every member that answers must match the target's.

    Returns the regions that do not answer, with why (the writer's among them means the
    default is a failover).
    """
    down: dict[str, str] = {}
    for name, other in topology.regions.items():
        if name == region or other.aurora is None:
            continue
        found, why = _probe(factory, name, other.aurora.cluster)
        if why:
            down[name] = why
            continue
        if found is None:
            if name == writer_region:
                raise RefusedError(
                    f"refused: the writer's cluster {other.aurora.cluster} does not exist in "
                    f"{name}; fix regions.{name}.aurora.cluster"
                )
            continue
        theirs, ours = found.finding.engine_version, target.finding.engine_version
        mismatch = version_mismatch(target.finding.engine, ours, theirs)
        if mismatch is not None:
            raise RefusedError(
                f"refused: engine versions differ: {target.finding.id} ({region}) runs {ours}, "
                f"{found.finding.id} ({name}) runs {theirs}; Aurora cannot move the writer "
                f"between versions ({mismatch}): upgrade the members to one version first"
            )
    return down


def _require_every_member(region: str, down: Mapping[str, str], writer_region: str | None) -> None:
    """A switchover synchronizes every secondary with the primary first, so a secondary
    whose region does not answer stops it: refuse before the call rather than fail at it.

    "All secondary clusters are synchronized with the primary at the beginning of the
    process" (SwitchoverGlobalCluster, Amazon RDS API Reference,
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_SwitchoverGlobalCluster.html).
    """
    others = {name: why for name, why in down.items() if name != writer_region}
    if not others:
        return
    which = "; ".join(f"{name}: {why}" for name, why in others.items())
    raise RefusedError(
        f"refused: a switchover first synchronizes every secondary, and "
        f"{', '.join(others)} does not answer ({which}); wait until it does, remove its "
        "cluster from the global database (rds:RemoveFromGlobalCluster), or fail over "
        f"instead: mr-failover promote --region {region} --mode failover --allow-data-loss"
    )


def _check_target_traffic(
    topology: Topology, factory: ClientSource, region: str, kind: str, notes: list[str]
) -> list[HealthCheckFinding]:
    checks, why = _traffic(topology, factory, region)
    if why:
        # The plan has no Route 53 step, so it must not need Route 53's control plane: in
        # an outage of its home region the promotion is what is needed most. Say so.
        notes.append(
            f"{region}'s traffic health: not verified: Route 53 API in {ROUTE53_REGION} "
            f"unreachable ({why}); check the health checks once it answers"
        )
        return []
    if not topology.regions[region].traffic.health_checks:
        notes.append(f"{region} has no health checks in the topology: traffic not checked")
    for finding in checks:
        if finding.effective_healthy is not True:
            raise RefusedError(
                f"refused: {region}'s traffic is not healthy: {describe(finding)}; fix its "
                f"endpoint or restore its checks (mr-failover health-check restore --region "
                f"{region}) before making it the writer"
            )
    return checks


def _switchover_lag_note(cluster: str, lag: LagReading) -> str:
    """A switchover loses nothing; its lag only makes it longer (said, never a refusal).

    # rule: aurora-switchover-rpo-zero
    "Because this feature synchronizes secondary DB clusters with the primary before
    making any other changes, RPO is 0 (no data loss)"; the lag "is directly proportional
    to the time it takes for Aurora to complete the switchover" ("Using switchover or
    failover in Amazon Aurora Global Database",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html).
    """
    if lag.seconds is None:
        return (
            f"replication lag into {cluster}: unknown ({lag.loss_text()}); a switchover "
            "synchronizes first and loses nothing, but how long it takes cannot be estimated"
        )
    return (
        f"replication lag into {cluster}: {lag.seconds:.2f} s ({lag.metric}); a switchover "
        "synchronizes first and loses nothing: the larger the lag, the longer it takes"
    )


def _check_failover_rpo(
    topology: Topology,
    region: str,
    cluster: str,
    lag: LagReading,
    beyond_rpo: bool,
    notes: list[str],
) -> None:
    """A failover loses its lag: above the RPO, or unmeasured, it needs ``--beyond-rpo``.

    # rule: aurora-failover-rpo
    "The RPO for this approach is typically a non-zero value measured in seconds. The
    amount of data loss depends on the Aurora global database replication lag" (same
    page as above): the topology's RPO is the policy a failover is judged against.
    """
    rpo = topology.policy.rpo_seconds
    if lag.seconds is not None and lag.seconds <= rpo:
        return
    if lag.seconds is None:
        what = f"the loss cannot be measured: {lag.loss_text()}"
    else:
        what = (
            f"replication lag into {region} is {lag.seconds:.1f} s, above the RPO of {rpo} s "
            f"({lag.loss_text()})"
        )
    if not beyond_rpo:
        raise RefusedError(
            f"refused: a failover to {region} would break the RPO: {what}; wait for the lag "
            "to fall (mr-failover status), or accept a loss beyond the RPO with --beyond-rpo"
        )
    notes.append(f"--beyond-rpo: {what}; the failover goes ahead")


def _check_rpo(
    topology: Topology,
    region: str,
    cluster: str,
    lag: LagReading,
    allow_data_loss: bool,
    *,
    required: bool,
) -> None:
    """Lag above the RPO refuses unless data loss is allowed; so does no lag if ``required``."""
    if allow_data_loss:
        return
    rpo = topology.policy.rpo_seconds
    if lag.seconds is None:
        if required:
            raise RefusedError(
                f"refused: no replication lag datapoint for {cluster} in {region} in the last "
                f"15 minutes, so the lag cannot be shown to be within the RPO of {rpo} s; "
                "check the replica, or accept the risk with --allow-data-loss"
            )
        return
    if lag.seconds > rpo:
        raise RefusedError(
            f"refused: replication lag into {region} is {lag.seconds:.1f} s, above the RPO of "
            f"{rpo} s: promoting now could lose that much ({lag.loss_text()}); wait for the "
            "lag to fall (mr-failover status), or accept the loss with --allow-data-loss"
        )


def _plan_replica(
    topology: Topology,
    factory: ClientSource,
    region: str,
    spec: Aurora,
    allow_data_loss: bool,
    resuming: bool,
    now: datetime,
) -> Plan:
    rds = factory.client("rds", region)
    target = _member_cluster(factory, region, spec)
    source = target.finding.replication_source
    notes: list[str] = []
    if not source:
        if not resuming:
            raise NothingToDo(
                f"nothing to do: {spec.cluster} ({region}) is not a read replica (already "
                "promoted, or the writer)"
            )
        notes.append(f"{spec.cluster} ({region}) is no longer a read replica")
    else:
        # The writer is the cluster the replica replicates from, as RDS reports it (never
        # the topology's role, which says only where it was when the file was written).
        source_region = arn_region(source) or None
        _check_members(topology, factory, region, target, source_region)
        _check_target_traffic(topology, factory, region, "replica", notes)
        lag = aurora_lag(factory, region, spec.cluster, "replica", now)
        _check_rpo(topology, region, spec.cluster, lag, allow_data_loss, required=True)
        notes.append(
            f"binlog replication from {source} stops for good ({lag.loss_text()}); the old "
            "writer keeps accepting writes: stop the application's writes to it."
        )
    notes[:0] = [
        f"rds:PromoteReadReplicaDBCluster is sent to {region}'s endpoint; it cannot be "
        "undone (a new replica must be built to go back)."
    ]
    notes.append(NOT_INHERITED)
    step = promote_replica_step(rds, cluster_id=spec.cluster, region=region)
    cache_steps = datastore_steps(topology, factory, region, notes, writer_down=False)
    return Plan(
        command="promote",
        params={"region": region, "mode": "replica", "allow_data_loss": allow_data_loss},
        steps=(step, *cache_steps),
        notes=tuple(notes),
    )


def datastore_steps(
    topology: Topology, factory: ClientSource, region: str, notes: list[str], *, writer_down: bool
) -> list[Step]:
    """The ElastiCache Global Datastore promotion that follows the database's, if any.

    The database moves first: the cache holds data derived from it, so it follows the
    writer, and a database move that fails leaves the cache primary beside the writer.
    """
    spec = topology.regions[region].elasticache
    if spec is None:
        return []
    client = factory.client("elasticache", region)
    found = cache.observe_datastore(client, spec.global_datastore)
    member = found.member(region, spec.replication_group)
    if member is None:
        raise RefusedError(
            f"refused: ElastiCache replication group {spec.replication_group} ({region}) is not "
            f"a member of global datastore {found.id}; add it as a secondary first"
        )
    if found.status not in ("available", "modifying"):
        raise RefusedError(
            f"refused: global datastore {found.id} is {found.status}; a failover needs it "
            "available (mr-failover status)"
        )
    old = found.primary_region
    if writer_down and old is not None and old != region:
        # rule: elasticache-promote-anytime
        # "If the primary cluster or AWS Region becomes unavailable or is experiencing
        # performance issues, you can promote a secondary cluster to primary. Promotion is
        # allowed anytime, even if other modifications are in progress" ("Promoting the
        # secondary cluster to primary", Using global datastores (console),
        # https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Redis-Global-Datastores-Console.html#Redis-Global-Datastores-Console-Promote-Secondary).
        notes.append(
            f"ElastiCache: the datastore's primary region {old} does not answer; the "
            "ElastiCache guide allows promoting a secondary then (FailoverGlobalReplicationGroup "
            f"is sent to {region}). The old primary becomes a secondary once its region is back: "
            "writes it took that had not replicated are lost."
        )
    notes.append(
        "order: the Aurora writer moves first, then the ElastiCache global datastore "
        f"{found.id} (elasticache:FailoverGlobalReplicationGroup, sent to {region}); the cache "
        "follows the database, so a failed database move leaves both in "
        f"{old or 'their region'}. The datastore is 'modifying' for minutes; the run waits "
        f"until {spec.replication_group} is PRIMARY."
    )
    return [
        cache.failover_step(
            client,
            datastore=found.id,
            region=region,
            group=spec.replication_group,
            old_primary=old if old != region else None,
        )
    ]


def promoted_writer(topology: Topology, factory: ClientSource, region: str) -> WriterInfo:
    """The target cluster read afresh in its region: its writer endpoint to print."""
    spec = _aurora(topology, region)
    found = read_cluster(factory.client("rds", region), spec.cluster)
    if found is None:
        raise AwsCallError(region, "rds:DescribeDBClusters", f"no cluster {spec.cluster}")
    rebuilding: tuple[str, ...] = ()
    if spec.mode == "global" and spec.global_cluster:
        rebuilding = observe_global_cluster(
            factory.client("rds", region), spec.global_cluster
        ).rebuilding
    return WriterInfo(
        region=region,
        cluster=spec.cluster,
        endpoint=found.endpoint,
        status=found.finding.status,
        rebuilding=rebuilding,
    )
