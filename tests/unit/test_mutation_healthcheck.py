"""health-check invert/restore core with botocore Stubber: the states moto cannot produce.

moto reports every checker as successful forever; here the checkers fail, recover,
the check is disabled, another operator edits it, and the other region is already
drained. Stubber also checks each request against the Route 53 service model.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover.engine.executor import StepFailedError, execute
from mr_failover.errors import RefusedError
from mr_failover.operations.healthcheck import plan_inversion
from mr_failover.topology import Topology
from tests.clocks import FakeClock

EAST, WEST = "hc-east", "hc-west"

TOPOLOGY = Topology.model_validate(
    {
        "application": "arc309",
        "account_id": "123456789012",
        "primary_region": "us-east-1",
        "policy": {"rpo_seconds": 60, "rto_seconds": 900},
        "regions": {
            region: {
                "traffic": {
                    "health_checks": [
                        {"name": f"api-{region}", "id": check_id, "request_interval": 10}
                    ]
                }
            }
            for region, check_id in (("us-east-1", EAST), ("us-west-2", WEST))
        },
    }
)


class OneClient:
    """A ClientSource handing out the one stubbed Route 53 client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str, region: str) -> Any:
        assert (service, region) == ("route53", "us-east-1")  # the control plane's home
        return self._client


@pytest.fixture
def r53() -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client = session.client("route53", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def get(stub: Stubber, check_id: str, *, inverted: bool = False, disabled: bool = False,
        version: int = 1) -> None:  # fmt: skip
    stub.add_response(
        "get_health_check",
        {
            "HealthCheck": {
                "Id": check_id,
                "CallerReference": check_id,
                "HealthCheckConfig": {
                    "Type": "HTTPS",
                    "FullyQualifiedDomainName": f"{check_id}.example.com",
                    "Inverted": inverted,
                    "Disabled": disabled,
                },
                "HealthCheckVersion": version,
            }
        },
        {"HealthCheckId": check_id},
    )


def status(stub: Stubber, check_id: str, *results: str) -> None:
    stub.add_response(
        "get_health_check_status",
        {
            "HealthCheckObservations": [
                {
                    "Region": region,
                    "IPAddress": "198.51.100.1",
                    "StatusReport": {"Status": f"{r}: HTTP Status Code 200"},
                }
                for region, r in zip(
                    ("us-east-1", "eu-west-1", "ap-southeast-1"), results, strict=False
                )
            ]
        },
        {"HealthCheckId": check_id},
    )


OK = ("Success", "Success", "Success")
DOWN = ("Failure", "Failure", "Failure")


def observe(stub: Stubber, east: dict[str, Any], west: dict[str, Any]) -> None:
    for check_id, spec in ((EAST, east), (WEST, west)):
        get(
            stub,
            check_id,
            inverted=spec.get("inverted", False),
            disabled=spec.get("disabled", False),
        )
        status(stub, check_id, *spec.get("raw", OK))


def test_invert_refuses_to_drain_the_last_serving_region(r53: Any) -> None:
    client, stub = r53
    observe(stub, {}, {"inverted": True})  # us-west-2 already drained
    with pytest.raises(RefusedError) as err:
        plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=True)
    assert str(err.value) == (
        "refused: inverting us-east-1 would leave no region serving healthy traffic "
        "(api-us-west-2 is unhealthy (checkers: 3 of 3 report Success; inverted)); restore "
        "another region first (mr-failover health-check restore --region R)"
    )
    assert err.value.exit_code == 3


def test_invert_refuses_when_the_other_regions_checkers_fail(r53: Any) -> None:
    client, stub = r53
    observe(stub, {}, {"raw": DOWN})
    with pytest.raises(RefusedError, match=r"api-us-west-2 is unhealthy \(checkers: 0 of 3"):
        plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=True)


def test_invert_plans_a_disabled_check(r53: Any) -> None:
    # Issue 15: a disabled, inverted check is unhealthy (UpdateHealthCheck), so inverting
    # a disabled check is the documented way to move its traffic, not a refusal.
    client, stub = r53
    observe(stub, {"disabled": True}, {})
    plan = plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=True)
    assert [s.params["Inverted"] for s in plan.steps] == [True]


def test_invert_refuses_when_checkers_already_fail(r53: Any) -> None:
    client, stub = r53
    observe(stub, {"raw": DOWN}, {})
    with pytest.raises(RefusedError) as err:
        plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=True)
    assert "inverting would make it look healthy and send traffic to it" in str(err.value)


