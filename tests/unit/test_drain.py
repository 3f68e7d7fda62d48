"""drain / undrain core: who can absorb, the weight step, the TTL wait, scaling, the journal.

No network: the other regions' status is given as values, AWS answers come from botocore
Stubber (which also checks each request against the service model), time is a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover.engine import journal
from mr_failover.engine.executor import StepFailedError, execute
from mr_failover.engine.plan import Plan, Step
from mr_failover.errors import MrFailoverError, RefusedError, UsageError
from mr_failover.operations import drain as op
from mr_failover.resources import compute_steps
from mr_failover.resources.compute import ComputeStatus, ServiceFinding
from mr_failover.resources.route53 import HealthCheckFinding, RecordFinding, TrafficStatus
from mr_failover.resources.route53_steps import TrafficShift, ttl_wait_step, weight_step
from mr_failover.resources.section import RegionStatus
from mr_failover.status import StatusReport
from mr_failover.topology import Record, Topology
from tests.route53_health import share

ZONE = "Z0123456789ABC"


def make_topology(lever: str = "health_check_inversion") -> Topology:
    def region(name: str) -> dict[str, Any]:
        record: dict[str, Any] = {
            "zone": "example.com.",
            "hosted_zone_id": ZONE,
            "name": "api.example.com.",
            "set_identifier": name,
            "value": f"api-{name}.example.com",
            "health_check": f"api-{name}",
            "ttl": 30,
        }
        if lever == "weight":
            record |= {"routing_policy": "weighted", "weight": 100}
        else:
            record |= {"routing_policy": "latency"}
        return {
            "traffic": {
                "drain_lever": lever,
                "health_checks": [{"name": f"api-{name}", "id": f"hc-{name}"}],
                "records": [record],
            },
            "compute": {
                "ecs_services": [{"cluster": "c", "service": "api", "takeover_desired": 4}],
                "autoscaling_groups": [{"name": f"web-{name}", "takeover_desired": 6}],
            },
        }

    return Topology.model_validate(
        {
            "application": "shop",
            "account_id": "123456789012",
            "primary_region": "us-east-1",
            "policy": {"rpo_seconds": 60, "rto_seconds": 900},
            "regions": {"us-east-1": region("us-east-1"), "us-west-2": region("us-west-2")},
        }
    )


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def time(self) -> float:
        return 1_800_000_000.0 + self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def hc(name: str, *, inverted: bool = False, ok: int = 3) -> HealthCheckFinding:
    return HealthCheckFinding(name, f"hc-{name}", 1, inverted, False, share(ok, 3 - ok))


def region_status(
    name: str,
    *,
    checks: tuple[HealthCheckFinding, ...] | None = None,
    records: tuple[RecordFinding, ...] = (),
    services: tuple[ServiceFinding, ...] = (),
    verdict: str = "serving",
    reasons: tuple[str, ...] = (),
) -> RegionStatus:
    return RegionStatus(
        name=name,
        verdict=verdict,  # type: ignore[arg-type]
        can_take_over=not reasons,
        is_writer=None,
        reasons=reasons,
        warnings=(),
        errors=(),
        traffic=TrafficStatus(
            health_checks=checks if checks is not None else (hc(f"api-{name}"),),
            records=records,
        ),
        compute=ComputeStatus(services=services, functions=()),
    )


def report(*regions: RegionStatus) -> StatusReport:
    return StatusReport(
        application="shop",
        account_id="123456789012",
        account=None,
        account_error=None,
        observed_at=datetime(2026, 11, 27, tzinfo=UTC),
        elapsed_seconds=0.1,
        deadline_seconds=8.0,
        rpo_seconds=60,
        regions=regions,
    )


def ecs(desired: int, running: int, takeover: int | None = 4) -> ServiceFinding:
    return ServiceFinding("ecs", "c/api", True, desired, running, takeover)


# --- who can absorb the traffic ------------------------------------------------------


def test_a_serving_region_with_running_compute_can_absorb() -> None:
    t = make_topology()
    (west,) = op.judge_absorbers(
        t, report(region_status("us-west-2", services=(ecs(2, 2),))), scale_up=False
    )
    assert west.ok and west.blockers == ()


def test_an_inverted_region_cannot_absorb_and_says_why() -> None:
    t = make_topology()
    inverted = region_status("us-west-2", checks=(hc("api-us-west-2", inverted=True),))
    (west,) = op.judge_absorbers(t, report(inverted), scale_up=True)
    assert west.blockers == (
        "api-us-west-2 is unhealthy (checkers: 100% report healthy; inverted)",
    )


def test_weight_zero_everywhere_is_drained() -> None:
    t = make_topology("weight")
    rec = RecordFinding("api.example.com.", "us-west-2", "CNAME", True, "weighted", weight=0)
    (west,) = op.judge_absorbers(
        t, report(region_status("us-west-2", records=(rec,))), scale_up=True
    )
    assert west.blockers == ("its weighted records are at weight 0 (drained)",)


def test_compute_below_desired_blocks_unless_the_scale_up_raises_it() -> None:
    t = make_topology()
    short = report(region_status("us-west-2", services=(ecs(2, 0),)))
    (without,) = op.judge_absorbers(t, short, scale_up=False)
    assert without.blockers == ("ecs c/api runs 0 of 2",)
    (with_scale_up,) = op.judge_absorbers(t, short, scale_up=True)
    assert with_scale_up.ok  # the plan scales it to 4 and waits for the tasks to run
    # Already at takeover size but not running: scaling cannot help.
    stuck = report(region_status("us-west-2", services=(ecs(4, 1),)))
    (at_takeover,) = op.judge_absorbers(t, stuck, scale_up=True)
    assert at_takeover.blockers == ("ecs c/api runs 1 of 4",)
    missing = ServiceFinding("asg", "web-us-west-2", False, takeover_desired=6)
    (gone,) = op.judge_absorbers(
        t, report(region_status("us-west-2", services=(missing,))), scale_up=True
    )
    assert gone.blockers == ("asg web-us-west-2 not found",)


def test_draining_the_last_serving_region_is_refused_before_any_aws_call() -> None:
    t = make_topology()
    drained = region_status("us-west-2", checks=(hc("api-us-west-2", inverted=True),))
    asked: list[list[str]] = []

    def observe(topology: Topology, factory: Any, *, regions: list[str], **_: Any) -> Any:
        asked.append(regions)
        return report(drained)

    with pytest.raises(RefusedError) as err:
        op.plan_drain(t, NoClients(), "us-east-1", clock=FakeClock(), observe=observe)
    assert asked == [["us-west-2"]]  # only the others are read: the drained one may be down
    assert err.value.exit_code == 3
    assert str(err.value) == (
        "refused: draining us-east-1 would leave no region able to serve its traffic "
        "(us-west-2: api-us-west-2 is unhealthy (checkers: 100% report healthy; inverted)); "
        "fix or undrain another region first (mr-failover undrain --region R)"
    )


def test_an_unknown_region_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown region 'eu-west-1'"):
        op.plan_drain(make_topology(), NoClients(), "eu-west-1", clock=FakeClock())


class NoClients:
    def client(self, service: str, region: str) -> Any:
        raise AssertionError(f"no AWS call expected ({service} in {region})")


# --- the weight step -----------------------------------------------------------------------


def _client(service: str, region: str = "us-east-1") -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    return session.client(service, region_name=region)  # type: ignore[call-overload]


@pytest.fixture
def r53() -> Iterator[tuple[Any, Stubber]]:
    client = _client("route53")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


RECORD_SET = {
    "Name": "api.example.com.",
    "Type": "CNAME",
    "SetIdentifier": "us-east-1",
    "Weight": 100,
    "TTL": 30,
    "ResourceRecords": [{"Value": "api-us-east-1.example.com"}],
    "HealthCheckId": "hc-us-east-1",
}
LIST_PARAMS = {
    "HostedZoneId": ZONE,
    "StartRecordName": "api.example.com.",
    "StartRecordType": "CNAME",
}


def change(change_id: str, status: str) -> dict[str, Any]:
    return {"ChangeInfo": {"Id": change_id, "Status": status, "SubmittedAt": datetime(2026, 1, 1)}}


def listed(stub: Stubber, weight: int) -> None:
    other = {**RECORD_SET, "SetIdentifier": "us-west-2", "Weight": 100}
    stub.add_response(
        "list_resource_record_sets",
        {
            "ResourceRecordSets": [other, {**RECORD_SET, "Weight": weight}],
            "IsTruncated": False,
            "MaxItems": "100",
        },
        LIST_PARAMS,
    )


def east_record(t: Topology) -> Record:
    return t.regions["us-east-1"].traffic.records[0]


def test_weight_zero_upserts_the_whole_record_and_waits_for_insync(
    r53: tuple[Any, Stubber],
) -> None:
    client, stub = r53
    step = weight_step(
        client,
        ZONE,
        east_record(make_topology("weight")),
        region="us-east-1",
        weight=0,
        undo="mr-failover undrain --region us-east-1",
    )
    assert (step.region, step.plane, step.plane_region) == ("us-east-1", "control", "us-east-1")
    listed(stub, 100)  # holds? no
    listed(stub, 100)  # the record read just before the write
    stub.add_response(
        "change_resource_record_sets",
        change("/change/C1", "PENDING"),
        {
            "HostedZoneId": ZONE,
            "ChangeBatch": {
                "Comment": "mr-failover: weight 0",
                # Value, TTL and health check are kept: only the weight changes.
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {**RECORD_SET, "Weight": 0}}],
            },
        },
    )
    for status in ("PENDING", "PENDING", "INSYNC"):
        stub.add_response(
            "get_change",
            change("/change/C1", status),
            {"Id": "/change/C1"},
        )
        listed(stub, 0)
    listed(stub, 0)  # verify: holds
    stub.add_response(
        "get_change",
        change("/change/C1", "INSYNC"),
        {"Id": "/change/C1"},
    )
    listed(stub, 0)  # verify: settled
    clock = FakeClock()
    result = execute(Plan("drain", {}, (step,)), clock=clock)
    assert result.outcomes[0].status == "applied"
    assert clock.t >= 2  # it polled GetChange on the fake clock


def test_a_missing_record_fails_the_step_naming_it(r53: tuple[Any, Stubber]) -> None:
    client, stub = r53
    step = weight_step(
        client, ZONE, east_record(make_topology("weight")), region="us-east-1", weight=0, undo="x"
    )
    stub.add_response(
        "list_resource_record_sets",
        {"ResourceRecordSets": [], "IsTruncated": False, "MaxItems": "100"},
        LIST_PARAMS,
    )
    with pytest.raises(StepFailedError) as err:
        execute(Plan("drain", {}, (step,)), clock=FakeClock())
    assert "record api.example.com. (us-east-1) not found in zone Z0123456789ABC" in str(err.value)


# --- the TTL wait --------------------------------------------------------------------------


def weight_zero_then_ttl_wait(client: Any, clock: FakeClock) -> tuple[Step, Step]:
    """us-east-1's weighted record to weight 0, then the 30 s TTL wait that follows it."""
    shift = TrafficShift()
    step = shift.track(
        weight_step(
            client,
            ZONE,
            east_record(make_topology("weight")),
            region="us-east-1",
            weight=0,
            undo="x",
        )
    )
    return step, ttl_wait_step(shift, ttl=30, region="us-east-1", clock=clock)


