"""Regional compute as status sees it: ECS services, Auto Scaling groups, Lambda functions.

A region is only ready to take over when what runs there matches what was asked for;
desired versus running is the signal, and a missing resource is a finding, not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call, call_error, error_code
from mr_failover.resources.section import (
    Cell,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
    at_once,
)
from mr_failover.topology import AutoScalingGroup, EcsService, LambdaFunction

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Region


# rule: lambda-function-states
# "Lambda function states", AWS Lambda Developer Guide,
# https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html: a function becomes
# Inactive when it has been idle long enough for Lambda to reclaim its external resources;
# the next invoke fails, the function goes Pending while they are recreated, then Active.
# Pending is a function being created or configured. Neither says the region cannot take
# over, so both are warnings; Failed (provisioning failed: delete and recreate the
# function) stays a reason, as does any state the page does not list.
FUNCTION_STATE_WARNINGS = {
    "Inactive": "idle, Lambda reclaimed its resources; the first invoke fails and "
    "reactivates it (Pending, then Active): invoke it before a takeover",
    "Pending": "Lambda is still creating or configuring its resources; invokes fail "
    "until it is Active",
}


@dataclass(frozen=True)
class ServiceFinding:
    kind: str  # ecs, asg
    name: str
    found: bool
    desired: int = 0
    running: int = 0
    takeover_desired: int | None = None
    max_size: int | None = None  # Auto Scaling groups: the largest desired capacity allowed


@dataclass(frozen=True)
class FunctionFinding:
    name: str
    found: bool
    state: str = "unknown"


def observe_ecs_services(client: Any, specs: Sequence[EcsService]) -> list[ServiceFinding]:
    out: list[ServiceFinding] = []
    by_cluster: dict[str, list[EcsService]] = {}
    for spec in specs:
        by_cluster.setdefault(spec.cluster, []).append(spec)
    for cluster, group in by_cluster.items():
        seen: dict[str, dict[str, Any]] = {}
        for start in range(0, len(group), 10):  # DescribeServices takes 10 names
            names = [s.service for s in group[start : start + 10]]
            answer = call(client, "describe_services", cluster=cluster, services=names)
            for svc in answer.get("services", []):
                if svc.get("status") != "INACTIVE":  # deleted services linger as INACTIVE
                    seen[svc["serviceName"]] = svc
        for spec in group:
            svc = seen.get(spec.service)
            name = f"{cluster}/{spec.service}"
            if svc is None:
                out.append(
                    ServiceFinding("ecs", name, False, takeover_desired=spec.takeover_desired)
                )
            else:
                out.append(
                    ServiceFinding(
                        "ecs",
                        name,
                        True,
                        desired=int(svc.get("desiredCount", 0)),
                        running=int(svc.get("runningCount", 0)),
                        takeover_desired=spec.takeover_desired,
                    )
                )
    return out


def describe_groups(client: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The Auto Scaling groups of these names that exist, by name (50 names a call)."""
    seen: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 50):
        request: dict[str, Any] = {"AutoScalingGroupNames": list(names[start : start + 50])}
        while True:
            page = call(client, "describe_auto_scaling_groups", **request)
            for g in page.get("AutoScalingGroups", []):
                seen[g["AutoScalingGroupName"]] = g
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    return seen


def observe_autoscaling_groups(
    client: Any, specs: Sequence[AutoScalingGroup]
) -> list[ServiceFinding]:
    seen = describe_groups(client, [s.name for s in specs])
    out = []
    for spec in specs:
        g = seen.get(spec.name)
        if g is None:
            out.append(
                ServiceFinding("asg", spec.name, False, takeover_desired=spec.takeover_desired)
            )
            continue
        in_service = sum(
            1
            for i in g.get("Instances", [])
            if i.get("LifecycleState") == "InService" and i.get("HealthStatus") == "Healthy"
        )
        out.append(
            ServiceFinding(
                "asg",
                spec.name,
                True,
                desired=int(g.get("DesiredCapacity", 0)),
                running=in_service,
                takeover_desired=spec.takeover_desired,
                max_size=int(g["MaxSize"]) if "MaxSize" in g else None,
            )
        )
    return out


