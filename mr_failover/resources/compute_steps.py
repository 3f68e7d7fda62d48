"""Regional compute as mutation steps: set an ECS service's or Auto Scaling group's desired count.

``drain`` scales the regions that take the traffic up to their ``takeover_desired`` before
it moves anything, and ``undrain`` puts back the counts it recorded. Both calls
(``ecs:UpdateService``, ``autoscaling:SetDesiredCapacity``) are the *regional* control
plane of the region whose capacity changes: they are sent to that region's endpoint and
work as long as that region is healthy, which is the case for the regions drain scales.
The tasks and instances that then serve traffic are the data plane.

Scaling up never lowers a count someone already raised (the change "holds" when the
desired count is at least the target); scaling back sets the exact recorded count.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

from mr_failover.aws import call
from mr_failover.engine.plan import Step, StepAction
from mr_failover.errors import AwsCallError

Goal = Literal["at_least", "exactly"]
# Tasks and instances take minutes to start: a Fargate task about 1, an EC2 instance 2-5.
SCALE_UP_TIMEOUT = 900.0


@dataclass(frozen=True)
class GroupLimits:
    """An Auto Scaling group's bounds: DesiredCapacity must stay within them."""

    min_size: int
    max_size: int
    desired: int


def _describe_group(client: Any, name: str) -> dict[str, Any]:
    out = call(client, "describe_auto_scaling_groups", AutoScalingGroupNames=[name])
    groups = out.get("AutoScalingGroups", [])
    if not groups:
        raise AwsCallError(
            client.meta.region_name,
            "autoscaling:DescribeAutoScalingGroups",
            f"no Auto Scaling group {name}",
            "check compute.autoscaling_groups in the topology",
        )
    group: dict[str, Any] = groups[0]
    return group


def asg_limits(client: Any, name: str) -> GroupLimits:
    g = _describe_group(client, name)
    return GroupLimits(int(g["MinSize"]), int(g["MaxSize"]), int(g["DesiredCapacity"]))


class _SetDesired(StepAction):
    """Shared logic of both scalers: ``_read`` returns (desired, ready) and remembers it."""

    def __init__(self, client: Any, desired: int, goal: Goal) -> None:
        self.client = client
        self.desired = desired
        self.goal = goal
        self._seen: tuple[int, int] | None = None

    @abstractmethod
    def _read(self) -> tuple[int, int]: ...

    @abstractmethod
    def _describe(self, desired: int, ready: int) -> str: ...

    def holds(self) -> bool:
        desired, _ = self._read()
        return desired >= self.desired if self.goal == "at_least" else desired == self.desired

    def settled(self) -> bool:
        desired, ready = self._read()
        if self.goal == "exactly":
            # Scaling back: the count is what matters; stopping tasks drain on their own.
            return desired == self.desired
        return desired >= self.desired and ready >= self.desired

    def state(self) -> str:
        if self._seen is None:
            return ""
        return self._describe(*self._seen)


class SetEcsDesired(_SetDesired):
    """``UpdateService desiredCount``; scaling up waits until the tasks run."""

    def __init__(self, client: Any, cluster: str, service: str, desired: int, goal: Goal) -> None:
        super().__init__(client, desired, goal)
        self.cluster = cluster
        self.service = service

    def _read(self) -> tuple[int, int]:
        out = call(self.client, "describe_services", cluster=self.cluster, services=[self.service])
        for svc in out.get("services", []):
            if svc.get("status") == "ACTIVE":
                self._seen = (int(svc.get("desiredCount", 0)), int(svc.get("runningCount", 0)))
                return self._seen
        raise AwsCallError(
            self.client.meta.region_name,
            "ecs:DescribeServices",
            f"no active service {self.service} in cluster {self.cluster}",
            "check compute.ecs_services in the topology",
        )

    def _describe(self, desired: int, ready: int) -> str:
        return f"ecs {self.cluster}/{self.service}: {ready} running of {desired} desired"

    def apply(self) -> None:
        call(
            self.client,
            "update_service",
            cluster=self.cluster,
            service=self.service,
            desiredCount=self.desired,
        )


class SetAsgDesired(_SetDesired):
    """``SetDesiredCapacity``; scaling up waits until the instances are InService and Healthy."""

    def __init__(self, client: Any, name: str, desired: int, goal: Goal) -> None:
        super().__init__(client, desired, goal)
        self.name = name

    def _read(self) -> tuple[int, int]:
        g = _describe_group(self.client, self.name)
        healthy = sum(
            1
            for i in g.get("Instances", [])
            if i.get("LifecycleState") == "InService" and i.get("HealthStatus") == "Healthy"
        )
        self._seen = (int(g["DesiredCapacity"]), healthy)
        return self._seen

    def _describe(self, desired: int, ready: int) -> str:
        return f"asg {self.name}: {ready} InService and Healthy of {desired} desired"

    def apply(self) -> None:
        # HonorCooldown=False: an operator's scale-up must not wait out a scaling cooldown.
        call(
            self.client,
            "set_desired_capacity",
            AutoScalingGroupName=self.name,
            DesiredCapacity=self.desired,
            HonorCooldown=False,
        )


def ecs_key(cluster: str, service: str) -> str:
    """How a service is named in plan params and journals."""
    return f"ecs:{cluster}/{service}"


def asg_key(name: str) -> str:
    return f"asg:{name}"


def _scale_step(
    *,
    kind: str,
    name: str,
    region: str,
    service: str,
    api_call: str,
    params: dict[str, Any],
    desired: int,
    previous: int,
    goal: Goal,
    undo: str | None,
    action: StepAction,
) -> Step:
    verb = "scale up" if goal == "at_least" else "scale back"
    return Step(
        id=f"{kind}:desired:{region}:{name}",
        title=f"{verb} {kind} {name} in {region} to {desired} (from {previous})",
        service=service,
        call=api_call,
        params=params,
        region=region,
        plane="control",
        plane_region=region,
        undoable=True,
        undo=undo,
        timeout=SCALE_UP_TIMEOUT if goal == "at_least" else 120.0,
        action=action,
    )


def ecs_step(
    client: Any,
    *,
    region: str,
    cluster: str,
    service: str,
    desired: int,
    previous: int,
    goal: Goal,
    undo: str | None,
) -> Step:
    return _scale_step(
        kind="ecs",
        name=f"{cluster}/{service}",
        region=region,
        service="ecs",
        api_call="UpdateService",
        params={"cluster": cluster, "service": service, "desiredCount": desired},
        desired=desired,
        previous=previous,
        goal=goal,
        undo=undo,
        action=SetEcsDesired(client, cluster, service, desired, goal),
    )


def asg_step(
    client: Any,
    *,
    region: str,
    name: str,
    desired: int,
    previous: int,
    goal: Goal,
    undo: str | None,
) -> Step:
    return _scale_step(
        kind="asg",
        name=name,
        region=region,
        service="autoscaling",
        api_call="SetDesiredCapacity",
        params={"AutoScalingGroupName": name, "DesiredCapacity": desired, "HonorCooldown": False},
        desired=desired,
        previous=previous,
        goal=goal,
        undo=undo,
        action=SetAsgDesired(client, name, desired, goal),
    )
