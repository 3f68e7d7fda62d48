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

from mr_failover.aws import call, call_error, error_code, not_aws_answer
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
    at_once,
)

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Topology


@dataclass(frozen=True)
class ReplicaFinding:
    region: str
    status: str


CURRENT_VERSION = "2019.11.21"
LEGACY_VERSION = "2017.11.29"
# rule: dynamodb-legacy-global-tables
# Two versions of global tables exist. DescribeTable shows GlobalTableVersion "2019.11.21"
# and the Replicas of a current-version table; a version 2017.11.29 (Legacy) replica is
# recognised by a successful DescribeGlobalTable, which "only applies to Version
# 2017.11.29 (Legacy)" and lists its ReplicationGroup ("DynamoDB global tables versions",
# Amazon DynamoDB Developer Guide,
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/globaltables.DetermineVersion.html;
# DescribeGlobalTable, Amazon DynamoDB API Reference,
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeGlobalTable.html).
UPGRADE_GUIDE = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_upgrade.html"
)


@dataclass(frozen=True)
class TableFinding:
    name: str
    region: str
    status: str
    replicas: tuple[ReplicaFinding, ...]
    # GlobalTableVersion: "2019.11.21", "2017.11.29" (legacy, from DescribeGlobalTable),
    # None for a table that is not a global table (or was not asked about).
    version: str | None = None

    def replica(self, region: str) -> ReplicaFinding | None:
        return next((r for r in self.replicas if r.region == region), None)

    @property
    def legacy(self) -> bool:
        return self.version == LEGACY_VERSION


@dataclass(frozen=True)
class OutgoingLag:
    """Replication latency of ``table`` from the observed region into ``receiving_region``."""

    table: str
    receiving_region: str
    milliseconds: float | None


def observe_table(client: Any, name: str, *, global_table: bool = True) -> TableFinding:
    """The table and its replicas: ``DescribeTable`` for the current version of global
    tables; for a table that reports none, ``DescribeGlobalTable`` (``global_table``: the
    caller expects replicas), which answers only for a legacy (2017.11.29) global table."""
    t = call(client, "describe_table", TableName=name)["Table"]
    version = t.get("GlobalTableVersion")
    replicas = tuple(
        ReplicaFinding(region=r["RegionName"], status=r.get("ReplicaStatus", "unknown"))
        for r in t.get("Replicas", [])
    )
    if global_table and not replicas and version != CURRENT_VERSION:
        legacy = _legacy_replicas(client, name)
        if legacy is not None:
            version, replicas = LEGACY_VERSION, legacy
    return TableFinding(
        name=name,
        region=client.meta.region_name,
        status=t.get("TableStatus", "unknown"),
        replicas=replicas,
        version=version,
    )


def _legacy_replicas(client: Any, name: str) -> tuple[ReplicaFinding, ...] | None:
    """The replication group of the legacy global table ``name``; None when it is none."""
    try:
        out = client.describe_global_table(GlobalTableName=name)
    except Exception as exc:
        if error_code(exc) in ("GlobalTableNotFoundException", "UnknownOperationException"):
            return None
        if not_aws_answer(exc):
            # The endpoint answered DescribeTable but not this call (a plain moto server
            # serves no legacy global tables): there is no legacy table to find there.
            return None
        raise call_error(client, "describe_global_table", exc) from None
    group = out.get("GlobalTableDescription", {}).get("ReplicationGroup", [])
    return tuple(
        ReplicaFinding(region=r["RegionName"], status=r.get("ReplicaStatus", "ACTIVE"))
        for r in group
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
    peers_of = {
        name: [n for n, r in topology.regions.items() if n != region and name in r.dynamodb_tables]
        for name in names
    }
    queries = []
    for name in names:
        peers = [
            n for n, r in topology.regions.items() if n != region and name in r.dynamodb_tables
        ]
        queries.extend(latency_queries(name, peers))
    # The tables one after another (one client), their lag metrics meanwhile: the
    # queries come from the topology, not from the tables' answers.
    tables, values = at_once(
        lambda: tuple(
            observe_table(client, name, global_table=bool(peers_of[name])) for name in names
        ),
        lambda: cloudwatch.latest_values(factory.client("cloudwatch", region), queries, now=now),
    )
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
    rounds = 2  # the tables one after another
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
            if t.legacy:
                warnings.append(
                    f"dynamodb: {t.name} is a version 2017.11.29 (Legacy) global table "
                    "(replicas read with DescribeGlobalTable); AWS recommends upgrading to "
                    f"version 2019.11.21 (Current): {UPGRADE_GUIDE}"
                )
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
