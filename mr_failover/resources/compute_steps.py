"""Regional compute as mutation steps: set an ECS service's or Auto Scaling group's desired count.

``drain`` scales the regions that take the traffic up to their ``takeover_desired`` before
it moves anything, and ``undrain`` puts back the counts it recorded. Both calls
(``ecs:UpdateService``, ``autoscaling:SetDesiredCapacity``) are the *regional* control
plane of the region whose capacity changes: they are sent to that region's endpoint and
work as long as that region is healthy, which is the case for the regions drain scales.
The tasks and instances that then serve traffic are the data plane.

Scaling up never lowers a count someone already raised (the change "holds" when the
desired count is at least the target); scaling back sets the exact recorded count.

Autoscaling would undo a take-over: an ECS service's Application Auto Scaling scaling
policies scale it in down to its scalable target's ``MinCapacity``, an Auto Scaling
group's policies down to its ``MinSize``. So drain raises that minimum to the take-over
count before it raises the desired count (:func:`ecs_min_step`, :func:`asg_min_step`),
and undrain puts the recorded minimum back before it scales back
(``autoscaling-scale-in``). :func:`scaling_notes` names the scheduled actions that could
still change the capacity during the take-over.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from mr_failover.aws import call
from mr_failover.engine.plan import Step, StepAction
from mr_failover.errors import AwsCallError

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource

Goal = Literal["at_least", "exactly"]
AAS = "application-autoscaling"
ECS_DIMENSION = "ecs:service:DesiredCount"
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


def set_back_step(
    factory: ClientSource, region: str, key: str, desired: int, previous: int, undo: str
) -> Step:
    """Set the service ``key`` (:func:`ecs_key` or :func:`asg_key`) in ``region`` back to
    exactly ``desired``: :func:`ecs_step` or :func:`asg_step` with the region's client."""
    kind, _, name = key.partition(":")
    make: partial[Step]
    if kind == "ecs":
        cluster, _, service = name.partition("/")
        client = factory.client("ecs", region)
        make = partial(ecs_step, client, cluster=cluster, service=service)
    else:
        make = partial(asg_step, factory.client("autoscaling", region), name=name)
    return make(region=region, desired=desired, previous=previous, goal="exactly", undo=undo)


# --- the minimum that autoscaling scales in to ----------------------------------------------

# rule: autoscaling-scale-in
# MinCapacity is "the minimum value that you plan to scale in to. When a scaling policy is
# in effect, Application Auto Scaling can scale in (contract) as needed to the minimum
# capacity limit", and its policies "will not scale capacity to values that are outside
# of the minimum and maximum range" (RegisterScalableTarget, Application Auto Scaling API
# Reference, https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html).
# A scheduled action sets a new minimum and maximum, and "if the current capacity is above
# the maximum capacity, Application Auto Scaling scales in to the maximum capacity"
# (PutScheduledAction ScalableTargetAction, AWS SDK for Kotlin API reference,
# https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/applicationautoscaling/aws.sdk.kotlin.services.applicationautoscaling.model/-put-scheduled-action-request/scalable-target-action.html);
# an Auto Scaling group's scheduled action sets MinSize, MaxSize or DesiredCapacity
# (PutScheduledUpdateGroupAction, Amazon EC2 Auto Scaling API Reference,
# https://docs.amazonaws.cn/goto/WebAPI/autoscaling-2011-01-01/PutScheduledUpdateGroupAction).


@dataclass(frozen=True)
class ScalableTarget:
    """An ECS service's Application Auto Scaling scalable target."""

    min_capacity: int
    max_capacity: int


def ecs_resource_id(cluster: str, service: str) -> str:
    return f"service/{cluster}/{service}"


def ecs_scalable_target(client: Any, cluster: str, service: str) -> ScalableTarget | None:
    """The service's scalable target (DescribeScalableTargets); None when it has none."""
    out = call(
        client,
        "describe_scalable_targets",
        ServiceNamespace="ecs",
        ResourceIds=[ecs_resource_id(cluster, service)],
        ScalableDimension=ECS_DIMENSION,
    )
    for t in out.get("ScalableTargets", []):
        return ScalableTarget(int(t["MinCapacity"]), int(t["MaxCapacity"]))
    return None


def scaling_notes(
    kind: Literal["ecs", "asg"], client: Any, name: str, region: str, floor: int
) -> list[str]:
    """The scheduled actions that could take ``name`` below ``floor`` during a take-over."""
    found: list[str] = []
    if kind == "ecs":
        cluster, _, service = name.partition("/")
        out = call(
            client,
            "describe_scheduled_actions",
            ServiceNamespace="ecs",
            ResourceId=ecs_resource_id(cluster, service),
            ScalableDimension=ECS_DIMENSION,
        )
        for a in out.get("ScheduledActions", []):
            act = a.get("ScalableTargetAction", {})
            low = [act[k] for k in ("MinCapacity", "MaxCapacity") if k in act]
            if any(int(v) < floor for v in low):
                found.append(f"{a['ScheduledActionName']} ({a.get('Schedule', '')})")
    else:
        out = call(client, "describe_scheduled_actions", AutoScalingGroupName=name)
        for a in out.get("ScheduledUpdateGroupActions", []):
            low = [a[k] for k in ("MinSize", "MaxSize", "DesiredCapacity") if k in a]
            if any(int(v) < floor for v in low):
                when = a.get("Recurrence") or str(a.get("StartTime", ""))
                found.append(f"{a['ScheduledActionName']} ({when})")
    if not found:
        return []
    return [
        f"{kind} {name} in {region}: scheduled action{'s' if len(found) > 1 else ''} "
        f"{', '.join(found)} would set its capacity below the take-over's {floor}; "
        "suspend or move them for the take-over"
    ]


