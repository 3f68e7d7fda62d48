"""Service Quotas and usage metrics for the take-over's capacity checks.

moto 5.2.5 serves Service Quotas for the ``vpc`` service code only; every other quota
is ``NoSuchResourceException``. This module answers ``GetServiceQuota`` and
``GetAWSDefaultServiceQuota`` (awsJson1_1) for the three quotas that bound a take-over,
per region, and publishes their usage metrics, derived from what the sandbox runs:

- ``fargate`` ``L-3032A538``: usage is the vCPU of the running Fargate tasks (each ECS
  service on Fargate: ``runningCount x task cpu / 1024``), published as
  ``AWS/Usage ResourceCount`` with ``Service=Fargate, Type=Resource, Resource=vCPU,
  Class=Standard/OnDemand`` (rule ``quotas-usage-metric``);
- ``ec2`` ``L-1216C47A``: the vCPU of the running instances of the Standard families,
  ``AWS/Usage ResourceCount`` with ``Service=EC2, Type=Resource, Resource=vCPU,
  Class=Standard/OnDemand``;
- ``lambda`` ``L-B99A9384``: ``AWS/Lambda ConcurrentExecutions`` (no function runs in
  the sandbox: only what a test adds).

``POST /_sandbox/quotas`` sets a quota's applied value and the usage of "other
workloads" added to the derived usage (``other_usage``), and publishes at once; the
ticker publishes every ``PUBLISH_SECONDS`` sandbox seconds, as AWS publishes usage
every minute. Quota values are project state: reset puts the defaults back.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.wire import SandboxResponse

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState
    from mr_failover.sandbox.wire import SandboxRequest

SERVICE = "service-quotas"
STATE_KEY = "quotas"
PUBLISH_SECONDS = 60.0
_JSON = ("Content-Type", "application/x-amz-json-1.1")


@dataclass(frozen=True)
class QuotaDef:
    service_code: str
    quota_code: str
    name: str
    service_name: str
    default: float
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]


# rule: quotas-usage-metric
# Each quota names the CloudWatch metric of its usage (MetricInfo: namespace, name,
# dimensions, recommended statistic; Service Quotas API Reference,
# https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_MetricInfo.html).
# Fargate publishes ResourceCount in AWS/Usage with Service=Fargate, Type=Resource,
# Resource=vCPU and a Class ("AWS Fargate usage metrics", Amazon ECS Developer Guide,
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/monitoring-fargate-usage.html).
# The EC2 and Lambda metrics are the sandbox's assumptions (docs/SANDBOX.md).
# Defaults: Lambda's 1,000 concurrent executions per Region ("Lambda quotas",
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); the vCPU
# defaults are the sandbox's (AWS sets them per account).
QUOTAS: tuple[QuotaDef, ...] = (
    QuotaDef(
        "fargate",
        "L-3032A538",
        "Fargate On-Demand vCPU resource count",
        "AWS Fargate",
        1000.0,
        "AWS/Usage",
        "ResourceCount",
        (
            ("Class", "Standard/OnDemand"),
            ("Resource", "vCPU"),
            ("Service", "Fargate"),
            ("Type", "Resource"),
        ),
    ),
    QuotaDef(
        "ec2",
        "L-1216C47A",
        "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
        "Amazon Elastic Compute Cloud (Amazon EC2)",
        1152.0,
        "AWS/Usage",
        "ResourceCount",
        (
            ("Class", "Standard/OnDemand"),
            ("Resource", "vCPU"),
            ("Service", "EC2"),
            ("Type", "Resource"),
        ),
    ),
    QuotaDef(
        "lambda",
        "L-B99A9384",
        "Concurrent executions",
        "AWS Lambda",
        1000.0,
        "AWS/Lambda",
        "ConcurrentExecutions",
        (),
    ),
)
_BY_CODE = {(q.service_code, q.quota_code): q for q in QUOTAS}
STANDARD_FAMILIES = frozenset("acdhimrtz")


@dataclass
class QuotasState:
    applied: dict[tuple[str, str, str], float] = field(default_factory=dict)  # region, sc, qc
    other_usage: dict[tuple[str, str, str], float] = field(default_factory=dict)


def state(sandbox: SandboxState) -> QuotasState:
    found: QuotasState = sandbox.state(STATE_KEY, QuotasState)
    return found


def install(sandbox: SandboxState) -> None:
    for action in ("GetServiceQuota", "GetAWSDefaultServiceQuota"):
        sandbox.intercept(SERVICE, action, _interceptor(sandbox, action))
    sandbox.add_control("GET", "/_sandbox/quotas", lambda _d, q: (200, describe(sandbox, q)))
    sandbox.add_control("POST", "/_sandbox/quotas", functools.partial(_control_set, sandbox))
    sandbox.every(PUBLISH_SECONDS, lambda: publish(sandbox))


def _interceptor(
    sandbox: SandboxState, action: str
) -> Callable[[SandboxRequest], SandboxResponse | None]:
    def answer(request: SandboxRequest) -> SandboxResponse | None:
        try:
            params = json.loads(request.body() or b"{}")
        except json.JSONDecodeError:
            return None
        if not isinstance(params, dict):
            return None
        q = _BY_CODE.get((str(params.get("ServiceCode")), str(params.get("QuotaCode"))))
        if q is None:
            return None  # moto's own (the vpc quotas) or its NoSuchResourceException
        with sandbox.lock:
            value = q.default
            if action == "GetServiceQuota":
                value = state(sandbox).applied.get(
                    (request.region, q.service_code, q.quota_code), q.default
                )
        body = json.dumps({"Quota": _quota_json(sandbox, request.region, q, value)}).encode()
        return SandboxResponse(200, body, (_JSON, ("x-amzn-RequestId", str(uuid.uuid4()))))

    return answer


def _quota_json(sandbox: SandboxState, region: str, q: QuotaDef, value: float) -> dict[str, Any]:
    return {
        "ServiceCode": q.service_code,
        "ServiceName": q.service_name,
        "QuotaArn": f"arn:aws:servicequotas:{region}:{sandbox.account_id}:"
        f"{q.service_code}/{q.quota_code}",
        "QuotaCode": q.quota_code,
        "QuotaName": q.name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
        "UsageMetric": {
            "MetricNamespace": q.namespace,
            "MetricName": q.metric,
            "MetricDimensions": dict(q.dimensions),
            "MetricStatisticRecommendation": "Maximum",
        },
    }


# --- usage --------------------------------------------------------------------------------


def fargate_vcpu(sandbox: SandboxState, region: str) -> float:
    """vCPU of the running tasks of the ECS services on Fargate in ``region``."""
    backend = sandbox.backend("ecs", region)
    total = 0.0
    for service in list(backend.services.values()):
        if service.launch_type != "FARGATE" or not service.task_definition:
            continue
        family, _, revision = str(service.task_definition).split("/")[-1].partition(":")
        td = backend.task_definitions.get(family, {}).get(int(revision or 0))
        cpu = float(getattr(td, "cpu", 0) or 0) if td is not None else 0.0
        total += int(service.running_count or 0) * cpu / 1024
    return total


def ec2_standard_vcpu(sandbox: SandboxState, region: str) -> float:
    """vCPU of the running instances of the Standard families in ``region``."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    total = 0.0
    for instance in sandbox.backend("ec2", region).all_instances():
        kind = str(instance.instance_type)
        if instance.state != "running" or kind[:1] not in STANDARD_FAMILIES:
            continue
        total += float(INSTANCE_TYPES.get(kind, {}).get("VCpuInfo", {}).get("DefaultVCpus", 0))
    return total


