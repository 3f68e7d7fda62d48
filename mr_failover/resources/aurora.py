"""Aurora as status sees it: a region's cluster and its view of the global database.

``DescribeGlobalClusters`` is asked in each member's own region, so an unreachable
region never hides the others' view. Lag comes from CloudWatch in the secondary's
region (:func:`lag_queries`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from mr_failover.aws import call
from mr_failover.errors import AwsCallError, MrFailoverError
from mr_failover.resources import cloudwatch
from mr_failover.resources.cloudwatch import MetricQuery
from mr_failover.resources.section import (
    Cell,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
)

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Region, Topology


@dataclass(frozen=True)
class ClusterFinding:
    id: str
    arn: str
    status: str
    engine: str
    engine_version: str
    replication_source: str | None


@dataclass(frozen=True)
class GlobalMember:
    cluster_arn: str
    region: str
    is_writer: bool
    synchronization: str | None


@dataclass(frozen=True)
class FailoverInProgress:
    status: str
    from_cluster_arn: str | None
    to_cluster_arn: str | None
    data_loss_allowed: bool


@dataclass(frozen=True)
class GlobalClusterFinding:
    id: str
    status: str
    members: tuple[GlobalMember, ...]
    failover: FailoverInProgress | None

    @property
    def writer_region(self) -> str | None:
        return next((m.region for m in self.members if m.is_writer), None)

    def member(self, cluster_arn: str) -> GlobalMember | None:
        return next((m for m in self.members if m.cluster_arn == cluster_arn), None)

    @property
    def rebuilding(self) -> tuple[str, ...]:
        """Regions of secondaries being rebuilt (``pending-resync``), not readable meanwhile.

        # rule: aurora-rebuild-after-failover
        After a managed failover "Aurora ... automatically rebuilds all additional
        secondary Region clusters ... The duration of the complete rebuilding task can take
        a few minutes to several hours", and the old primary comes back as a secondary with
        a new storage volume ("Using switchover or failover in Amazon Aurora Global
        Database",
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html).
        """
        return tuple(
            m.region
            for m in self.members
            if not m.is_writer and m.synchronization == "pending-resync"
        )


def arn_region(arn: str) -> str:
    """``arn:aws:rds:us-west-2:...`` -> ``us-west-2``."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def observe_cluster(client: Any, cluster_id: str) -> ClusterFinding:
    out = call(client, "describe_db_clusters", DBClusterIdentifier=cluster_id)
    clusters = out.get("DBClusters", [])
    if not clusters:
        raise AwsCallError(
            client.meta.region_name, "rds:DescribeDBClusters", f"no cluster {cluster_id}"
        )
    return cluster_finding(clusters[0])


def cluster_finding(c: Mapping[str, Any]) -> ClusterFinding:
    """One entry of DescribeDBClusters' ``DBClusters``."""
    return ClusterFinding(
        id=c["DBClusterIdentifier"],
        arn=c["DBClusterArn"],
        status=c.get("Status", "unknown"),
        engine=c.get("Engine", ""),
        engine_version=c.get("EngineVersion", ""),
        replication_source=c.get("ReplicationSourceIdentifier"),
    )


def observe_global_cluster(client: Any, global_id: str) -> GlobalClusterFinding:
    out = call(client, "describe_global_clusters", GlobalClusterIdentifier=global_id)
    clusters = out.get("GlobalClusters", [])
    if not clusters:
        raise AwsCallError(
            client.meta.region_name,
            "rds:DescribeGlobalClusters",
            f"no global cluster {global_id}",
        )
    g = clusters[0]
    members = tuple(
        GlobalMember(
            cluster_arn=m["DBClusterArn"],
            region=arn_region(m["DBClusterArn"]),
            is_writer=bool(m.get("IsWriter", False)),
            synchronization=m.get("SynchronizationStatus"),
        )
        for m in g.get("GlobalClusterMembers", [])
    )
    fs = g.get("FailoverState")
    failover = None
    if fs and fs.get("Status"):
        failover = FailoverInProgress(
            status=fs["Status"],
            from_cluster_arn=fs.get("FromDbClusterArn"),
            to_cluster_arn=fs.get("ToDbClusterArn"),
            data_loss_allowed=bool(fs.get("IsDataLossAllowed", False)),
        )
    return GlobalClusterFinding(
        id=g["GlobalClusterIdentifier"],
        status=g.get("Status", "unknown"),
        members=members,
        failover=failover,
    )


