"""status.observe against moto in-process: the example topology, seeded through boto3."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
import pytest

from mr_failover.status import StatusReport, observe

if TYPE_CHECKING:
    from conftest import Seeded

E, W = "us-east-1", "us-west-2"
# moto 5.2.5 has no DynamoDB replicas (ReplicaUpdates is a no-op): the example's
# global tables always show these reasons under moto.
NO_REPLICAS = {
    E: (
        "dynamodb: arc309-orders has no replica in us-west-2",
        "dynamodb: arc309-sessions has no replica in us-west-2",
    ),
    W: (
        "dynamodb: arc309-orders has no replica in us-east-1",
        "dynamodb: arc309-sessions has no replica in us-east-1",
    ),
}


def _observe(s: Seeded) -> StatusReport:
    return observe(s.topology, s.factory, deadline=20)


def test_example_topology_observed_end_to_end(seeded: Seeded) -> None:
    report = _observe(seeded)
    east, west = report.region(E), report.region(W)
    assert report.account is not None and report.account.matches
    assert (east.is_writer, west.is_writer) == (True, False)
    assert east.reasons == NO_REPLICAS[E]
    assert west.reasons == NO_REPLICAS[W]
    assert (east.verdict, west.verdict) == ("degraded", "degraded")
    assert report.exit_code == 4
    # Health check ids were looked up by their Name tag, the zone by its name.
    assert east.traffic is not None
    assert east.traffic.health_checks[0].id == seeded.health_check_ids["api-us-east-1"]
    record = east.traffic.records[0]
    assert (record.found, record.routing_policy, record.region) == (True, "latency", E)
    assert record.health_check_id == seeded.health_check_ids["api-us-east-1"]
    assert west.aurora is not None and west.aurora.global_cluster is not None
    assert west.aurora.global_cluster.writer_region == E
    assert west.s3 is not None
    rule = west.s3.buckets[0].rules[0]
    assert (rule.enabled, rule.destination_bucket, rule.rtc, rule.metrics) == (
        True,
        "arc309-assets-use1",
        True,
        True,
    )
    assert west.compute is not None
    assert [(s.kind, s.desired, s.running) for s in west.compute.services] == [
        ("ecs", 0, 0),
        ("asg", 2, 2),
    ]
    assert [(f.name, f.found, f.state) for f in west.compute.functions] == [
        ("arc309-orders-stream", True, "Active")
    ]
    assert west.warnings == (
        "aurora: no replication lag datapoint for arc309-usw2 in 15 min",
        "compute: ecs arc309/api is scaled to 0 (takeover scales it to 4)",
    )


def test_aurora_lag_metric_in_the_secondary_region(seeded: Seeded) -> None:
    now = datetime.now(UTC)
    boto3.client("cloudwatch", region_name=W).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "AuroraGlobalDBReplicationLag",
                "Dimensions": [{"Name": "DBClusterIdentifier", "Value": "arc309-usw2"}],
                "Timestamp": now,
                "Value": 95_000.0,
                "Unit": "Milliseconds",
            }
        ],
    )
    west = _observe(seeded).region(W)
    assert west.aurora is not None and west.aurora.lag_seconds == 95.0
    assert "aurora: replication lag 95.0 s exceeds RPO 60 s (AuroraGlobalDBReplicationLag)" in (
        west.reasons
    )


def test_inverted_health_check_is_read_from_route53(seeded: Seeded) -> None:
    r53 = boto3.client("route53", region_name=E)
    check = seeded.health_check_ids["api-us-west-2"]
    r53.update_health_check(HealthCheckId=check, Inverted=True)
    west = _observe(seeded).region(W)
    assert west.traffic is not None
    hc = west.traffic.health_checks[0]
    assert (hc.inverted, hc.raw_healthy, hc.effective_healthy) == (True, True, False)


def test_s3_versioning_and_failed_replication(seeded: Seeded) -> None:
    boto3.client("s3", region_name=W).put_bucket_versioning(
        Bucket="arc309-assets-usw2", VersioningConfiguration={"Status": "Suspended"}
    )
    boto3.client("cloudwatch", region_name=E).put_metric_data(
        Namespace="AWS/S3",
        MetricData=[
            {
                "MetricName": "OperationsFailedReplication",
                "Dimensions": [
                    {"Name": "SourceBucket", "Value": "arc309-assets-use1"},
                    {"Name": "DestinationBucket", "Value": "arc309-assets-usw2"},
                    {"Name": "RuleId", "Value": "to-us-west-2"},
                ],
                "Timestamp": datetime.now(UTC),
                "Value": 3,
            }
        ],
    )
    report = _observe(seeded)
    west = report.region(W)
    assert west.reasons == (
        *NO_REPLICAS[W],
        "s3: versioning is Suspended on arc309-assets-usw2 (replication needs it)",
        "s3: 3 operations failed to replicate arc309-assets-use1 -> arc309-assets-usw2",
    )
    east = report.region(E)
    assert east.s3 is not None and east.s3.backlog[0].failed == 3


def test_missing_compute_is_named(seeded: Seeded) -> None:
    boto3.client("autoscaling", region_name=W).delete_auto_scaling_group(
        AutoScalingGroupName="arc309-web-usw2", ForceDelete=True
    )
    boto3.client("lambda", region_name=W).delete_function(FunctionName="arc309-orders-stream")
    west = _observe(seeded).region(W)
    assert west.reasons[-2:] == (
        "compute: asg arc309-web-usw2 not found",
        "compute: lambda arc309-orders-stream not found",
    )


@pytest.mark.parametrize("region", [E, W])
def test_region_filter(seeded: Seeded, region: str) -> None:
    report = observe(seeded.topology, seeded.factory, regions=[region])
    assert [r.name for r in report.regions] == [region]
    assert report.to_json()["regions"][0]["name"] == region
