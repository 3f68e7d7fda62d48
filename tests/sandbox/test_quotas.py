"""Service Quotas and their usage metrics in the sandbox (sandbox/quotas.py), over HTTP.

moto serves only the vpc quotas; the sandbox answers the three that bound a take-over,
per region, with the usage metric each names, published from what the sandbox runs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import botocore.exceptions
import pytest

from mr_failover.sandbox.client import SandboxClient, SandboxClientError
from mr_failover.sandbox.core import Sandbox
from tests.sandbox.conftest import AwsFactory
from tests.sandbox.test_ecs import make_service

EAST, WEST = "us-east-1", "us-west-2"


def _latest(aws: AwsFactory, sandbox: Sandbox, region: str, quota: dict[str, Any]) -> float:
    metric = quota["UsageMetric"]
    now = sandbox.wall_time()
    answer = aws("cloudwatch", region).get_metric_data(
        MetricDataQueries=[
            {
                "Id": "u",
                "MetricStat": {
                    "Metric": {
                        "Namespace": metric["MetricNamespace"],
                        "MetricName": metric["MetricName"],
                        "Dimensions": [
                            {"Name": k, "Value": v} for k, v in metric["MetricDimensions"].items()
                        ],
                    },
                    "Period": 60,
                    "Stat": metric["MetricStatisticRecommendation"],
                },
            }
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=2),
        ScanBy="TimestampDescending",
    )
    values = answer["MetricDataResults"][0]["Values"]
    assert values, "no usage datapoint published"
    return float(values[0])


def test_quotas_have_defaults_per_region_and_a_set_value_only_where_set(
    aws: AwsFactory, control: SandboxClient
) -> None:
    quotas = aws("service-quotas", WEST)
    q = quotas.get_service_quota(ServiceCode="fargate", QuotaCode="L-3032A538")["Quota"]
    assert q["QuotaName"] == "Fargate On-Demand vCPU resource count" and q["Value"] == 1000
    control.set_quota(WEST, "fargate", "L-3032A538", value=20)
    assert quotas.get_service_quota(ServiceCode="fargate", QuotaCode="L-3032A538")["Quota"][
        "Value"
    ] == (20)
    east = aws("service-quotas", EAST).get_service_quota(
        ServiceCode="fargate", QuotaCode="L-3032A538"
    )
    assert east["Quota"]["Value"] == 1000
    default = quotas.get_aws_default_service_quota(ServiceCode="fargate", QuotaCode="L-3032A538")
    assert default["Quota"]["Value"] == 1000
    lam = quotas.get_service_quota(ServiceCode="lambda", QuotaCode="L-B99A9384")["Quota"]
    assert lam["Value"] == 1000 and lam["UsageMetric"]["MetricName"] == "ConcurrentExecutions"
    # A quota the sandbox does not simulate is moto's (vpc) or moto's NoSuchResource.
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-0263D0A3")
    assert caught.value.response["Error"]["Code"] == "NoSuchResourceException"


def test_fargate_usage_is_published_from_the_running_tasks(
    aws: AwsFactory, control: SandboxClient, sandbox: Sandbox
) -> None:
    # rule: quotas-usage-metric (the quota names its metric; Fargate's is AWS/Usage)
    make_service(aws, WEST, desired=4)
    control.advance(60)  # tasks start (30 s) and the minute's usage is published
    quota = aws("service-quotas", WEST).get_service_quota(
        ServiceCode="fargate", QuotaCode="L-3032A538"
    )["Quota"]
    assert quota["UsageMetric"]["MetricNamespace"] == "AWS/Usage"
    assert quota["UsageMetric"]["MetricDimensions"] == {
        "Service": "Fargate",
        "Type": "Resource",
        "Resource": "vCPU",
        "Class": "Standard/OnDemand",
    }
    assert _latest(aws, sandbox, WEST, quota) == 1.0  # 4 tasks x 256 CPU units
    control.set_quota(WEST, "fargate", "L-3032A538", other_usage=6.5)
    assert _latest(aws, sandbox, WEST, quota) == 7.5
    rows = {r["quota_code"]: r for r in control.quotas(WEST)}
    assert rows["L-3032A538"]["usage"] == 7.5 and rows["L-3032A538"]["other_usage"] == 6.5


def test_the_control_endpoint_refuses_bad_input(control: SandboxClient) -> None:
    with pytest.raises(SandboxClientError, match="unknown quota"):
        control.set_quota(WEST, "fargate", "L-NOPE", value=1)
    with pytest.raises(SandboxClientError, match="must be a number"):
        control.set_quota(WEST, "fargate", "L-3032A538", value=-1)
    with pytest.raises(SandboxClientError, match="region"):
        control.set_quota("", "fargate", "L-3032A538", value=1)


def test_a_reset_puts_the_default_quotas_back(aws: AwsFactory, control: SandboxClient) -> None:
    control.set_quota(WEST, "ec2", "L-1216C47A", value=8)
    control.reset()
    quota = aws("service-quotas", WEST).get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")
    assert quota["Quota"]["Value"] == 1152