def test_invert_passes_the_version_and_waits_for_the_effective_status(r53: Any) -> None:
    client, stub = r53
    observe(stub, {}, {})
    plan = plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=True)
    (step,) = plan.steps
    assert (step.region, step.plane, step.plane_region) == ("us-east-1", "control", "us-east-1")
    assert step.undo == "mr-failover health-check restore --region us-east-1"
    get(stub, EAST)  # holds? no
    get(stub, EAST, version=7)  # the version read just before the write
    stub.add_response(
        "update_health_check",
        {"HealthCheck": _hc(EAST, inverted=True, version=8)},
        {"HealthCheckId": EAST, "HealthCheckVersion": 7, "Inverted": True},
    )
    # The edit propagates: the first read still shows the old flag.
    get(stub, EAST, version=7)
    status(stub, EAST, *OK)
    get(stub, EAST, inverted=True, version=8)
    status(stub, EAST, *OK)
    # verify: fresh reads
    get(stub, EAST, inverted=True, version=8)
    get(stub, EAST, inverted=True, version=8)
    status(stub, EAST, *OK)
    clock = FakeClock()
    result = execute(plan, clock=clock)
    assert result.outcomes[0].status == "applied"
    assert clock.t > 0  # it waited, on the fake clock


def test_restore_waits_for_recovering_checkers(r53: Any) -> None:
    client, stub = r53
    plan = plan_inversion_without_reads(client, invert=False)
    get(stub, EAST, inverted=True)
    get(stub, EAST, inverted=True, version=3)
    stub.add_response(
        "update_health_check",
        {"HealthCheck": _hc(EAST, inverted=False, version=4)},
        {"HealthCheckId": EAST, "HealthCheckVersion": 3, "Inverted": False},
    )
    for raw in (DOWN, DOWN, OK):
        get(stub, EAST, version=4)
        status(stub, EAST, *raw)
    get(stub, EAST, version=4)
    get(stub, EAST, version=4)
    status(stub, EAST, *OK)
    result = execute(plan, clock=FakeClock())
    assert result.outcomes[0].status == "applied"


def test_restore_fails_at_the_deadline_when_the_region_stays_down() -> None:
    # Its own Stubber: how many polls fit before the deadline depends on the jitter, so
    # more responses are queued than used, and the polls are counted instead.
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client("route53", region_name="us-east-1")
    polls: list[str] = []
    client.meta.events.register(
        "before-parameter-build.route53.GetHealthCheckStatus", lambda **_: polls.append("status")
    )
    stub = Stubber(client)
    plan = plan_inversion_without_reads(client, invert=False)
    get(stub, EAST, inverted=False)  # already restored: skipped, but must still turn healthy
    for _ in range(70):
        get(stub, EAST)
        status(stub, EAST, *DOWN)
    clock = FakeClock()
    with stub, pytest.raises(StepFailedError) as err:
        execute(plan, clock=clock)
    assert str(err.value) == (
        "step 1/1 'restore health check api-us-east-1 (us-east-1 healthy)' failed "
        "(route53:UpdateHealthCheck in us-east-1): its effect did not take hold within 120s: "
        "api-us-east-1 is unhealthy (checkers: 0 of 3 report Success)"
    )
    # A poll every 2 s at most (the first wait 1.5-2 s): 60 or 61 polls in 120 s.
    assert 60 <= len(polls) <= 62
    assert 120 <= clock.t <= 122


def test_a_concurrent_edit_is_not_overwritten(r53: Any) -> None:
    client, stub = r53
    plan = plan_inversion_without_reads(client, invert=True)
    get(stub, EAST)
    get(stub, EAST, version=5)
    stub.add_client_error(
        "update_health_check",
        service_error_code="HealthCheckVersionMismatch",
        service_message="The HealthCheckVersion in the request does not match",
        http_status_code=409,
        expected_params={"HealthCheckId": EAST, "HealthCheckVersion": 5, "Inverted": True},
    )
    with pytest.raises(StepFailedError) as err:
        execute(plan, clock=FakeClock())
    assert str(err.value) == (
        "step 1/1 'invert health check api-us-east-1 (us-east-1 unhealthy)' failed "
        "(route53:UpdateHealthCheck in us-east-1): route53:UpdateHealthCheck in us-east-1 "
        "failed: health check api-us-east-1 was changed by someone else meanwhile (check who "
        "is editing it, then run the command again)"
    )


def _hc(check_id: str, *, inverted: bool, version: int) -> dict[str, Any]:
    return {
        "Id": check_id,
        "CallerReference": check_id,
        "HealthCheckConfig": {
            "Type": "HTTPS",
            "FullyQualifiedDomainName": f"{check_id}.example.com",
            "Inverted": inverted,
        },
        "HealthCheckVersion": version,
    }


def plan_inversion_without_reads(client: Any, *, invert: bool) -> Any:
    """The plan as plan_inversion builds it, minus its safety reads (tested above)."""
    from mr_failover.engine.plan import Plan
    from mr_failover.resources.route53_steps import inversion_step

    hc = TOPOLOGY.regions["us-east-1"].traffic.health_checks[0]
    step = inversion_step(client, hc, EAST, region="us-east-1", inverted=invert)
    return Plan("health-check", {"region": "us-east-1"}, (step,))
