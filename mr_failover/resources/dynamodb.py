"""DynamoDB global tables as status sees them: the table and its replicas, from one region.

``ReplicationLatency`` is published in the SENDING region with dimensions ``TableName``
and ``ReceivingRegion``, so each region reports the lag of what it sends; status then
reads the lag into a region from the others' findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call
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
    from mr_failover.topology import Topology


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


# --- the status section ------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingLag:
    """DynamoDB replication latency into a region, as the sending region published it."""

    table: str
    source_region: str
    milliseconds: float | None


@dataclass(frozen=True)
class DynamoDbStatus:
    tables: tuple[TableFinding, ...]
    outgoing: tuple[OutgoingLag, ...]
    # Replication into this region, as the other regions published it (the judgement
    # fills it in from their reads, so a dead sender never hides this region's state).
    incoming: tuple[IncomingLag, ...] = ()


def observe_dynamodb(
    factory: ClientSource, region: str, topology: Topology, now: datetime
) -> DynamoDbStatus:
    client = factory.client("dynamodb", region)
    names = topology.regions[region].dynamodb_tables
    tables = tuple(observe_table(client, name) for name in names)
    queries = []
    for name in names:
        peers = [
            n for n, r in topology.regions.items() if n != region and name in r.dynamodb_tables
        ]
        queries.extend(latency_queries(name, peers))
    values = cloudwatch.latest_values(factory.client("cloudwatch", region), queries, now=now)
    outgoing = tuple(
        OutgoingLag(
            table=dict(q.dimensions)["TableName"],
            receiving_region=dict(q.dimensions)["ReceivingRegion"],
            milliseconds=values[q.key],
        )
        for q in queries
    )
    return DynamoDbStatus(tables=tables, outgoing=outgoing)


def incoming_lags(
    region: str, found: Mapping[str, Mapping[str, object]]
) -> tuple[IncomingLag, ...]:
    return tuple(
        IncomingLag(table=lag.table, source_region=sender, milliseconds=lag.milliseconds)
        for sender, values in found.items()
        if isinstance(d := values.get("dynamodb"), DynamoDbStatus)
        for lag in d.outgoing
        if lag.receiving_region == region
    )


class DynamoDbSection(Section):
    name = "dynamodb"
    title = "DynamoDB"

    def reads(self, ctx: ReadContext) -> list[Read]:
        if not ctx.spec.dynamodb_tables:
            return []
        return [
            Read(
                "dynamodb", lambda: observe_dynamodb(ctx.factory, ctx.region, ctx.topology, ctx.now)
            )
        ]

    def judge(self, view: RegionView) -> Judgement:
        reasons: list[str] = []
        warnings: list[str] = []
        rpo = view.rpo
        d = view.get("dynamodb")
        incoming = incoming_lags(view.region, view.found)
        if not isinstance(d, DynamoDbStatus):
            return Judgement()
        for t in d.tables:
            if t.status != "ACTIVE":
                reasons.append(f"dynamodb: table {t.name} is {t.status}")
            peers = [
                n
                for n, r in view.topology.regions.items()
                if n != view.region and t.name in r.dynamodb_tables
            ]
            for peer in peers:
                replica = t.replica(peer)
                if replica is None:
                    reasons.append(f"dynamodb: {t.name} has no replica in {peer}")
                elif replica.status != "ACTIVE":
                    warnings.append(f"dynamodb: {t.name} replica in {peer} is {replica.status}")
        for lag in incoming:
            if lag.milliseconds is not None and lag.milliseconds > rpo * 1000:
                reasons.append(
                    f"dynamodb: {lag.table} replication from {lag.source_region} lags "
                    f"{lag.milliseconds / 1000:.1f} s (RPO {rpo} s)"
                )
        return Judgement(reasons, warnings, value=replace(d, incoming=incoming))

    def value_cell(self, d: DynamoDbStatus, r: RegionStatus) -> Cell:
        active = sum(1 for t in d.tables if t.status == "ACTIVE")
        text = f"{active}/{len(d.tables)} active"
        lags = [i.milliseconds for i in d.incoming if i.milliseconds is not None]
        if lags:
            text += f", lag {max(lags) / 1000:.1f}s"
        return Cell(text)


SECTION = DynamoDbSection()