def test_the_ttl_wait_runs_on_the_clock_after_a_change_and_reverifies(
    r53: tuple[Any, Stubber],
) -> None:
    client, stub = r53
    clock = FakeClock()
    step, wait = weight_zero_then_ttl_wait(client, clock)
    assert (wait.plane, wait.plane_region, wait.params) == ("data", None, {"seconds": 30})
    listed(stub, 100)
    listed(stub, 100)
    stub.add_response("change_resource_record_sets", change("C2", "INSYNC"))

    def settled() -> None:
        stub.add_response("get_change", change("C2", "INSYNC"))
        listed(stub, 0)

    settled()
    listed(stub, 0)  # the step's verify: holds,
    settled()  # and settled
    # After the wait, the change is verified again from fresh reads.
    listed(stub, 0)
    settled()
    result = execute(Plan("drain", {}, (step, wait)), clock=clock)
    assert [o.status for o in result.outcomes] == ["applied", "applied"]
    assert 30 <= clock.t <= 45


def test_the_ttl_wait_is_skipped_when_the_traffic_had_already_moved(
    r53: tuple[Any, Stubber],
) -> None:
    client, stub = r53
    clock = FakeClock()
    step, wait = weight_zero_then_ttl_wait(client, clock)
    for _ in range(6):  # holds; settled; verify x2; the wait's verify x2 (holds, settled)
        listed(stub, 0)
    result = execute(Plan("drain", {}, (step, wait)), clock=clock)
    assert [o.status for o in result.outcomes] == ["skipped", "skipped"]
    assert clock.t == 0  # nothing moved in this run: no wait


