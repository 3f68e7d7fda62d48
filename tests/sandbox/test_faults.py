"""Fault injection through boto3 over HTTP: outages by mode, service scoping, Route 53."""

from __future__ import annotations

import contextlib
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


def _outcomes(aws: AwsFactory, calls: int) -> list[bool]:
    """Whether each of ``calls`` ListTables in us-west-2 failed with InternalFailure."""
    ddb = aws("dynamodb", WEST)
    out = []
    for _ in range(calls):
        try:
            ddb.list_tables()
            out.append(False)
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "InternalFailure"
            out.append(True)
    return out


def test_error_rate_fails_about_that_share(aws: AwsFactory, control: SandboxClient) -> None:
    control.fail_region(WEST, kind="error5xx", rate=0.5)
    control.fail_region(EAST, kind="error5xx", rate=0.5)  # draws from its own generator
    first = _outcomes(aws, 40)
    # Binomial(40, 0.5): 8..32 is +-3.8 sigma; the fault's generator is seeded, so the
    # same 40 calls fail after a reset, and calls to another region change nothing.
    assert 8 <= sum(first) <= 32
    control.reset()
    control.fail_region(EAST, kind="error5xx", rate=0.5)
    control.fail_region(WEST, kind="error5xx", rate=0.5)
    for _ in range(3):
        with contextlib.suppress(botocore.exceptions.ClientError):
            aws("dynamodb", EAST).list_tables()
    assert _outcomes(aws, 40) == first


def test_rate_decisions_are_seeded_per_fault() -> None:
    a, b = FaultTable(seed=7), FaultTable(seed=7)
    fa = a.add(Fault(region=WEST, kind="throttle", rate=0.3))
    b.add(Fault(region=EAST, kind="throttle", rate=0.3))  # another fault first: other id
    fb = b.add(Fault(region=WEST, kind="throttle", rate=0.3))
    assert fa.id != fb.id
    seq_a = [a.decide(WEST, "s3").failure for _ in range(2000)]
    seq_b = []
    for _ in range(2000):
        b.decide(EAST, "s3")  # interleaved draws for the other fault
        seq_b.append(b.decide(WEST, "s3").failure)
    assert seq_a == seq_b
    # Binomial(2000, 0.3): sigma ~20.5; 480..720 is about +-5.8 sigma.
    assert 480 <= seq_a.count("throttle") <= 720
    assert set(seq_a) == {"throttle", None}


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
