"""S3 cross-region replication as status sees it: versioning and the replication rules.

Each region reports its own buckets; a rule's destination versioning is in the
destination region's finding, so an unreachable destination never stalls the source.
Pending and failed operations come from CloudWatch in the source region, and only
exist when the rule has replication metrics (or RTC) on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call, call_error, error_code
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
    from mr_failover.topology import Region

_NO_REPLICATION = "ReplicationConfigurationNotFoundError"


@dataclass(frozen=True)
class ReplicationRule:
    id: str
    enabled: bool
    destination_bucket: str
    rtc: bool
    metrics: bool


@dataclass(frozen=True)
class BucketFinding:
    name: str
    versioning: str  # Enabled, Suspended, or Off (never enabled)
    rules: tuple[ReplicationRule, ...]

    def rule_to(self, bucket: str) -> ReplicationRule | None:
        """The enabled rule replicating to ``bucket``, else any rule naming it."""
        rules = [r for r in self.rules if r.destination_bucket == bucket]
        return next((r for r in rules if r.enabled), rules[0] if rules else None)


def observe_bucket(client: Any, name: str) -> BucketFinding:
    versioning = call(client, "get_bucket_versioning", Bucket=name).get("Status", "Off")
    try:
        config = client.get_bucket_replication(Bucket=name)["ReplicationConfiguration"]
    except Exception as exc:
        if error_code(exc) != _NO_REPLICATION:
            raise call_error(client, "get_bucket_replication", exc) from None
        config = {}
    rules = []
    for i, r in enumerate(config.get("Rules", [])):
        dest = r.get("Destination", {})
        rules.append(
            ReplicationRule(
                id=r.get("ID", f"rule-{i}"),
                enabled=r.get("Status") == "Enabled",
                destination_bucket=str(dest.get("Bucket", "")).removeprefix("arn:aws:s3:::"),
                rtc=dest.get("ReplicationTime", {}).get("Status") == "Enabled",
                metrics=dest.get("Metrics", {}).get("Status") == "Enabled",
            )
        )
    return BucketFinding(name=name, versioning=versioning, rules=tuple(rules))


def backlog_queries(source: str, rule: ReplicationRule) -> list[MetricQuery]:
    dims = (
        ("SourceBucket", source),
        ("DestinationBucket", rule.destination_bucket),
        ("RuleId", rule.id),
    )
    return [
        MetricQuery(f"{source}/{rule.id}/{metric}", "AWS/S3", metric, dims)
        for metric in ("OperationsPendingReplication", "OperationsFailedReplication")
    ]


# --- the status section ------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicationBacklog:
    """S3 operations of one rule still pending or failed (None: metric not published)."""

    source_bucket: str
    destination_bucket: str
    destination_region: str
    rule_id: str
    pending: float | None
    failed: float | None


@dataclass(frozen=True)
class S3Status:
    buckets: tuple[BucketFinding, ...]
    backlog: tuple[ReplicationBacklog, ...]


def observe_s3(factory: ClientSource, region: str, spec: Region, now: datetime) -> S3Status:
    client = factory.client("s3", region)
    buckets = tuple(observe_bucket(client, b.name) for b in spec.s3_buckets)
    wanted: list[tuple[str, ReplicationRule, str]] = []
    for bucket, finding in zip(spec.s3_buckets, buckets, strict=True):
        for target in bucket.replicate_to:
            rule = finding.rule_to(target.bucket)
            if rule is not None and (rule.metrics or rule.rtc):
                wanted.append((bucket.name, rule, target.region))
    queries = [q for source, rule, _ in wanted for q in backlog_queries(source, rule)]
    values = (
        cloudwatch.latest_values(factory.client("cloudwatch", region), queries, now=now)
        if queries
        else {}
    )
    backlog = tuple(
        ReplicationBacklog(
            source_bucket=source,
            destination_bucket=rule.destination_bucket,
            destination_region=dest_region,
            rule_id=rule.id,
            pending=values.get(f"{source}/{rule.id}/OperationsPendingReplication"),
            failed=values.get(f"{source}/{rule.id}/OperationsFailedReplication"),
        )
        for source, rule, dest_region in wanted
    )
    return S3Status(buckets=buckets, backlog=backlog)


class S3Section(Section):
    name = "s3"
    rounds = 3  # versioning, replication, the backlog metrics
    title = "S3"

    def reads(self, ctx: ReadContext) -> list[Read]:
        if not ctx.spec.s3_buckets:
            return []
        return [Read("s3", lambda: observe_s3(ctx.factory, ctx.region, ctx.spec, ctx.now))]

    def judge(self, view: RegionView) -> Judgement:
        reasons: list[str] = []
        warnings: list[str] = []
        st = view.get("s3")
        if isinstance(st, S3Status):
            _judge_s3(st, view.spec, reasons, warnings)
        # What the other regions' sources could not replicate into this one.
        for values in view.found.values():
            sender = values.get("s3")
            if not isinstance(sender, S3Status):
                continue
            for b in sender.backlog:
                if b.destination_region != view.region:
                    continue
                if b.failed:
                    reasons.append(
                        f"s3: {b.failed:g} operations failed to replicate "
                        f"{b.source_bucket} -> {b.destination_bucket}"
                    )
                elif b.pending:
                    warnings.append(
                        f"s3: {b.pending:g} operations pending "
                        f"{b.source_bucket} -> {b.destination_bucket}"
                    )
        return Judgement(reasons, warnings, value=st if isinstance(st, S3Status) else None)

    def value_cell(self, st: S3Status, r: RegionStatus) -> Cell:
        rules = [rule for b in st.buckets for rule in b.rules]
        parts = [f"{sum(1 for rule in rules if rule.enabled)}/{len(rules)} on"]
        if any(b.versioning != "Enabled" for b in st.buckets):
            parts.append("unversioned")
        if any(rule.rtc for rule in rules):
            parts.append("RTC")
        failed = sum(b.failed or 0 for b in st.backlog)
        if failed:
            parts.append(f"{failed:g} failed")
        return Cell(", ".join(parts))


def _judge_s3(st: S3Status, spec: Region, reasons: list[str], warnings: list[str]) -> None:
    specs = {b.name: b for b in spec.s3_buckets}
    for b in st.buckets:
        if b.versioning != "Enabled":
            reasons.append(f"s3: versioning is {b.versioning} on {b.name} (replication needs it)")
        bucket = specs[b.name]
        for target in bucket.replicate_to:
            rule = b.rule_to(target.bucket)
            if rule is None or not rule.enabled:
                reasons.append(f"s3: no enabled replication rule {b.name} -> {target.bucket}")
                continue
            if bucket.rtc and not rule.rtc:
                warnings.append(f"s3: RTC is off on {b.name} -> {target.bucket}")
            if not rule.metrics:
                warnings.append(
                    f"s3: replication metrics off on {b.name} -> {target.bucket} "
                    "(backlog not measurable)"
                )


SECTION = S3Section()