# --- scaling -----------------------------------------------------------------------------


def asg_answer(desired: int, healthy: int, max_size: int = 8) -> dict[str, Any]:
    return {
        "AutoScalingGroups": [
            {
                "AutoScalingGroupName": "web-us-west-2",
                "MinSize": 0,
                "MaxSize": max_size,
                "DesiredCapacity": desired,
                "DefaultCooldown": 300,
                "AvailabilityZones": ["us-west-2a"],
                "HealthCheckType": "EC2",
                "CreatedTime": datetime(2026, 1, 1),
                "Instances": [
                    {
                        "InstanceId": f"i-{n}",
                        "AvailabilityZone": "us-west-2a",
                        "LifecycleState": "InService",
                        "HealthStatus": "Healthy",
                        "ProtectedFromScaleIn": False,
                    }
                    for n in range(healthy)
                ],
            }
        ]
    }


def test_asg_scale_up_waits_for_healthy_instances() -> None:
    client = _client("autoscaling", "us-west-2")
    names = {"AutoScalingGroupNames": ["web-us-west-2"]}
    step = compute_steps.asg_step(
        client,
        region="us-west-2",
        name="web-us-west-2",
        desired=6,
        previous=2,
        goal="at_least",
        undo="mr-failover undrain --region us-east-1",
    )
    assert (step.region, step.plane, step.plane_region) == ("us-west-2", "control", "us-west-2")
    with Stubber(client) as stub:
        stub.add_response("describe_auto_scaling_groups", asg_answer(2, 2), names)
        stub.add_response(
            "set_desired_capacity",
            {},
            {"AutoScalingGroupName": "web-us-west-2", "DesiredCapacity": 6, "HonorCooldown": False},
        )
        for healthy in (2, 4, 6):
            stub.add_response("describe_auto_scaling_groups", asg_answer(6, healthy), names)
        stub.add_response("describe_auto_scaling_groups", asg_answer(6, 6), names)  # verify
        stub.add_response("describe_auto_scaling_groups", asg_answer(6, 6), names)
        clock = FakeClock()
        execute(Plan("drain", {}, (step,)), clock=clock)
        stub.assert_no_pending_responses()
    assert clock.t >= 4  # two 2 s polls that found too few instances


