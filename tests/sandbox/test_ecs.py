"""ECS service convergence (and Auto Scaling instances) in the sandbox, over HTTP.

The module's sandbox starts tasks after ``ecs_task_start_seconds`` = 30 sandbox seconds
(tests/sandbox/conftest.py), far longer than a test lasts, so only ``control.advance``
makes them run: each test sees the service just before and just after the delay.
"""

from __future__ import annotations

from typing import Any

import pytest

from mr_failover.sandbox import ecs as simulation
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from tests.sandbox.conftest import TEST_SETTINGS, AwsFactory

EAST, WEST = "us-east-1", "us-west-2"
DELAY = TEST_SETTINGS.ecs_task_start_seconds


def make_service(aws: AwsFactory, region: str, desired: int) -> Any:
    ecs = aws("ecs", region)
    ecs.create_cluster(clusterName="app")
    ecs.register_task_definition(
        family="api",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "api", "image": "nginx", "essential": True}],
    )
    ecs.create_service(
        cluster="app",
        serviceName="api",
        taskDefinition="api",
        desiredCount=desired,
        launchType="FARGATE",
    )
    return ecs


def counts(ecs: Any) -> tuple[int, int, int]:
    (svc,) = ecs.describe_services(cluster="app", services=["api"])["services"]
    return svc["desiredCount"], svc["runningCount"], svc["pendingCount"]


def rollout(ecs: Any) -> str:
    (svc,) = ecs.describe_services(cluster="app", services=["api"])["services"]
    return str(svc["deployments"][0]["rolloutState"])


def test_a_new_service_runs_its_tasks_after_the_delay(
    aws: AwsFactory, control: SandboxClient
) -> None:
    ecs = make_service(aws, EAST, desired=2)
    assert counts(ecs) == (2, 0, 2)
    assert rollout(ecs) == "IN_PROGRESS"
    control.advance(DELAY - 1)
    assert counts(ecs) == (2, 0, 2)
    control.advance(1)
    assert counts(ecs) == (2, 2, 0)
    assert rollout(ecs) == "COMPLETED"
    (cluster,) = ecs.describe_clusters(clusters=["app"])["clusters"]
    assert (cluster["runningTasksCount"], cluster["pendingTasksCount"]) == (2, 0)


def test_scaling_up_keeps_the_running_tasks_and_the_new_ones_pend(
    aws: AwsFactory, control: SandboxClient
) -> None:
    ecs = make_service(aws, WEST, desired=2)
    control.advance(DELAY)
    ecs.update_service(cluster="app", service="api", desiredCount=5)
    assert counts(ecs) == (5, 2, 3)  # moto alone would say 5 running at once
    (cluster,) = ecs.describe_clusters(clusters=["app"])["clusters"]
    assert (cluster["runningTasksCount"], cluster["pendingTasksCount"]) == (2, 3)
    control.advance(DELAY / 2)
    assert counts(ecs) == (5, 2, 3)
    control.advance(DELAY / 2)
    assert counts(ecs) == (5, 5, 0)


def test_scaling_down_stops_the_extra_tasks_after_the_delay(
    aws: AwsFactory, control: SandboxClient
) -> None:
    ecs = make_service(aws, EAST, desired=4)
    control.advance(DELAY)
    ecs.update_service(cluster="app", service="api", desiredCount=1)
    assert counts(ecs) == (1, 4, 0)
    control.advance(DELAY)
    assert counts(ecs) == (1, 1, 0)


def test_no_task_starts_while_the_region_is_down(
    aws: AwsFactory, control: SandboxClient, sandbox: Sandbox
) -> None:
    ecs = make_service(aws, WEST, desired=3)
    control.fail_region(WEST)
    control.advance(DELAY * 3)
    # Its API is down too: look at moto's model in this process.
    service = sandbox.backend("ecs", WEST).services["app:api"]
    assert (service.running_count, service.pending_count) == (0, 3)
    control.heal_region(WEST)
    control.advance(0)
    assert counts(ecs) == (3, 3, 0)


def test_an_ecs_only_outage_also_holds_the_tasks(
    aws: AwsFactory, control: SandboxClient, sandbox: Sandbox
) -> None:
    make_service(aws, EAST, desired=2)
    control.fail_region(EAST, service="dynamodb")  # another service: no effect
    control.fail_region(EAST, service="ecs", mode="5xx")
    control.advance(DELAY)
    assert sandbox.backend("ecs", EAST).services["app:api"].running_count == 0
    control.heal_region(EAST, service="ecs")
    control.advance(0)
    assert sandbox.backend("ecs", EAST).services["app:api"].running_count == 2


def test_a_zero_delay_starts_the_tasks_at_once(aws: AwsFactory, control: SandboxClient) -> None:
    control.settings(ecs_task_start_seconds=0)
    ecs = make_service(aws, EAST, desired=2)
    assert counts(ecs) == (2, 2, 0)
    ecs.update_service(cluster="app", service="api", desiredCount=3)
    assert counts(ecs) == (3, 3, 0)


def test_a_reset_forgets_the_services_waiting(
    aws: AwsFactory, control: SandboxClient, sandbox: Sandbox
) -> None:
    make_service(aws, EAST, desired=2)
    assert simulation.state(sandbox).converging
    control.reset()
    assert simulation.state(sandbox).converging == {}


@pytest.mark.parametrize("desired", [3, 1])
def test_auto_scaling_instances_follow_the_desired_capacity(
    aws: AwsFactory, control: SandboxClient, desired: int
) -> None:
    # moto launches and terminates instances itself: nothing to simulate, but the status
    # and drain code depend on it, so it is guarded here.
    ec2, asg = aws("ec2", EAST), aws("autoscaling", EAST)
    ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "web", "Version": "$Latest"},
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=2,
        AvailabilityZones=[f"{EAST}a"],
    )
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=desired)
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"]
    states = [(i["LifecycleState"], i["HealthStatus"]) for i in group["Instances"]]
    assert states == [("InService", "Healthy")] * desired