# Metric -> factor to seconds. RPO lag (newer engines) is the closest to "what a
# failover would lose", so it is preferred when both are published.
GLOBAL_LAG_METRICS = (("AuroraGlobalDBRPOLag", 0.001), ("AuroraGlobalDBReplicationLag", 0.001))
REPLICA_LAG_METRICS = (("AuroraBinlogReplicaLag", 1.0),)


def lag_queries(
    cluster_id: str, mode: str, source_region: str | None = None
) -> list[tuple[MetricQuery, float]]:
    """The lag metrics of ``cluster_id``, most telling first.

    # rule: aurora-lag-dimensions
    CloudWatch matches a query's dimensions exactly, and the global database lag metrics
    are published with ``DBClusterIdentifier`` and ``SourceRegion`` (the primary's
    region): the AWS Aurora workshop reads ``AuroraGlobalDBReplicationLag`` from the
    metric group "DBClusterIdentifier, SourceRegion" (awslabs "Monitor an Aurora global
    database", https://awsauroralabsmy.com/global/monitor/; the cluster-level metrics are
    listed in "Amazon CloudWatch metrics for Amazon Aurora",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html).
    Whether AWS also publishes them under ``DBClusterIdentifier`` alone is not documented,
    so both sets are asked when ``source_region`` is known (see docs/SANDBOX.md,
    assumptions).
    """
    metrics = GLOBAL_LAG_METRICS if mode == "global" else REPLICA_LAG_METRICS
    dimension_sets: list[tuple[tuple[str, str], ...]] = []
    if source_region and mode == "global":
        dimension_sets.append(
            (("DBClusterIdentifier", cluster_id), ("SourceRegion", source_region))
        )
    dimension_sets.append((("DBClusterIdentifier", cluster_id),))
    return [
        (MetricQuery(f"{name}/{'/'.join(v for _, v in dims)}", "AWS/RDS", name, dims), factor)
        for name, factor in metrics
        for dims in dimension_sets
    ]


def lag_seconds(
    values: dict[str, float | None], queries: list[tuple[MetricQuery, float]]
) -> tuple[float | None, str | None]:
    """The first published lag among ``queries``, in seconds, and its metric name."""
    for query, factor in queries:
        value = values.get(query.key)
        if value is not None:
            return value * factor, query.metric
    return None, None


# --- split brain: which regions accept writes ---------------------------------------------


@dataclass(frozen=True)
class SplitBrain:
    """Which regions' clusters accept writes, and which of them are split brain.

    A cluster accepts writes when it is ``available`` and (global mode) is the global
    writer or not a member of the global cluster at all (detached, or an old primary that
    came back standalone), or (replica mode) replicates from nothing. Split brain: a
    region that accepts writes without being the global writer; in replica mode, every
    writable region once more than one is writable (which one is legitimate is the
    operator's call).
    """

    mode: str
    writer_region: str | None  # the global writer (global mode) or the only writable region
    writable: tuple[str, ...]
    split: tuple[str, ...]
    detached: tuple[str, ...] = ()  # global mode: regions whose cluster is not a member

    def why(self, region: str) -> str:
        """One clause saying why ``region`` is split brain."""
        if self.mode == "replica":
            return (
                f"{len(self.writable)} clusters accept writes ({', '.join(self.writable)}): "
                "binlog replication connects none of them any more"
            )
        where = (
            f"the global writer is in {self.writer_region}"
            if self.writer_region
            else ("the global cluster has no writer")
        )
        return f"its cluster is not a member of the global cluster and is writable; {where}"


def accepts_writes(cluster: ClusterFinding, g: GlobalClusterFinding | None) -> bool:
    """Whether ``cluster`` takes writes (``g``: its global cluster, None in replica mode)."""
    if cluster.status != "available":
        return False
    if g is None:
        return not cluster.replication_source
    member = g.member(cluster.arn)
    return member is None or member.is_writer


def split_brain(
    mode: str, clusters: Mapping[str, ClusterFinding], g: GlobalClusterFinding | None
) -> SplitBrain:
    """Judge ``clusters`` (region -> its cluster) against the global cluster ``g``."""
    if mode == "global":
        if g is None:  # nobody could read the global cluster: no judgement
            return SplitBrain(mode, None, (), ())
        writable = tuple(r for r, c in clusters.items() if accepts_writes(c, g))
        detached = tuple(r for r, c in clusters.items() if g.member(c.arn) is None)
        writer = g.writer_region
        split = tuple(r for r in writable if r != writer)
        return SplitBrain(mode, writer, writable, split, detached)
    writable = tuple(r for r, c in clusters.items() if accepts_writes(c, None))
    if len(writable) > 1:
        return SplitBrain(mode, None, writable, writable)
    return SplitBrain(mode, writable[0] if writable else None, writable, ())


