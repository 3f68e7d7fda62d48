"""DynamoDB global tables as status sees them: the table and its replicas, from one region.

``ReplicationLatency`` is published in the SENDING region with dimensions ``TableName``
and ``ReceivingRegion``, so each region reports the lag of what it sends; status then
reads the lag into a region from the others' findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mr_failover.aws import call
from mr_failover.resources.cloudwatch import MetricQuery


@dataclass(frozen=True)
class ReplicaFinding:
    region: str
    status: str


@dataclass(frozen=True)
class TableFinding:
    name: str
    region: str
    status: str
    replicas: tuple[ReplicaFinding, ...]

    def replica(self, region: str) -> ReplicaFinding | None:
        return next((r for r in self.replicas if r.region == region), None)


@dataclass(frozen=True)
class OutgoingLag:
    """Replication latency of ``table`` from the observed region into ``receiving_region``."""

    table: str
    receiving_region: str
    milliseconds: float | None


def observe_table(client: Any, name: str) -> TableFinding:
    t = call(client, "describe_table", TableName=name)["Table"]
    return TableFinding(
        name=name,
        region=client.meta.region_name,
        status=t.get("TableStatus", "unknown"),
        replicas=tuple(
            ReplicaFinding(region=r["RegionName"], status=r.get("ReplicaStatus", "unknown"))
            for r in t.get("Replicas", [])
        ),
    )


def latency_queries(table: str, receiving_regions: Sequence[str]) -> list[MetricQuery]:
    return [
        MetricQuery(
            f"{table}->{region}",
            "AWS/DynamoDB",
            "ReplicationLatency",
            (("TableName", table), ("ReceivingRegion", region)),
            stat="Average",
        )
        for region in receiving_regions
    ]