def test_asg_scale_up_never_lowers_a_larger_count() -> None:
    client = _client("autoscaling", "us-west-2")
    names = {"AutoScalingGroupNames": ["web-us-west-2"]}
    step = compute_steps.asg_step(
        client,
        region="us-west-2",
        name="web-us-west-2",
        desired=6,
        previous=2,
        goal="at_least",
        undo=None,
    )
    with Stubber(client) as stub:
        for _ in range(4):
            stub.add_response("describe_auto_scaling_groups", asg_answer(8, 8), names)
        result = execute(Plan("drain", {}, (step,)), clock=FakeClock())
        stub.assert_no_pending_responses()  # no SetDesiredCapacity queued: none was sent
    assert result.outcomes[0].status == "skipped"


class OneAsgClient:
    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str, region: str) -> Any:
        assert (service, region) == ("autoscaling", "us-west-2")
        return self._client


def test_takeover_above_max_size_is_refused() -> None:
    t = make_topology()
    client = _client("autoscaling", "us-west-2")
    west = region_status("us-west-2", services=(ecs(4, 4),))  # ECS already at takeover
    with Stubber(client) as stub:
        stub.add_response(
            "describe_auto_scaling_groups",
            asg_answer(2, 2, max_size=4),
            {"AutoScalingGroupNames": ["web-us-west-2"]},
        )
        with pytest.raises(RefusedError) as err:
            op._scale_up_steps(t, OneAsgClient(client), "us-west-2", west, "us-east-1", {})
    assert str(err.value) == (
        "refused: takeover_desired 6 of Auto Scaling group web-us-west-2 in us-west-2 exceeds "
        "its MaxSize 4; raise MaxSize or lower takeover_desired, or drain with --no-scale-up"
    )


