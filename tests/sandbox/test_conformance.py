"""The conformance scenarios (tests/conformance/scenarios.py) against the sandbox.

``make conformance`` runs the same scenarios against a real account; here every call goes
to the sandbox on loopback, and waiting advances the sandbox's clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from tests.conformance import scenarios
from tests.sandbox.conftest import AwsFactory


@pytest.fixture
def ctx(sandbox: Sandbox, aws: AwsFactory, control: SandboxClient) -> scenarios.Context:
    control.settings(s3_replication_lag=1.0, dynamodb_replica_creation_seconds=1.0)
    return scenarios.Context(
        client=aws,
        run_id=scenarios.new_run_id(),
        regions=("us-east-1", "us-west-2"),
        sleep=lambda s: sandbox.advance(s),
        wait_seconds=60.0,
    )


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_scenario_passes_against_the_sandbox_and_cleans_up(
    name: str, ctx: scenarios.Context, aws: AwsFactory, control: SandboxClient
) -> None:
    assert scenarios.run_all(ctx, [name]) == {name: None}
    # Nothing of the run is left for the sweeper to find.
    assert scenarios.sweep(aws, ctx.regions, ctx.run_id) == []
    assert all(c["region"] for c in control.calls())  # every call reached the sandbox


def test_the_sweeper_deletes_what_a_failed_run_left(
    ctx: scenarios.Context, aws: AwsFactory
) -> None:
    r53, ddb = aws("route53", "us-east-1"), aws("dynamodb", "us-east-1")
    hc = r53.create_health_check(
        CallerReference=ctx.name("left"),
        HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "example.com"},
    )["HealthCheck"]["Id"]
    ddb.create_table(
        TableName=ctx.name("left"),
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    aws("s3", "us-east-1").create_bucket(Bucket=ctx.name("left"))
    other = scenarios.new_run_id()
    keep = aws("cloudwatch", "us-east-1")
    keep.put_composite_alarm(AlarmName=f"{scenarios.PREFIX}-{other}-x", AlarmRule="FALSE")

    done = scenarios.sweep(aws, ctx.regions, ctx.run_id)

    left = ctx.name("left")
    assert sorted(done) == [f"bucket {left}", f"health check {hc}", f"table {left} in us-east-1"]
    assert all(h["Id"] != hc for h in r53.list_health_checks()["HealthChecks"])
    # Another run's resources are left alone.
    alarms = keep.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert [a["AlarmName"] for a in alarms] == [f"{scenarios.PREFIX}-{other}-x"]


def test_run_refuses_without_a_profile_or_with_an_endpoint(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from tests.conformance import run

    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert run.main(["--yes"]) == 2
    monkeypatch.setenv("AWS_PROFILE", "x")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert run.main(["--yes"]) == 2
    assert "unset AWS_ENDPOINT_URL" in capsys.readouterr().err
