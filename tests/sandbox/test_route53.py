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
    values = _points(aws, check_id, "HealthCheckStatus", "Minimum", period=1)
    assert values, "no HealthCheckStatus datapoint"
    return values[0]


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


def test_a_disabled_inverted_check_is_unhealthy(aws: AwsFactory, control: SandboxClient) -> None:
    # UpdateHealthCheck: a disabled check counts as healthy; to stop routing traffic to the
    # resource, change Inverted. So disabled + inverted publishes 0, whatever the endpoint.
    check = make_check(aws, control, WEST, threshold=1)
    r53 = aws("route53", EAST)
    r53.update_health_check(HealthCheckId=check, Disabled=True)
    control.advance(INTERVAL)
    assert metric(aws, check) == 1.0
    r53.update_health_check(HealthCheckId=check, Inverted=True)
    control.advance(INTERVAL)
    assert metric(aws, check) == 0.0  # the old rule (disabled wins) published 1.0
    control.fail_region(WEST)
    control.advance(INTERVAL)
    assert metric(aws, check) == 0.0  # the endpoint's health does not matter


def _points(
    aws: AwsFactory, check_id: str, metric_name: str, stat: str, period: int = 60
) -> list[float]:
    now = dt.datetime.now(dt.UTC)
    out = aws("cloudwatch", EAST).get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Route53",
                        "MetricName": metric_name,
                        "Dimensions": [{"Name": "HealthCheckId", "Value": check_id}],
                    },
                    "Period": period,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(hours=1),  # the sandbox clock runs ahead
        ScanBy="TimestampDescending",
    )["MetricDataResults"][0]
    return [float(v) for v in out["Values"]]


def test_checkers_share_is_published_once_a_minute_and_not_while_disabled(
    aws: AwsFactory, control: SandboxClient
) -> None:
    # "Amazon Route 53 metrics and dimensions": HealthCheckPercentageHealthy, the share of
    # checkers that see the endpoint healthy, one datapoint a minute; none while disabled.
    check = make_check(aws, control, WEST, threshold=1)
    assert _points(aws, check, "HealthCheckPercentageHealthy", "Minimum")[0] == 100.0
    control.fail_region(WEST)
    control.advance(INTERVAL)
    # The minute's datapoint holds the latest round: Minimum and Maximum agree.
    assert _points(aws, check, "HealthCheckPercentageHealthy", "Maximum")[0] == 0.0
    assert _points(aws, check, "HealthCheckStatus", "Maximum")[0] == 0.0
    counts = _points(aws, check, "HealthCheckStatus", "SampleCount")
    assert counts and all(c == 1.0 for c in counts)
    aws("route53", EAST).update_health_check(HealthCheckId=check, Disabled=True)
    control.advance(60.0)  # the next minute
    assert _points(aws, check, "HealthCheckStatus", "Minimum")[0] == 1.0  # disabled: healthy
    # No checker share for the new minute: only the earlier minute's datapoint(s) remain.
    assert _points(aws, check, "HealthCheckPercentageHealthy", "Minimum")[0] == 0.0


def test_a_calculated_check_publishes_its_status_from_its_children(
    aws: AwsFactory, control: SandboxClient
) -> None:
    # GetHealthCheckStatus cannot read a calculated check; CloudWatch can.
    east = make_check(aws, control, EAST, threshold=1)
    west = make_check(aws, control, WEST, threshold=1)
    calc = aws("route53", EAST).create_health_check(
        CallerReference="both",
        HealthCheckConfig={
            "Type": "CALCULATED",
            "ChildHealthChecks": [east, west],
            "HealthThreshold": 2,
        },
    )["HealthCheck"]["Id"]
    control.advance(INTERVAL)
    assert _points(aws, calc, "HealthCheckStatus", "Minimum")[0] == 1.0
    assert _points(aws, calc, "ChildHealthCheckHealthyCount", "Minimum")[0] == 2.0
    control.fail_region(WEST)
    control.advance(INTERVAL)
    assert _points(aws, calc, "ChildHealthCheckHealthyCount", "Minimum")[0] == 1.0
    assert _points(aws, calc, "HealthCheckStatus", "Minimum")[0] == 0.0