def observe_functions(client: Any, specs: Sequence[LambdaFunction]) -> list[FunctionFinding]:
    out = []
    for spec in specs:
        try:
            config = client.get_function_configuration(FunctionName=spec.name)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                out.append(FunctionFinding(spec.name, False))
                continue
            raise call_error(client, "get_function_configuration", exc) from None
        out.append(FunctionFinding(spec.name, True, state=str(config.get("State", "Active"))))
    return out


# --- the status section ------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeStatus:
    services: tuple[ServiceFinding, ...]
    functions: tuple[FunctionFinding, ...]


def observe_compute(factory: ClientSource, region: str, spec: Region) -> ComputeStatus:
    """ECS, Auto Scaling and Lambda, read at the same time (three APIs, none waits)."""
    c = spec.compute
    ecs, groups, functions = at_once(
        lambda: (
            observe_ecs_services(factory.client("ecs", region), c.ecs_services)
            if c.ecs_services
            else []
        ),
        lambda: (
            observe_autoscaling_groups(factory.client("autoscaling", region), c.autoscaling_groups)
            if c.autoscaling_groups
            else []
        ),
        lambda: (
            observe_functions(factory.client("lambda", region), c.lambda_functions)
            if c.lambda_functions
            else []
        ),
    )
    return ComputeStatus(services=tuple(ecs + groups), functions=tuple(functions))


class ComputeSection(Section):
    name = "compute"
    title = "Compute"

    def reads(self, ctx: ReadContext) -> list[Read]:
        c = ctx.spec.compute
        if not (c.ecs_services or c.autoscaling_groups or c.lambda_functions):
            return []
        return [Read("compute", lambda: observe_compute(ctx.factory, ctx.region, ctx.spec))]

    def judge(self, view: RegionView) -> Judgement:
        c = view.get("compute")
        if not isinstance(c, ComputeStatus):
            return Judgement()
        reasons: list[str] = []
        warnings: list[str] = []
        for svc in c.services:
            if not svc.found:
                reasons.append(f"compute: {svc.kind} {svc.name} not found")
            elif svc.desired == 0:
                if svc.takeover_desired:
                    warnings.append(
                        f"compute: {svc.kind} {svc.name} is scaled to 0 "
                        f"(takeover scales it to {svc.takeover_desired})"
                    )
                else:
                    reasons.append(f"compute: {svc.kind} {svc.name} has desired count 0")
            elif svc.running < svc.desired:
                reasons.append(
                    f"compute: {svc.kind} {svc.name} runs {svc.running} of {svc.desired}"
                )
            if (
                svc.found
                and svc.takeover_desired is not None
                and svc.max_size is not None
                and svc.takeover_desired > svc.max_size
            ):
                # A desired capacity "must be ... less than or equal to the maximum size of
                # the group" (UpdateAutoScalingGroup, DesiredCapacity, Amazon EC2 Auto
                # Scaling API Reference, https://docs.aws.amazon.com/autoscaling/ec2/
                # APIReference/API_UpdateAutoScalingGroup.html): the take-over scale-up
                # would fail.
                reasons.append(
                    f"compute: {svc.kind} {svc.name} cannot take over: takeover_desired "
                    f"{svc.takeover_desired} exceeds its MaxSize {svc.max_size}"
                )
        for fn in c.functions:
            if not fn.found:
                reasons.append(f"compute: lambda {fn.name} not found")
            elif fn.state in FUNCTION_STATE_WARNINGS:
                warnings.append(
                    f"compute: lambda {fn.name} is {fn.state}: " + FUNCTION_STATE_WARNINGS[fn.state]
                )
            elif fn.state != "Active":
                reasons.append(f"compute: lambda {fn.name} is {fn.state}")
        return Judgement(reasons, warnings, value=c)

    def value_cell(self, c: ComputeStatus, r: RegionStatus) -> Cell:
        parts = []
        for kind in ("ecs", "asg"):
            found = [s for s in c.services if s.kind == kind]
            if found:
                running = sum(s.running for s in found)
                desired = sum(s.desired for s in found)
                parts.append(f"{kind} {running}/{desired}")
        if c.functions:
            active = sum(1 for f in c.functions if f.state == "Active")
            parts.append(f"fn {active}/{len(c.functions)}")
        return Cell(" ".join(parts) or "-")


SECTION = ComputeSection()
