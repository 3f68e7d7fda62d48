"""Route 53 health in the sandbox, through boto3 over HTTP.

The fixture's checking interval is 10 sandbox seconds; tests advance the clock one
interval at a time to watch FailureThreshold at work.
"""

from __future__ import annotations

import datetime as dt

import botocore.exceptions
import pytest

from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.route53 import CHECKER_REGIONS, healthy
from tests.sandbox.conftest import TEST_SETTINGS, AwsFactory

EAST, WEST = "us-east-1", "us-west-2"
INTERVAL = TEST_SETTINGS.health_check_interval


def make_check(aws: AwsFactory, control: SandboxClient, region: str, threshold: int = 3) -> str:
    r53 = aws("route53", EAST)
    check_id: str = r53.create_health_check(
        CallerReference=f"api-{region}",
        HealthCheckConfig={
            "Type": "HTTPS",
            "FullyQualifiedDomainName": "api.example.com",  # no region in it on purpose
            "Port": 443,
            "ResourcePath": "/health",
            "RequestInterval": 10,
            "FailureThreshold": threshold,
        },
    )["HealthCheck"]["Id"]
    control.assign_health_check(check_id, region)
    control.advance(INTERVAL)  # first checking round
    return check_id


def statuses(aws: AwsFactory, check_id: str) -> set[str]:
    obs = aws("route53", EAST).get_health_check_status(HealthCheckId=check_id)[
        "HealthCheckObservations"
    ]
    assert sorted(o["Region"] for o in obs) == sorted(CHECKER_REGIONS)
    return {o["StatusReport"]["Status"].split(":")[0] for o in obs}


def metric(aws: AwsFactory, check_id: str) -> float:
    """The newest HealthCheckStatus datapoint (us-east-1)."""
    now = dt.datetime.now(dt.UTC)
    out = aws("cloudwatch", EAST).get_metric_data(
        MetricDataQueries=[
            {
                "Id": "s",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Route53",
                        "MetricName": "HealthCheckStatus",
                        "Dimensions": [{"Name": "HealthCheckId", "Value": check_id}],
                    },
                    "Period": 1,
                    "Stat": "Minimum",
                },
            }
        ],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(hours=1),  # the sandbox clock runs ahead
        ScanBy="TimestampDescending",
    )["MetricDataResults"][0]
    assert out["Values"], "no HealthCheckStatus datapoint"
    return float(out["Values"][0])


def test_observations_fail_while_the_region_is_down(
    aws: AwsFactory, control: SandboxClient
) -> None:
    west = make_check(aws, control, WEST)
    east = make_check(aws, control, EAST)
    assert statuses(aws, west) == {"Success"}
    control.fail_region(WEST)
    control.advance(INTERVAL)
    assert statuses(aws, west) == {"Failure"}
    assert statuses(aws, east) == {"Success"}
    control.heal_region(WEST)
    control.advance(INTERVAL)
    assert statuses(aws, west) == {"Success"}


def test_status_flips_after_failure_threshold_intervals(
    aws: AwsFactory, control: SandboxClient, sandbox: Sandbox
) -> None:
    check = make_check(aws, control, WEST, threshold=3)
    assert metric(aws, check) == 1.0
    control.fail_region(WEST)
    seen = []
    for _ in range(3):
        control.advance(INTERVAL)
        seen.append((healthy(sandbox, check), metric(aws, check)))
    # Healthy until the third failed interval, then the metric follows.
    assert seen == [(True, 1.0), (True, 1.0), (False, 0.0)]
    control.heal_region(WEST)
    control.advance(INTERVAL)
    assert healthy(sandbox, check) is False
    control.advance(2 * INTERVAL)
    assert healthy(sandbox, check) is True


def test_metric_applies_inversion_and_disabling(aws: AwsFactory, control: SandboxClient) -> None:
    check = make_check(aws, control, WEST, threshold=1)
    r53 = aws("route53", EAST)
    version = r53.get_health_check(HealthCheckId=check)["HealthCheck"]["HealthCheckVersion"]
    r53.update_health_check(HealthCheckId=check, HealthCheckVersion=version, Inverted=True)
    control.advance(INTERVAL)
    assert metric(aws, check) == 0.0  # healthy endpoint, inverted
    assert statuses(aws, check) == {"Success"}  # observations stay raw
    control.fail_region(WEST)
    control.advance(INTERVAL)
    assert metric(aws, check) == 1.0  # failing endpoint, inverted
    r53.update_health_check(HealthCheckId=check, Inverted=False, Disabled=True)
    control.advance(INTERVAL)
    assert metric(aws, check) == 1.0  # disabled counts as healthy
    r53.update_health_check(HealthCheckId=check, Disabled=False)
    control.advance(INTERVAL)
    assert metric(aws, check) == 0.0


def test_stale_health_check_version_is_refused(aws: AwsFactory, control: SandboxClient) -> None:
    check = make_check(aws, control, WEST)
    r53 = aws("route53", EAST)
    version = r53.get_health_check(HealthCheckId=check)["HealthCheck"]["HealthCheckVersion"]
    r53.update_health_check(HealthCheckId=check, HealthCheckVersion=version, Inverted=True)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        r53.update_health_check(HealthCheckId=check, HealthCheckVersion=version, Inverted=False)
    assert err.value.response["Error"]["Code"] == "HealthCheckVersionMismatch"
    got = r53.get_health_check(HealthCheckId=check)["HealthCheck"]
    assert got["HealthCheckVersion"] == version + 1
    assert got["HealthCheckConfig"]["Inverted"] is True


def test_region_inferred_from_the_name_tag(aws: AwsFactory, control: SandboxClient) -> None:
    r53 = aws("route53", EAST)
    check = r53.create_health_check(
        CallerReference="tagged",
        HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "api.example.com"},
    )["HealthCheck"]["Id"]
    r53.change_tags_for_resource(
        ResourceType="healthcheck",
        ResourceId=check,
        AddTags=[{"Key": "Name", "Value": "api-eu-west-1"}],
    )
    control.fail_region("eu-west-1")
    control.advance(INTERVAL)
    assert statuses(aws, check) == {"Failure"}


def test_unknown_health_check(aws: AwsFactory, control: SandboxClient) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("route53", EAST).get_health_check_status(
            HealthCheckId="00000000-0000-0000-0000-000000000000"
        )
    assert err.value.response["Error"]["Code"] == "NoSuchHealthCheck"
