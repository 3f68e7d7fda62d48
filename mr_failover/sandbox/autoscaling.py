"""Auto scaling that acts: scalable targets and scaling policies move capacity, on top of moto.

moto stores Application Auto Scaling scalable targets and policies, and EC2 Auto Scaling
groups' policies, and never acts on them: an ECS service scaled far above its scalable
target's ``MaxCapacity`` stays there, and a group with a target-tracking policy keeps
whatever capacity it was given. On AWS the policies follow their metric, and the sandbox
carries no load, so a policy would scale an idle service or group in. Here, on each tick:

- an ECS service whose Application Auto Scaling scalable target has a scaling policy is
  kept inside [``MinCapacity``, ``MaxCapacity``] at once (``autoscaling-capacity-range``);
- a target with a scaling policy (ECS service) or an Auto Scaling group with a scaling
  policy, whose capacity stays above its minimum for ``SCALE_IN_SECONDS`` sandbox
  seconds, is scaled in to the minimum (``autoscaling-scale-in``): never below
  ``MinCapacity`` / ``MinSize``, which is what a take-over must raise to keep its
  capacity. ``DynamicScalingInSuspended`` in a target's ``SuspendedState`` stops it.

Scheduled actions are not run. docs/SANDBOX.md says where this differs from AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState as Sandbox

STATE_KEY = "autoscaling"
ECS_DIMENSION = "ecs:service:DesiredCount"
# How long (sandbox seconds) an idle target stays above its minimum before its policy
# scales it in. AWS: a target-tracking policy scales in after its alarm has seen the
# metric low for 15 minutes.
SCALE_IN_SECONDS = 5.0

Key = tuple[str, str, str]  # ("ecs" | "asg", region, resource)


@dataclass
class State:
    above_since: dict[Key, float] = field(default_factory=dict)
    scaled_in: int = 0


def state(sandbox: Sandbox) -> State:
    st: State = sandbox.state(STATE_KEY, State)
    return st


def install(sandbox: Sandbox) -> None:
    sandbox.every(sandbox.settings.tick, lambda: tick(sandbox))


def _created(backends: Any, account_id: str) -> list[tuple[str, Any]]:
    """The region backends moto has created for ``account_id`` (none is created here)."""
    return list(dict.items(backends[account_id]))


def tick(sandbox: Sandbox) -> None:
    from moto.applicationautoscaling.models import applicationautoscaling_backends
    from moto.autoscaling.models import autoscaling_backends

    st = state(sandbox)
    now = sandbox.now()
    live: set[Key] = set()
    for region, backend in _created(applicationautoscaling_backends, sandbox.account_id):
        if sandbox.region_down(region):
            continue
        for target in backend._flatten_scalable_targets("ecs"):
            if target.scalable_dimension == ECS_DIMENSION:
                _ecs_target(sandbox, st, backend, target, now, live)
    for region, backend in _created(autoscaling_backends, sandbox.account_id):
        if sandbox.region_down(region):
            continue
        with_policy = {p.auto_scaling_group_name for p in backend.policies.values()}
        for group in backend.autoscaling_groups.values():
            key: Key = ("asg", region, group.name)
            desired, low = int(group.desired_capacity or 0), int(group.min_size or 0)
            if group.name in with_policy and desired > low:
                live.add(key)
                if _due(st, key, now):
                    backend.set_desired_capacity(group.name, low)
                    st.scaled_in += 1
    for key in set(st.above_since) - live:
        del st.above_since[key]


def _due(st: State, key: Key, now: float) -> bool:
    since = st.above_since.setdefault(key, now)
    if now - since + 1e-9 < SCALE_IN_SECONDS:
        return False
    del st.above_since[key]
    return True


# rule: autoscaling-capacity-range
# RegisterScalableTarget "changes the resource's current capacity to a value that is
# inside of this range", and "Application Auto Scaling scaling policies will not scale
# capacity to values that are outside of the minimum and maximum range"
# (RegisterScalableTarget, Application Auto Scaling API Reference,
# https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html).
# rule: autoscaling-scale-in
# MinCapacity is "the minimum value that you plan to scale in to. When a scaling policy is
# in effect, Application Auto Scaling can scale in (contract) as needed to the minimum
# capacity limit in response to changing demand" (same page); an Auto Scaling group's
# policies likewise never go below MinSize.
def _ecs_target(
    sandbox: Sandbox, st: State, backend: Any, target: Any, now: float, live: set[Key]
) -> None:
    _, cluster, name = str(target.resource_id).split("/", 2)
    ecs = sandbox.backend("ecs", backend.region_name)
    service = ecs.services.get(f"{cluster}:{name}")
    if service is None or service.status != "ACTIVE":
        return
    has_policy = any(
        p.resource_id == target.resource_id and p.service_namespace == "ecs"
        for p in backend.policies.values()
    )
    if not has_policy:
        return
    desired = int(service.desired_count)
    low = int(target.min_capacity or 0)
    high = int(target.max_capacity if target.max_capacity is not None else desired)
    wanted = min(max(desired, low), high)
    key: Key = ("ecs", backend.region_name, str(target.resource_id))
    suspended = (target.suspended_state or {}).get("DynamicScalingInSuspended", False)
    if wanted == desired and desired > low and not suspended:
        live.add(key)
        if _due(st, key, now):
            wanted = low
            st.scaled_in += 1
    if wanted != desired:
        ecs.update_service({"cluster": cluster, "service": name, "desired_count": wanted})
