"""Capacity headroom: can the region scale to its take-over capacity within its quotas?

A region takes over by scaling up (``drain`` raises the other regions' ECS services and
Auto Scaling groups to ``takeover_desired``). That scale-up fails half-way when a
Service Quotas limit is reached, and a quota increase takes hours or days. So each
region reads, with Service Quotas, the quotas that bound its take-over, and the current
usage of each from the CloudWatch metric the quota names (``UsageMetric``), and the
judgement compares the headroom (quota minus usage) with what the take-over needs:

- ``fargate`` ``L-3032A538`` "Fargate On-Demand vCPU resource count": the ECS services
  on Fargate, ``(takeover_desired - desired) x task vCPU``;
- ``ec2`` ``L-1216C47A`` "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z)
  instances" (vCPU): the Auto Scaling groups whose instance types are of those
  families, ``(takeover_desired - desired) x vCPU of the type``;
- ``lambda`` ``L-B99A9384`` "Concurrent executions": the concurrency the other regions
  use now, which moves here when this region takes all the traffic.

"us-west-2 needs 48 more vCPU; quota headroom 20: cannot take over" is a reason. When
a quota's usage metric has no datapoint, the usage is what the topology's own resources
use (a lower bound), and the JSON says so. docs/PARITY.md ("Capacity headroom").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call, call_error, error_code
from mr_failover.errors import CredentialsError, MrFailoverError, RegionUnreachableError
from mr_failover.resources import cloudwatch
from mr_failover.resources.cloudwatch import MetricQuery
from mr_failover.resources.compute import describe_groups
from mr_failover.resources.parity import group_template, warn_unless_unreachable
from mr_failover.resources.section import (
    Cell,
    ErrorKind,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
)

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Region


@dataclass(frozen=True)
class QuotaSpec:
    key: str  # fargate-vcpu, ec2-standard-vcpu, lambda-concurrency
    service_code: str
    quota_code: str
    unit: str  # what the sentence counts: "Fargate vCPU", ...


# Quota codes: ListServiceQuotas gives them; these three are the ones AWS's guides and
# the console name for the take-over's bounds ("Amazon ECS service quotas", AWS Fargate:
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html;
# "Amazon EC2 service quotas", vCPU-based On-Demand Instance limits:
# https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html;
# "Lambda quotas", Concurrent executions, default 1,000 per Region:
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
FARGATE = QuotaSpec("fargate-vcpu", "fargate", "L-3032A538", "Fargate vCPU")
EC2_STANDARD = QuotaSpec("ec2-standard-vcpu", "ec2", "L-1216C47A", "EC2 Standard vCPU")
LAMBDA = QuotaSpec("lambda-concurrency", "lambda", "L-B99A9384", "Lambda concurrent executions")
QUOTAS = (FARGATE, EC2_STANDARD, LAMBDA)

# "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances": the families by
# the first letter of the type (m5.large -> m).
STANDARD_FAMILIES = frozenset("acdhimrtz")


@dataclass(frozen=True)
class QuotaFinding:
    key: str
    service_code: str
    quota_code: str
    name: str
    value: float | None  # None: the quota could not be read
    usage: float | None  # from the quota's usage metric; None: no datapoint
    error: str | None = None


@dataclass(frozen=True)
class Demand:
    """What one resource adds to a quota when the region takes over."""

    quota: str  # QuotaSpec.key
    resource: str
    more: float  # units the scale-up adds
    in_use: float  # units the resource uses now (the usage lower bound)


@dataclass(frozen=True)
class CapacityRead:
    quotas: tuple[QuotaFinding, ...]
    demands: tuple[Demand, ...]
    notes: tuple[str, ...] = ()  # what could not be counted (another quota's family)


@dataclass(frozen=True)
class Headroom:
    key: str
    quota_code: str
    unit: str
    quota: float | None
    usage: float | None
    usage_source: str  # metric, resources (a lower bound), unknown
    needed: float
    headroom: float | None

    @property
    def short(self) -> bool:
        return self.headroom is not None and self.needed > self.headroom


@dataclass(frozen=True)
class CapacityStatus:
    headroom: tuple[Headroom, ...]
    demands: tuple[Demand, ...]
    notes: tuple[str, ...] = ()


# --- reads --------------------------------------------------------------------------------


def read_quota(client: Any, spec: QuotaSpec) -> dict[str, Any]:
    """The applied value of a quota, or its AWS default when no value is applied.

    GetServiceQuota: "If the applied quota value is not available for a quota, the quota
    is not retrieved" (Service Quotas API Reference,
    https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html);
    GetAWSDefaultServiceQuota then gives the default.
    """
    try:
        answer = client.get_service_quota(ServiceCode=spec.service_code, QuotaCode=spec.quota_code)
    except Exception as exc:
        if error_code(exc) != "NoSuchResourceException":
            raise call_error(client, "get_service_quota", exc) from None
        answer = call(
            client,
            "get_aws_default_service_quota",
            ServiceCode=spec.service_code,
            QuotaCode=spec.quota_code,
        )
    quota: dict[str, Any] = answer.get("Quota", {})
    return quota


def usage_query(spec: QuotaSpec, quota: Mapping[str, Any]) -> MetricQuery | None:
    """The CloudWatch metric the quota names as its usage (MetricInfo, Service Quotas
    API Reference, https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/
    API_MetricInfo.html), with the statistic it recommends."""
    metric = quota.get("UsageMetric") or {}
    if not metric.get("MetricNamespace") or not metric.get("MetricName"):
        return None
    given = metric.get("MetricDimensions") or {}
    dims = tuple(sorted((str(k), str(v)) for k, v in given.items()))
    stat = str(metric.get("MetricStatisticRecommendation") or "Maximum")
    return MetricQuery(
        spec.key, str(metric["MetricNamespace"]), str(metric["MetricName"]), dims, stat=stat
    )


def _fargate(svc: Mapping[str, Any]) -> bool:
    if svc.get("launchType") == "FARGATE":
        return True
    strategy = svc.get("capacityProviderStrategy") or []
    return any(s.get("capacityProvider") == "FARGATE" for s in strategy)


def ecs_demands(client: Any, spec: Region) -> list[Demand]:
    """Fargate vCPU each ECS service with a ``takeover_desired`` adds when taking over."""
    out: list[Demand] = []
    for svc_spec in spec.compute.ecs_services:
        answer = call(
            client, "describe_services", cluster=svc_spec.cluster, services=[svc_spec.service]
        )
        found = [s for s in answer.get("services", []) if s.get("status") != "INACTIVE"]
        if not found or not _fargate(found[0]) or not found[0].get("taskDefinition"):
            continue
        svc = found[0]
        td = call(client, "describe_task_definition", taskDefinition=svc["taskDefinition"])
        cpu_units = int(str(td.get("taskDefinition", {}).get("cpu") or 0) or 0)
        vcpu = cpu_units / 1024
        desired, running = int(svc.get("desiredCount", 0)), int(svc.get("runningCount", 0))
        target = svc_spec.takeover_desired or desired
        out.append(
            Demand(
                FARGATE.key,
                f"ecs {svc_spec.cluster}/{svc_spec.service}",
                max(0, target - desired) * vcpu,
                running * vcpu,
            )
        )
    return out


def asg_demands(autoscaling: Any, ec2: Any, spec: Region) -> tuple[list[Demand], list[str]]:
    """EC2 Standard vCPU each Auto Scaling group with a ``takeover_desired`` adds."""
    out: list[Demand] = []
    notes: list[str] = []
    groups = spec.compute.autoscaling_groups
    if not groups:
        return out, notes
    seen = describe_groups(autoscaling, [g.name for g in groups])
    typed: list[tuple[str, list[str], int, int]] = []  # name, types, more, in service
    for g_spec in groups:
        g = seen.get(g_spec.name)
        if g is None:
            continue
        _, _, types = group_template(ec2, g)
        if not types:
            notes.append(f"asg {g_spec.name}: no instance type found, not counted")
            continue
        desired = int(g.get("DesiredCapacity", 0))
        more = max(0, (g_spec.takeover_desired or desired) - desired)
        instances = g.get("Instances", [])
        in_service = sum(1 for i in instances if i.get("LifecycleState") == "InService")
        typed.append((g_spec.name, types, more, in_service))
    names = sorted({t for _, types, _, _ in typed for t in types})
    vcpus: dict[str, int] = {}
    if names:
        found = call(ec2, "describe_instance_types", InstanceTypes=names)
        for it in found.get("InstanceTypes", []):
            vcpus[str(it["InstanceType"])] = int(it.get("VCpuInfo", {}).get("DefaultVCpus", 0))
    for name, types, more, in_service in typed:
        ts = ",".join(types)
        if any(t[:1] not in STANDARD_FAMILIES for t in types):
            notes.append(f"asg {name}: {ts} is not a Standard family type, its quota is not read")
            continue
        if any(t not in vcpus for t in types):
            notes.append(f"asg {name}: vCPU of {ts} unknown, not counted")
            continue
        # A mixed group may launch any of its types: count the largest (the worst case).
        per = max(vcpus[t] for t in types)
        out.append(Demand(EC2_STANDARD.key, f"asg {name}", more * per, in_service * per))
    return out, notes


def observe_capacity(
    factory: ClientSource,
    region: str,
    spec: Region,
    now: datetime,
    codes: frozenset[str] = frozenset({"fargate", "ec2", "lambda"}),
) -> CapacityRead:
    """``codes``: the service codes of the quotas to check (topology ``capacity.quotas``)."""
    c = spec.compute
    demands: list[Demand] = []
    notes: list[str] = []
    wanted: list[QuotaSpec] = []
    if "fargate" in codes and any(s.takeover_desired is not None for s in c.ecs_services):
        demands += ecs_demands(factory.client("ecs", region), spec)
        wanted.append(FARGATE)
    if "ec2" in codes and any(g.takeover_desired is not None for g in c.autoscaling_groups):
        more, notes = asg_demands(
            factory.client("autoscaling", region), factory.client("ec2", region), spec
        )
        demands += more
        wanted.append(EC2_STANDARD)
    if "lambda" in codes and c.lambda_functions:
        wanted.append(LAMBDA)
    quotas_client = factory.client("service-quotas", region)
    raw: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for q in wanted:
        try:
            raw[q.key] = read_quota(quotas_client, q)
        except (RegionUnreachableError, CredentialsError):
            raise
        except MrFailoverError as exc:
            # AccessDenied on Service Quotas, a quota a partition lacks: that quota is
            # not checked (a warning), the others still are.
            errors[q.key] = str(exc)
    queries = [m for q in wanted if q.key in raw and (m := usage_query(q, raw[q.key]))]
    usage: dict[str, float | None] = {}
    if queries:
        usage = cloudwatch.latest_values(factory.client("cloudwatch", region), queries, now=now)
    findings = tuple(
        QuotaFinding(
            key=q.key,
            service_code=q.service_code,
            quota_code=q.quota_code,
            name=str(raw.get(q.key, {}).get("QuotaName", q.unit)),
            value=float(raw[q.key]["Value"]) if "Value" in raw.get(q.key, {}) else None,
            usage=usage.get(q.key),
            error=errors.get(q.key),
        )
        for q in wanted
    )
    return CapacityRead(findings, tuple(demands), tuple(notes))


def declares_any(spec: Region) -> bool:
    c = spec.compute
    return bool(
        any(s.takeover_desired is not None for s in c.ecs_services)
        or any(g.takeover_desired is not None for g in c.autoscaling_groups)
        or c.lambda_functions
    )


# --- judgement ----------------------------------------------------------------------------


def headroom(read: CapacityRead, others: Sequence[CapacityRead]) -> tuple[Headroom, ...]:
    """Each quota's headroom against the take-over's need (Lambda: the concurrency the
    other regions use now)."""
    out: list[Headroom] = []
    units = {q.key: q.unit for q in QUOTAS}
    for q in read.quotas:
        demands = [d for d in read.demands if d.quota == q.key]
        if q.key == LAMBDA.key:
            needed = sum(f.usage or 0.0 for o in others for f in o.quotas if f.key == LAMBDA.key)
        else:
            needed = sum(d.more for d in demands)
        # The metric lags (AWS/Usage is published every minute) and the resources are a
        # lower bound (other workloads share the quota): the larger of the two.
        floor = sum(d.in_use for d in demands)
        usage, source = q.usage, "metric"
        if usage is None or (demands and floor > usage):
            usage, source = floor, ("resources" if demands else "unknown")
        room = None if q.value is None else q.value - usage
        out.append(
            Headroom(q.key, q.quota_code, units[q.key], q.value, usage, source, needed, room)
        )
    return tuple(out)


def _n(x: float) -> str:
    return f"{x:g}"


def shortfall(region: str, h: Headroom) -> str:
    """ "us-west-2 needs 48 more Fargate vCPU; quota headroom 20 (L-3032A538 100, in use 80)"."""
    assert h.headroom is not None and h.quota is not None and h.usage is not None
    return (
        f"{region} needs {_n(h.needed)} more {h.unit}; quota headroom {_n(max(h.headroom, 0))} "
        f"({h.quota_code} {_n(h.quota)}, in use {_n(h.usage)})"
    )


def sentence(region: str, h: Headroom) -> str:
    """ "us-west-2 needs 48 more Fargate vCPU; quota headroom 20 (...): cannot take over"."""
    return f"{shortfall(region, h)}: cannot take over"


# The quotas a scale-up to ``takeover_desired`` draws on (drain refuses when one is short);
# Lambda's concurrency follows the traffic, not a scale-up.
SCALE_UP_QUOTAS = frozenset({FARGATE.key, EC2_STANDARD.key})


class CapacitySection(Section):
    name = "capacity"
    title = "headroom"
    layout = "line"
    counts_problems = True

    def reads(self, ctx: ReadContext) -> list[Read]:
        wanted = ctx.topology.capacity
        if wanted is None or not declares_any(ctx.spec):
            return []  # opt-in (topology ``capacity:``)
        codes = frozenset(wanted.quotas)
        return [
            Read(
                "capacity",
                lambda: observe_capacity(ctx.factory, ctx.region, ctx.spec, ctx.now, codes),
            )
        ]

    def read_error(self, key: str, exc: Exception, unreachable: bool) -> tuple[ErrorKind, str]:
        return warn_unless_unreachable("capacity headroom", key, exc, unreachable)

    def judge(self, view: RegionView) -> Judgement:
        read = view.get("capacity")
        if not isinstance(read, CapacityRead):
            return Judgement()
        others = [
            o
            for name in view.topology.regions
            if name != view.region and isinstance(o := view.get("capacity", name), CapacityRead)
        ]
        rooms = headroom(read, others)
        reasons = [f"capacity: {sentence(view.region, h)}" for h in rooms if h.short]
        warnings = [f"capacity: {n}" for n in read.notes]
        warnings += [
            f"capacity: quota {q.service_code} {q.quota_code} not read: {q.error}"
            for q in read.quotas
            if q.error
        ]
        return Judgement(reasons, warnings, value=CapacityStatus(rooms, read.demands, read.notes))

    def value_cell(self, c: CapacityStatus, r: RegionStatus) -> Cell:
        short = [h for h in c.headroom if h.short]
        if short:
            return Cell("short of " + ", ".join(h.quota_code for h in short), "red")
        if not any(h.headroom is not None for h in c.headroom):
            return Cell("-")
        return Cell("ok", "green")

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        c: CapacityStatus = value
        return {
            "quotas": [
                {
                    "key": h.key,
                    "quota_code": h.quota_code,
                    "unit": h.unit,
                    "quota": h.quota,
                    "usage": h.usage,
                    "usage_source": h.usage_source,
                    "needed": h.needed,
                    "headroom": h.headroom,
                    "can_take_over": not h.short,
                }
                for h in c.headroom
            ],
            "demands": [
                {"quota": d.quota, "resource": d.resource, "more": d.more, "in_use": d.in_use}
                for d in c.demands
            ],
            "notes": list(c.notes),
        }


SECTION = CapacitySection()