# --- what undrain scales back to -----------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path))
    return tmp_path


def journaled(
    command: str, region: str, outcome: str, at: float, previous: dict[str, Any] | None = None
) -> str:
    clock = FakeClock()
    clock.t = at
    run_id = journal.new_run_id(clock)
    plan = Plan(command, {"region": region, "previous_desired": previous or {}}, ())
    who = journal.Who("arn:aws:iam::123456789012:user/alice", "alice", "ops-1")
    j = journal.Journal.create(
        run_id, command=command, params={"region": region}, who=who, plan=plan, clock=clock
    )
    j.end(outcome, 1.0)
    j.close()
    return run_id


def test_last_drain_reads_the_first_plan_of_the_newest_successful_drain(state: Path) -> None:
    old = {"us-west-2": {"ecs:c/api": {"from": 1, "to": 4}}}
    new = {"us-west-2": {"ecs:c/api": {"from": 2, "to": 4}, "asg:web": {"from": 2, "to": 6}}}
    journaled("drain", "us-east-1", "succeeded", 10, old)
    run_id = journaled("drain", "us-east-1", "succeeded", 20, new)
    journaled(
        "drain", "us-east-1", "failed", 30, {"us-west-2": {"ecs:c/api": {"from": 9, "to": 9}}}
    )
    journaled("drain", "us-east-1", "succeeded", 35)  # a re-run that found everything scaled
    journaled(
        "drain", "us-west-2", "succeeded", 40, {"us-east-1": {"ecs:c/api": {"from": 3, "to": 4}}}
    )
    found = op.last_drain("us-east-1")
    assert found == op.RecordedScaleUp(
        run_id, {"us-west-2": {"ecs:c/api": (2, 4), "asg:web": (2, 6)}}
    )


def test_a_later_undrain_means_nothing_to_scale_back(state: Path) -> None:
    journaled(
        "drain", "us-east-1", "succeeded", 10, {"us-west-2": {"asg:web": {"from": 2, "to": 6}}}
    )
    journaled("undrain", "us-east-1", "succeeded", 20)
    assert op.last_drain("us-east-1") is None
    assert op.last_drain("us-west-2") is None


# --- the weight lever reads its records while planning ----------------------------------


class _Route53Only:
    """A client source that hands out one stubbed Route 53 client and nothing else."""

    def __init__(self, client: Any) -> None:
        self.route53 = client

    def client(self, service: str, region: str, **_: Any) -> Any:
        assert (service, region) == ("route53", "us-east-1"), (service, region)
        return self.route53


def test_weight_lever_reads_its_records_while_planning(r53: tuple[Any, Stubber]) -> None:
    client, stub = r53
    listed(stub, 100)
    steps, _ = op.drain_traffic_steps(
        make_topology("weight"), _Route53Only(client), "us-east-1", clock=FakeClock()
    )
    assert [s.call for s in steps] == ["ChangeResourceRecordSets", "WaitTTL"]


def test_weight_lever_with_route53_not_answering_fails_in_planning(
    r53: tuple[Any, Stubber],
) -> None:
    client, stub = r53
    stub.add_client_error("list_resource_record_sets", "ServiceUnavailable", http_status_code=503)
    with pytest.raises(MrFailoverError) as err:
        op.drain_traffic_steps(
            make_topology("weight"), _Route53Only(client), "us-east-1", clock=FakeClock()
        )
    assert "route53:ListResourceRecordSets" in str(err.value)


def test_weight_lever_with_a_missing_record_fails_in_planning(r53: tuple[Any, Stubber]) -> None:
    client, stub = r53
    stub.add_response(
        "list_resource_record_sets",
        {"ResourceRecordSets": [], "IsTruncated": False, "MaxItems": "100"},
        LIST_PARAMS,
    )
    with pytest.raises(UsageError, match=r"record api\.example\.com\. \(us-east-1\) not found"):
        op.drain_traffic_steps(
            make_topology("weight"), _Route53Only(client), "us-east-1", clock=FakeClock()
        )
