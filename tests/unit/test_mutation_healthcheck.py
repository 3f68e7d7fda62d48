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
from tests.route53_health import endpoint, share, stub_health

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


class Clients:
    """The stubbed Route 53 client and CloudWatch client (us-east-1: its health metrics)."""

    def __init__(self) -> None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        self.route53 = session.client("route53", region_name="us-east-1")
        self.cloudwatch = session.client("cloudwatch", region_name="us-east-1")


class Stubs(Stubber):
    """The Route 53 client's Stubber, with the CloudWatch one beside it (``metrics``)."""

    def __init__(self, clients: Clients) -> None:
        super().__init__(clients.route53)
        self.metrics = Stubber(clients.cloudwatch)

    def __enter__(self) -> Stubs:
        self.metrics.activate()
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> None:
        self.metrics.deactivate()
        super().__exit__(*exc)

    def assert_no_pending_responses(self) -> None:
        super().assert_no_pending_responses()
        self.metrics.assert_no_pending_responses()


class OneClient:
    """A ClientSource handing out the stubbed clients, all in us-east-1."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients

    def client(self, service: str, region: str) -> Any:
        assert region == "us-east-1"  # Route 53's control plane and its metrics' home
        return {"route53": self._clients.route53, "cloudwatch": self._clients.cloudwatch}[service]


@pytest.fixture
def r53() -> Any:
    clients = Clients()
    with Stubs(clients) as stub:
        yield clients, stub
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


def status(stub: Stubs, check_id: str, *results: str, **flags: bool) -> None:
    """The check's health datapoints: the share of ``results`` that are ``Success``."""
    percent = share(results.count("Success"), results.count("Failure"))
    stub_health(stub.metrics, {check_id: endpoint(percent, **flags)})


OK = ("Success", "Success", "Success")
DOWN = ("Failure", "Failure", "Failure")


def observe(stub: Stubs, east: dict[str, Any], west: dict[str, Any]) -> None:
    """Both regions' checks as planning reads them: each check, then one metric call."""
    health = {}
    for check_id, spec in ((EAST, east), (WEST, west)):
        flags = {"inverted": spec.get("inverted", False), "disabled": spec.get("disabled", False)}
        get(stub, check_id, **flags)
        raw = spec.get("raw", OK)
        health[check_id] = endpoint(share(raw.count("Success"), raw.count("Failure")), **flags)
    stub_health(stub.metrics, health)


def test_invert_refuses_to_drain_the_last_serving_region(r53: Any) -> None:
    client, stub = r53
    observe(stub, {}, {"inverted": True})  # us-west-2 already drained
    with pytest.raises(RefusedError) as err:
        plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=True)
    assert str(err.value) == (
        "refused: inverting us-east-1 would leave no region serving healthy traffic "
        "(api-us-west-2 is unhealthy (checkers: 100% report healthy; inverted)); restore "
        "another region first (mr-failover health-check restore --region R)"
    )
    assert err.value.exit_code == 3


def test_invert_refuses_when_the_other_regions_checkers_fail(r53: Any) -> None:
    client, stub = r53
    observe(stub, {}, {"raw": DOWN})
    with pytest.raises(
        RefusedError, match=r"api-us-west-2 is unhealthy \(checkers: 0% report healthy"
    ):
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
    status(stub, EAST, *OK, inverted=True)
    # verify: fresh reads
    get(stub, EAST, inverted=True, version=8)
    get(stub, EAST, inverted=True, version=8)
    status(stub, EAST, *OK, inverted=True)
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
    # Its own Stubbers: how many polls fit before the deadline depends on the jitter, so
    # more responses are queued than used, and the polls are counted instead.
    clients = Clients()
    polls: list[str] = []
    clients.cloudwatch.meta.events.register(
        "before-parameter-build.cloudwatch.GetMetricData", lambda **_: polls.append("metrics")
    )
    stub = Stubs(clients)
    plan = plan_inversion_without_reads(clients, invert=False)
    get(stub, EAST, inverted=False)  # already restored: skipped, but must still turn healthy
    for _ in range(30):
        get(stub, EAST)
        status(stub, EAST, *DOWN)
    clock = FakeClock()
    with stub, pytest.raises(StepFailedError) as err:
        execute(plan, clock=clock)
    # Three of Route 53's one-minute datapoints at least (request interval 10 s x failure
    # threshold 3 x 2 + 60 s is less).
    assert str(err.value) == (
        "step 1/1 'restore health check api-us-east-1 (us-east-1 healthy)' failed "
        "(route53:UpdateHealthCheck in us-east-1): its effect did not take hold within 180s: "
        "api-us-east-1 is unhealthy (checkers: 0% report healthy)"
    )
    # The metric is per minute: a poll at once, then every 15-20 s (the first wait 15-20 s,
    # the next ones 20 s), never one every 2 s. With a first wait of 15 s the last sleep
    # starts at 175 s and one more poll comes at 195 s before the deadline is seen: 9 to 11.
    assert 9 <= len(polls) <= 11
    assert 180 <= clock.t <= 200


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


def plan_inversion_without_reads(clients: Clients, *, invert: bool) -> Any:
    """The plan as plan_inversion builds it, minus its safety reads (tested above)."""
    from mr_failover.engine.plan import Plan
    from mr_failover.resources.route53_steps import inversion_step

    hc = TOPOLOGY.regions["us-east-1"].traffic.health_checks[0]
    step = inversion_step(
        clients.route53,
        hc,
        EAST,
        region="us-east-1",
        inverted=invert,
        cloudwatch=clients.cloudwatch,
    )
    return Plan("health-check", {"region": "us-east-1"}, (step,))
