"""Edge cases of the S3, compute and CloudWatch observations, with Stubber."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from mr_failover.errors import CredentialsError
from mr_failover.resources import cloudwatch, compute, s3
from mr_failover.topology import EcsService, LambdaFunction

NOW = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)


def _client(service: str, region: str = "us-west-2") -> Any:
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    ).client(service, region_name=region)


def test_bucket_without_replication_configuration() -> None:
    client = _client("s3")
    with Stubber(client) as stub:
        stub.add_response("get_bucket_versioning", {}, {"Bucket": "b"})
        stub.add_client_error(
            "get_bucket_replication",
            service_error_code="ReplicationConfigurationNotFoundError",
            http_status_code=404,
        )
        finding = s3.observe_bucket(client, "b")
    assert finding == s3.BucketFinding(name="b", versioning="Off", rules=())
    assert finding.rule_to("other") is None


def test_bucket_replication_denied_is_translated() -> None:
    client = _client("s3")
    with Stubber(client) as stub:
        stub.add_response("get_bucket_versioning", {"Status": "Enabled"}, {"Bucket": "b"})
        stub.add_client_error(
            "get_bucket_replication", service_error_code="AccessDenied", http_status_code=403
        )
        with pytest.raises(CredentialsError) as info:
            s3.observe_bucket(client, "b")
    assert str(info.value).startswith("s3:GetBucketReplication in us-west-2: access denied")


def test_rule_to_prefers_the_enabled_rule() -> None:
    rules = (
        s3.ReplicationRule("old", False, "dest", False, False),
        s3.ReplicationRule("new", True, "dest", True, True),
    )
    assert s3.BucketFinding("b", "Enabled", rules).rule_to("dest") == rules[1]


def test_ecs_inactive_service_counts_as_missing() -> None:
    client = _client("ecs")
    with Stubber(client) as stub:
        stub.add_response(
            "describe_services",
            {
                "services": [
                    {"serviceName": "api", "status": "INACTIVE", "desiredCount": 0},
                    {"serviceName": "worker", "status": "ACTIVE", "desiredCount": 3,
                     "runningCount": 2},
                ]
            },
            {"cluster": "shop", "services": ["api", "worker"]},
        )  # fmt: skip
        found = compute.observe_ecs_services(
            client,
            [
                EcsService(cluster="shop", service="api"),
                EcsService(cluster="shop", service="worker"),
            ],
        )
    assert [(f.name, f.found, f.desired, f.running) for f in found] == [
        ("shop/api", False, 0, 0),
        ("shop/worker", True, 3, 2),
    ]


def test_lambda_missing_and_pending() -> None:
    client = _client("lambda")
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_function_configuration",
            service_error_code="ResourceNotFoundException",
            http_status_code=404,
        )
        stub.add_response(
            "get_function_configuration",
            {"FunctionName": "b", "State": "Pending"},
            {"FunctionName": "b"},
        )
        found = compute.observe_functions(
            client, [LambdaFunction(name="a"), LambdaFunction(name="b")]
        )
    assert found == [
        compute.FunctionFinding("a", False),
        compute.FunctionFinding("b", True, "Pending"),
    ]


def test_latest_values_pages_and_picks_the_newest_point() -> None:
    client = _client("cloudwatch")
    queries = [
        cloudwatch.MetricQuery("a", "AWS/X", "M", (("D", "1"),)),
        cloudwatch.MetricQuery("b", "AWS/X", "M", (("D", "2"),)),
    ]
    t1, t2 = NOW - timedelta(minutes=3), NOW - timedelta(minutes=1)
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [{"Id": "q0", "Timestamps": [t1, t2], "Values": [9.0, 4.0]}],
             "NextToken": "n"},
            {"MetricDataQueries": ANY, "ScanBy": "TimestampDescending",
             # Aligned on the minute after NOW (EndTime is exclusive).
             "StartTime": datetime(2026, 11, 27, 11, 46, tzinfo=UTC),
             "EndTime": datetime(2026, 11, 27, 12, 1, tzinfo=UTC)},
        )  # fmt: skip
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [{"Id": "q1", "Timestamps": [], "Values": []}]},
            {"MetricDataQueries": ANY, "ScanBy": ANY, "StartTime": ANY, "EndTime": ANY,
             "NextToken": "n"},
        )  # fmt: skip
        values = cloudwatch.latest_values(client, queries, now=NOW)
        stub.assert_no_pending_responses()
    assert values == {"a": 4.0, "b": None}
