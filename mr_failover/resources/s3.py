"""S3 cross-region replication as status sees it: versioning and the replication rules.

Each region reports its own buckets; a rule's destination versioning is in the
destination region's finding, so an unreachable destination never stalls the source.
Pending and failed operations come from CloudWatch in the source region, and only
exist when the rule has replication metrics (or RTC) on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mr_failover.aws import call, call_error, error_code
from mr_failover.resources.cloudwatch import MetricQuery

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
