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


def lag_queries(cluster_id: str, mode: str) -> list[tuple[MetricQuery, float]]:
    metrics = GLOBAL_LAG_METRICS if mode == "global" else REPLICA_LAG_METRICS
    return [
        (MetricQuery(name, "AWS/RDS", name, (("DBClusterIdentifier", cluster_id),)), factor)
        for name, factor in metrics
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
