"""Auto scaling in the sandbox: scalable targets keep ECS services in range, and scaling
policies scale an idle service or group in to its minimum (never below it).

Frozen sandbox clock: ``sb.advance(s)`` moves it and runs the simulations once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mr_failover.sandbox import autoscaling as simulation
from mr_failover.sandbox.core import Sandbox

REGION = "us-west-2"
CLUSTER, SERVICE = "web", "api"
RESOURCE = f"service/{CLUSTER}/{SERVICE}"
DIM = "ecs:service:DesiredCount"
GROUP = "workers"
AFTER = simulation.SCALE_IN_SECONDS


@pytest.fixture
def ecs(sb: Sandbox, client: Callable[[str, str], Any]) -> Any:
    c = client("ecs", REGION)
    c.create_cluster(clusterName=CLUSTER)
    c.register_task_definition(
        family="api",
        containerDefinitions=[{"name": "api", "image": "nginx", "memory": 128}],
    )
    c.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition="api", desiredCount=2)
    return c


def desired(ecs: Any) -> int:
    [svc] = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    return int(svc["desiredCount"])


def target(aas: Any, low: int, high: int, *, policy: bool = True) -> None:
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=RESOURCE,
        ScalableDimension=DIM,
        MinCapacity=low,
        MaxCapacity=high,
    )
    if policy:
        aas.put_scaling_policy(
            PolicyName="cpu50",
            ServiceNamespace="ecs",
            ResourceId=RESOURCE,
            ScalableDimension=DIM,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 50.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                },
            },
        )


def test_a_scaling_policy_scales_an_idle_ecs_service_in_to_its_min_capacity(
    sb: Sandbox, ecs: Any, client: Callable[[str, str], Any]
) -> None:
    aas = client("application-autoscaling", REGION)
    target(aas, 1, 8)
    ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=6)  # a take-over
    sb.advance(0.1)  # the policy sees it above its minimum from here
    sb.advance(AFTER / 2)
    assert desired(ecs) == 6
    sb.advance(AFTER / 2)
    assert desired(ecs) == 1  # the take-over capacity is gone

    # With MinCapacity raised to the take-over count, it stays.
    target(aas, 6, 8, policy=False)
    sb.advance(0.1)
    assert desired(ecs) == 6  # the policy keeps it inside the new range
    sb.advance(AFTER * 2)
    assert desired(ecs) == 6


def test_a_policy_keeps_the_service_inside_its_range_and_no_policy_moves_nothing(
    sb: Sandbox, ecs: Any, client: Callable[[str, str], Any]
) -> None:
    aas = client("application-autoscaling", REGION)
    target(aas, 1, 3, policy=False)
    ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=5)
    sb.advance(AFTER * 2)
    assert desired(ecs) == 5  # no policy: nothing scales it
    target(aas, 3, 3)
    sb.advance(0.1)
    assert desired(ecs) == 3  # MaxCapacity


def test_suspended_dynamic_scale_in_keeps_the_capacity(
    sb: Sandbox, ecs: Any, client: Callable[[str, str], Any]
) -> None:
    aas = client("application-autoscaling", REGION)
    target(aas, 1, 8)
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=RESOURCE,
        ScalableDimension=DIM,
        SuspendedState={"DynamicScalingInSuspended": True},
    )
    ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=6)
    sb.advance(AFTER * 2)
    assert desired(ecs) == 6


def test_an_auto_scaling_groups_policy_scales_it_in_to_min_size(
    sb: Sandbox, client: Callable[[str, str], Any]
) -> None:
    client("ec2", REGION).create_launch_template(
        LaunchTemplateName="workers-lt", LaunchTemplateData={"ImageId": "ami-12345678"}
    )
    asg = client("autoscaling", REGION)
    asg.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": "workers-lt", "Version": "$Latest"},
        MinSize=1,
        MaxSize=10,
        DesiredCapacity=2,
        AvailabilityZones=[f"{REGION}a"],
    )
    asg.put_scaling_policy(
        AutoScalingGroupName=GROUP,
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
        },
    )

    def capacity() -> int:
        [g] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
        return int(g["DesiredCapacity"])

    asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=5, HonorCooldown=False)
    sb.advance(0.1)
    assert capacity() == 5
    sb.advance(AFTER)
    assert capacity() == 1
    asg.update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=5)  # raises desired too
    assert capacity() == 5
    sb.advance(AFTER * 2)
    assert capacity() == 5
