"""Fault injection through boto3 over HTTP: outages by mode, service scoping, Route 53."""

from __future__ import annotations

import threading
import time

import botocore.exceptions
import pytest

from mr_failover.sandbox.client import SandboxClient, SandboxClientError
from mr_failover.sandbox.faults import Fault, FaultTable
from tests.sandbox.conftest import AwsFactory

EAST, WEST = "us-east-1", "us-west-2"


def make_table(aws: AwsFactory, region: str, name: str = "t") -> None:
    aws("dynamodb", region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_connection_outage_drops_the_connection_only_in_that_region(
    aws: AwsFactory, control: SandboxClient
) -> None:
    make_table(aws, WEST)
    make_table(aws, EAST)
    control.fail_region(WEST)
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        aws("dynamodb", WEST).describe_table(TableName="t")
    assert aws("dynamodb", EAST).describe_table(TableName="t")["Table"]["TableName"] == "t"
    control.heal_region(WEST)
    assert aws("dynamodb", WEST).describe_table(TableName="t")["Table"]["TableName"] == "t"


def test_5xx_outage_answers_service_unavailable(aws: AwsFactory, control: SandboxClient) -> None:
    control.fail_region(WEST, mode="5xx")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", WEST).describe_db_clusters()
    assert err.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_service_scoped_outage_leaves_other_services_up(
    aws: AwsFactory, control: SandboxClient
) -> None:
    make_table(aws, WEST)
    control.fail_region(WEST, service="dynamodb", mode="5xx")
    with pytest.raises(botocore.exceptions.ClientError):
        aws("dynamodb", WEST).describe_table(TableName="t")
    assert aws("rds", WEST).describe_db_clusters()["DBClusters"] == []
    assert control.state()["down_regions"] == []  # only a whole-region outage is "down"


def test_route53_is_control_plane_in_us_east_1(aws: AwsFactory, control: SandboxClient) -> None:
    r53 = aws("route53", EAST)
    control.fail_region(WEST)
    assert r53.list_health_checks()["HealthChecks"] == []
    control.heal_region(WEST)
    control.fail_region(EAST)
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        r53.list_health_checks()


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("dynamodb", "ThrottlingException", 400),
        ("rds", "Throttling", 400),
        ("s3", "SlowDown", 503),
        ("route53", "Throttling", 400),
        ("cloudwatch", "ThrottlingException", 400),
    ],
)
def test_throttling_in_each_protocol(
    aws: AwsFactory, control: SandboxClient, service: str, code: str, status: int
) -> None:
    control.fail_region(EAST, kind="throttle", rate=1.0)
    calls = {
        "dynamodb": lambda c: c.list_tables(),
        "rds": lambda c: c.describe_db_clusters(),
        "s3": lambda c: c.list_buckets(),
        "route53": lambda c: c.list_health_checks(),
        "cloudwatch": lambda c: c.list_metrics(),
    }
    with pytest.raises(botocore.exceptions.ClientError) as err:
        calls[service](aws(service, EAST))
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_error_rate_fails_about_that_share(aws: AwsFactory, control: SandboxClient) -> None:
    control.fail_region(WEST, kind="error5xx", rate=0.5)
    ddb = aws("dynamodb", WEST)
    failed = 0
    for _ in range(40):
        try:
            ddb.list_tables()
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "InternalFailure"
            failed += 1
    assert 8 <= failed <= 32


def test_latency_is_added(aws: AwsFactory, control: SandboxClient) -> None:
    ddb = aws("dynamodb", WEST)
    ddb.list_tables()
    control.fail_region(WEST, kind="latency", ms=300)
    start = time.perf_counter()
    ddb.list_tables()
    assert time.perf_counter() - start >= 0.3


def test_blackhole_answers_after_heal(aws: AwsFactory, control: SandboxClient) -> None:
    ddb = aws("dynamodb", WEST)
    control.fail_region(WEST, mode="blackhole")
    result: dict[str, object] = {}

    def call() -> None:
        result["out"] = ddb.list_tables()

    worker = threading.Thread(target=call)
    worker.start()
    worker.join(0.3)
    assert worker.is_alive(), "a blackholed call must not be answered"
    control.heal_region(WEST)
    worker.join(3)
    assert not worker.is_alive()
    assert result["out"]["TableNames"] == []  # type: ignore[index]


def test_blackhole_gives_up_after_the_bound(aws: AwsFactory, control: SandboxClient) -> None:
    control.settings(blackhole_max_seconds=0.2)
    control.fail_region(WEST, mode="blackhole")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        aws("dynamodb", WEST).list_tables()


def test_bad_fault_is_refused_by_the_control_api(control: SandboxClient) -> None:
    with pytest.raises(SandboxClientError, match="kind must be one of"):
        control.fail_region(WEST, kind="meteor")
    with pytest.raises(SandboxClientError, match="needs ms"):
        control.fail_region(WEST, kind="latency")
    assert control.faults() == []


def test_heal_only_one_service() -> None:
    table = FaultTable()
    table.add(Fault(region=WEST, service="dynamodb"))
    table.add(Fault(region=WEST))
    assert table.heal(WEST, "dynamodb") == 1
    assert table.outage(WEST) is not None
    assert table.outage(WEST, "s3") is not None
    assert table.heal(WEST) == 1
    assert table.outage(WEST, "s3") is None
