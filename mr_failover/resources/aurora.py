"""Aurora as status sees it: a region's cluster and its view of the global database.

``DescribeGlobalClusters`` is asked in each member's own region, so an unreachable
region never hides the others' view. Lag comes from CloudWatch in the secondary's
region (:func:`lag_queries`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mr_failover.aws import call
from mr_failover.errors import AwsCallError
from mr_failover.resources.cloudwatch import MetricQuery


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
