"""Regional compute as status sees it: ECS services, Auto Scaling groups, Lambda functions.

A region is only ready to take over when what runs there matches what was asked for;
desired versus running is the signal, and a missing resource is a finding, not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mr_failover.aws import call, call_error, error_code
from mr_failover.topology import AutoScalingGroup, EcsService, LambdaFunction


@dataclass(frozen=True)
class ServiceFinding:
    kind: str  # ecs, asg
    name: str
    found: bool
    desired: int = 0
    running: int = 0
    takeover_desired: int | None = None


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


def observe_autoscaling_groups(
    client: Any, specs: Sequence[AutoScalingGroup]
) -> list[ServiceFinding]:
    seen: dict[str, dict[str, Any]] = {}
    names = [s.name for s in specs]
    for start in range(0, len(names), 50):
        request: dict[str, Any] = {"AutoScalingGroupNames": names[start : start + 50]}
        while True:
            page = call(client, "describe_auto_scaling_groups", **request)
            for g in page.get("AutoScalingGroups", []):
                seen[g["AutoScalingGroupName"]] = g
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
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