class _SetMinimum(StepAction):
    """Raise (drain) or put back (undrain) the minimum autoscaling scales in to."""

    def __init__(self, client: Any, minimum: int, goal: Goal) -> None:
        self.client = client
        self.minimum = minimum
        self.goal = goal
        self._seen: int | None = None

    @abstractmethod
    def _read(self) -> int: ...

    @abstractmethod
    def _what(self) -> str: ...

    def holds(self) -> bool:
        self._seen = self._read()
        return self._seen >= self.minimum if self.goal == "at_least" else self._seen == self.minimum

    def settled(self) -> bool:
        return self.holds()

    def state(self) -> str:
        return "" if self._seen is None else f"{self._what()} {self._seen}"


class SetEcsMinCapacity(_SetMinimum):
    """``RegisterScalableTarget MinCapacity`` of an ECS service's scalable target."""

    def __init__(self, client: Any, cluster: str, service: str, minimum: int, goal: Goal):
        super().__init__(client, minimum, goal)
        self.cluster = cluster
        self.service = service

    def _read(self) -> int:
        target = ecs_scalable_target(self.client, self.cluster, self.service)
        if target is None:
            raise AwsCallError(
                self.client.meta.region_name,
                "application-autoscaling:DescribeScalableTargets",
                f"ecs {self.cluster}/{self.service} has no scalable target any more",
                "check its Application Auto Scaling settings",
            )
        return target.min_capacity

    def _what(self) -> str:
        return f"ecs {self.cluster}/{self.service}: MinCapacity"

    def apply(self) -> None:
        call(
            self.client,
            "register_scalable_target",
            ServiceNamespace="ecs",
            ResourceId=ecs_resource_id(self.cluster, self.service),
            ScalableDimension=ECS_DIMENSION,
            MinCapacity=self.minimum,
        )


class SetAsgMinSize(_SetMinimum):
    """``UpdateAutoScalingGroup MinSize``."""

    def __init__(self, client: Any, name: str, minimum: int, goal: Goal) -> None:
        super().__init__(client, minimum, goal)
        self.name = name

    def _read(self) -> int:
        return asg_limits(self.client, self.name).min_size

    def _what(self) -> str:
        return f"asg {self.name}: MinSize"

    def apply(self) -> None:
        call(
            self.client,
            "update_auto_scaling_group",
            AutoScalingGroupName=self.name,
            MinSize=self.minimum,
        )


def _min_step(
    *,
    kind: str,
    name: str,
    region: str,
    service: str,
    api_call: str,
    params: dict[str, Any],
    minimum: int,
    previous: int,
    goal: Goal,
    undo: str | None,
    action: StepAction,
) -> Step:
    what = "MinCapacity" if kind == "ecs" else "MinSize"
    verb = "raise" if goal == "at_least" else "restore"
    why = " so autoscaling cannot scale it back in" if goal == "at_least" else ""
    step = _scale_step(
        kind=kind,
        name=name,
        region=region,
        service=service,
        api_call=api_call,
        params=params,
        desired=minimum,
        previous=previous,
        goal=goal,
        undo=undo,
        action=action,
    )
    title = f"{verb} {what} of {kind} {name} in {region} to {minimum} (from {previous}){why}"
    return replace(step, id=f"{kind}:min:{region}:{name}", title=title, timeout=60.0)


def ecs_min_step(
    client: Any,
    *,
    region: str,
    cluster: str,
    service: str,
    minimum: int,
    previous: int,
    goal: Goal,
    undo: str | None,
) -> Step:
    return _min_step(
        kind="ecs",
        name=f"{cluster}/{service}",
        region=region,
        service=AAS,
        api_call="RegisterScalableTarget",
        params={
            "ServiceNamespace": "ecs",
            "ResourceId": ecs_resource_id(cluster, service),
            "ScalableDimension": ECS_DIMENSION,
            "MinCapacity": minimum,
        },
        minimum=minimum,
        previous=previous,
        goal=goal,
        undo=undo,
        action=SetEcsMinCapacity(client, cluster, service, minimum, goal),
    )


def asg_min_step(
    client: Any,
    *,
    region: str,
    name: str,
    minimum: int,
    previous: int,
    goal: Goal,
    undo: str | None,
) -> Step:
    return _min_step(
        kind="asg",
        name=name,
        region=region,
        service="autoscaling",
        api_call="UpdateAutoScalingGroup",
        params={"AutoScalingGroupName": name, "MinSize": minimum},
        minimum=minimum,
        previous=previous,
        goal=goal,
        undo=undo,
        action=SetAsgMinSize(client, name, minimum, goal),
    )