# --- the status section ------------------------------------------------------------------


@dataclass(frozen=True)
class AuroraStatus:
    mode: str
    cluster: ClusterFinding
    global_cluster: GlobalClusterFinding | None
    lag_seconds: float | None
    lag_metric: str | None
    # How old the lag datapoint was when read (None: no datapoint).
    lag_age_seconds: float | None = None


def observe_aurora(factory: ClientSource, region: str, spec: Region, now: datetime) -> AuroraStatus:
    assert spec.aurora is not None
    rds = factory.client("rds", region)
    cluster = observe_cluster(rds, spec.aurora.cluster)
    global_cluster = None
    if spec.aurora.mode == "global" and spec.aurora.global_cluster:
        global_cluster = observe_global_cluster(rds, spec.aurora.global_cluster)
    lag = lag_metric = age = None
    is_writer = (
        global_cluster.writer_region == region
        if global_cluster is not None
        else cluster.replication_source is None
    )
    if not is_writer:
        source = global_cluster.writer_region if global_cluster is not None else None
        queries = lag_queries(cluster.id, spec.aurora.mode, source)
        points = cloudwatch.latest_points(
            factory.client("cloudwatch", region), [q for q, _ in queries], now=now
        )
        lag, lag_metric = lag_seconds(
            {k: None if p is None else p.value for k, p in points.items()}, queries
        )
        found = next((points[q.key] for q, _ in queries if points.get(q.key) is not None), None)
        age = None if found is None else round(found.age(now), 1)
    return AuroraStatus(
        mode=spec.aurora.mode,
        cluster=cluster,
        global_cluster=global_cluster,
        lag_seconds=lag,
        lag_metric=lag_metric,
        lag_age_seconds=age,
    )


def writer_region(found: Mapping[str, Mapping[str, object]]) -> str | None:
    """The Aurora writer as the answering regions see it (None: nobody could tell)."""
    for values in found.values():
        a = values.get("aurora")
        if isinstance(a, AuroraStatus) and a.global_cluster is not None:
            return a.global_cluster.writer_region
    for name, values in found.items():
        a = values.get("aurora")
        if isinstance(a, AuroraStatus) and a.cluster.replication_source is None:
            return name
    return None