def usage(sandbox: SandboxState, region: str, q: QuotaDef) -> float:
    derived = 0.0
    if q.service_code == "fargate":
        derived = fargate_vcpu(sandbox, region)
    elif q.service_code == "ec2":
        derived = ec2_standard_vcpu(sandbox, region)
    extra = state(sandbox).other_usage.get((region, q.service_code, q.quota_code), 0.0)
    return derived + extra


def _regions(sandbox: SandboxState) -> list[str]:
    from moto.cloudwatch.models import cloudwatch_backends

    found = set(cloudwatch_backends[sandbox.account_id].keys())
    found |= {r for r, _, _ in state(sandbox).other_usage}
    from moto.ecs.models import ecs_backends

    found |= {r for r, b in ecs_backends[sandbox.account_id].items() if b.services}
    return sorted(found)


def publish(sandbox: SandboxState, regions: list[str] | None = None) -> None:
    """Put each quota's usage metric in each region (not while its CloudWatch is down)."""
    from moto.cloudwatch.models import cloudwatch_backends

    stamp = sandbox.wall_time()
    with sandbox.lock:
        for region in regions or _regions(sandbox):
            if sandbox.region_down(region, "cloudwatch"):
                continue
            backend = cloudwatch_backends[sandbox.account_id][region]
            for q in QUOTAS:
                datum = {
                    "MetricName": q.metric,
                    "Value": usage(sandbox, region, q),
                    "Unit": "None" if q.namespace == "AWS/Usage" else "Count",
                    "Dimensions": [{"Name": n, "Value": v} for n, v in q.dimensions],
                    "Timestamp": stamp,
                }
                backend.put_metric_data(q.namespace, [datum])


# --- control API --------------------------------------------------------------------------


def describe(sandbox: SandboxState, query: dict[str, str]) -> list[dict[str, Any]]:
    regions = [query["region"]] if query.get("region") else _regions(sandbox)
    with sandbox.lock:
        st = state(sandbox)
        return [
            {
                "region": region,
                "service_code": q.service_code,
                "quota_code": q.quota_code,
                "name": q.name,
                "value": st.applied.get((region, q.service_code, q.quota_code), q.default),
                "usage": usage(sandbox, region, q),
                "other_usage": st.other_usage.get((region, q.service_code, q.quota_code), 0.0),
            }
            for region in regions
            for q in QUOTAS
        ]


def _control_set(
    sandbox: SandboxState, data: dict[str, Any], _query: dict[str, str]
) -> tuple[int, Any]:
    region = data.get("region")
    q = _BY_CODE.get((str(data.get("service_code")), str(data.get("quota_code"))))
    if not isinstance(region, str) or not region:
        return 400, {"error": "'region' is required"}
    if q is None:
        known = ", ".join(f"{d.service_code} {d.quota_code}" for d in QUOTAS)
        return 400, {"error": f"unknown quota; the sandbox simulates {known}"}
    key = (region, q.service_code, q.quota_code)
    for name in ("value", "other_usage"):
        given = data.get(name)
        if given is None:
            continue
        if isinstance(given, bool) or not isinstance(given, int | float) or given < 0:
            return 400, {"error": f"'{name}' must be a number >= 0"}
    with sandbox.lock:
        st = state(sandbox)
        if data.get("value") is not None:
            st.applied[key] = float(data["value"])
        if data.get("other_usage") is not None:
            st.other_usage[key] = float(data["other_usage"])
    publish(sandbox, [region])
    return 200, describe(sandbox, {"region": region})