def split_regions(found: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Region -> why its database is split brain (accepts writes, is not the writer).

    Global mode: each region against its own view of the global cluster. Replica mode:
    across the observed regions (more than one writable cluster).
    """
    seen = {
        name: a
        for name, values in found.items()
        if isinstance(a := values.get("aurora"), AuroraStatus)
    }
    replicas = {name: a.cluster for name, a in seen.items() if a.mode == "replica"}
    judged = split_brain("replica", replicas, None)
    out = {name: judged.why(name) for name in judged.split}
    for name, a in seen.items():
        if a.mode == "global":
            one = split_brain("global", {name: a.cluster}, a.global_cluster)
            out |= {name: one.why(name) for name in one.split}
    return out


class AuroraSection(Section):
    name = "aurora"
    rounds = 3  # DescribeDBClusters, DescribeGlobalClusters, the lag metric
    title = "Aurora"

    def reads(self, ctx: ReadContext) -> list[Read]:
        if ctx.spec.aurora is None:
            return []
        return [Read("aurora", lambda: observe_aurora(ctx.factory, ctx.region, ctx.spec, ctx.now))]

    def assemble(
        self, topology: Topology, found: Mapping[str, Mapping[str, object]]
    ) -> dict[str, object]:
        return {"writer": writer_region(found), "split_brain": split_regions(found)}

    def judge(self, view: RegionView) -> Judgement:
        if view.spec.aurora is None:
            return Judgement()
        writer = view.facts.get("writer")
        split = cast("dict[str, str]", view.facts.get("split_brain", {})).get(view.region)
        a = view.get("aurora")
        attrs = {"is_writer": None if writer is None else writer == view.region}
        if not isinstance(a, AuroraStatus):
            return Judgement(attrs=attrs)
        reasons: list[str] = []
        warnings: list[str] = []
        _judge_aurora(a, view.region, view.rpo, reasons, warnings, split)
        attrs["split_brain"] = split is not None
        return Judgement(reasons, warnings, value=a, attrs=attrs)

    def value_cell(self, a: AuroraStatus, r: RegionStatus) -> Cell:
        if r.split_brain:
            return Cell("SPLIT BRAIN", "bold red")
        parts: list[str] = []
        member = a.global_cluster.member(a.cluster.arn) if a.global_cluster else None
        writer = member.is_writer if member else a.cluster.replication_source is None
        if writer:
            parts.append("writer")
        if a.cluster.status != "available":
            parts.append(a.cluster.status)
        if member and member.synchronization not in (None, "connected"):
            parts.append(str(member.synchronization))
        if a.global_cluster and a.global_cluster.failover:
            parts.append(a.global_cluster.failover.status)
        if not writer:
            parts.append("lag ?" if a.lag_seconds is None else f"lag {a.lag_seconds:.1f}s")
            if a.lag_age_seconds is not None:
                parts[-1] += f" ({a.lag_age_seconds:.0f}s ago)"
        return Cell(", ".join(parts))

    def to_json(self, value: Any) -> Any:
        if not isinstance(value, AuroraStatus):
            return None
        out = asdict(value)
        if value.global_cluster is not None:
            out["global_cluster"]["writer_region"] = value.global_cluster.writer_region
        return out


def _judge_aurora(
    a: AuroraStatus,
    region: str,
    rpo: int,
    reasons: list[str],
    warnings: list[str],
    split: str | None = None,
) -> None:
    if split is not None:
        reasons.append(
            f"aurora: SPLIT BRAIN: {a.cluster.id} accepts writes without being the writer "
            f"({split}); fence it: mr-failover fence --region {region}"
        )
    if a.cluster.status != "available":
        reasons.append(f"aurora: cluster {a.cluster.id} is {a.cluster.status}")
    g = a.global_cluster
    is_writer = a.cluster.replication_source is None
    if g is not None:
        member = g.member(a.cluster.arn)
        if member is None:
            if split is None:  # else the split-brain reason says it
                reasons.append(f"aurora: {a.cluster.id} is not a member of global cluster {g.id}")
            return
        is_writer = member.is_writer
        if g.failover is not None:
            f = g.failover
            src = arn_region(f.from_cluster_arn or "") or "?"
            dst = arn_region(f.to_cluster_arn or "") or "?"
            reasons.append(f"aurora: {g.id} is {f.status} from {src} to {dst}")
        if not is_writer and member.synchronization == "pending-resync":
            reasons.append(
                f"aurora: {a.cluster.id} is being rebuilt by Aurora after a failover "
                "(pending-resync; minutes to hours): it cannot take over until connected"
            )
        elif not is_writer and member.synchronization not in (None, "connected"):
            reasons.append(f"aurora: {a.cluster.id} synchronization is {member.synchronization}")
    if is_writer:
        return
    if a.lag_seconds is None:
        warnings.append(f"aurora: no replication lag datapoint for {a.cluster.id} in 15 min")
    elif a.lag_seconds > rpo:
        reasons.append(
            f"aurora: replication lag {a.lag_seconds:.1f} s exceeds RPO {rpo} s ({a.lag_metric})"
        )


SECTION = AuroraSection()


# --- the writer, as AWS reports it --------------------------------------------------------


def observed_writer(
    topology: Topology, factory: ClientSource, *, ask_first: Sequence[str] = ()
) -> tuple[str | None, str]:
    """The Aurora writer's region as AWS reports it now, or (None, why it is unknown).

    Global mode: the member ``DescribeGlobalClusters`` reports with ``IsWriter``, asked in
    each member region in turn (``ask_first`` first: a region that may be down goes
    last). Replica mode: the region whose cluster replicates from nothing, or the region
    a replica's ``ReplicationSourceIdentifier`` names. Never the topology's ``role``,
    which only says where the writer was when the file was written.
    """
    order = list(dict.fromkeys([*ask_first, *topology.regions]))
    problems: list[str] = []
    for name in order:
        spec = topology.regions[name].aurora if name in topology.regions else None
        if spec is None:
            continue
        rds = factory.client("rds", name)
        try:
            if spec.mode == "global" and spec.global_cluster:
                g = observe_global_cluster(rds, spec.global_cluster)
                if g.writer_region:
                    return g.writer_region, ""
                return None, f"global cluster {g.id} reports no writer (IsWriter)"
            c = observe_cluster(rds, spec.cluster)
        except MrFailoverError as exc:
            problems.append(str(exc))
            continue
        if c.replication_source is None and c.status == "available":
            return name, ""
        if c.replication_source and arn_region(c.replication_source):
            return arn_region(c.replication_source), ""
    return None, "; ".join(problems) or "no region's Aurora cluster could tell"
