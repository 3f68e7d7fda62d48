"""Global Accelerator dials and the ElastiCache Global Datastore, end to end in the sandbox.

The shipped example topology is seeded into an in-process sandbox; status reads both
components, drain/undrain move the traffic dial (0, then back to the value found before
the drain), and promote moves the Aurora writer and then the datastore's primary, in the
order the plan shows and the sandbox's call log proves. The executor's clock advances the
sandbox clock instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mr_failover import status, topology
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.engine import journal
from mr_failover.engine.executor import execute
from mr_failover.operations import drain, promote
from mr_failover.sandbox import elasticache as sandbox_cache
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.seed import seed
from mr_failover.sandbox.snapshot import Checkpoint, checkpoint, restore
from mr_failover.topology import Topology
from tests.sandbox.conftest import control, sandbox  # noqa: F401

EAST, WEST = "us-east-1", "us-west-2"


class SandboxTime:
    """The executor's clock: sleeping advances the sandbox clock (and runs its tickers)."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    def monotonic(self) -> float:
        return self.sb.now()

    def time(self) -> float:
        return self.sb.wall_time().timestamp()

    def sleep(self, seconds: float) -> None:
        self.sb.advance(seconds)


def _dial_topology() -> Topology:
    """The example, with the traffic dial as the only lever (no Route 53 in the way)."""
    base = topology.load(topology.resources.files("mr_failover") / "data/regions.yaml")  # type: ignore[attr-defined]
    regions = {}
    for name, r in base.regions.items():
        traffic = r.traffic.model_copy(
            update={"drain_lever": "traffic_dial", "health_checks": [], "records": []}
        )
        regions[name] = r.model_copy(update={"traffic": traffic, "api_endpoints": []})
    return base.model_copy(update={"regions": regions, "cloudfront_distributions": []})


@pytest.fixture(scope="module")
def checkpoints() -> dict[str, tuple[Topology, Checkpoint]]:
    return {}


@pytest.fixture
def seeded(
    sandbox: Sandbox,  # noqa: F811
    control: Any,  # noqa: F811
    checkpoints: dict[str, tuple[Topology, Checkpoint]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> Iterator[tuple[Topology, ClientFactory]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(journal.ENV_STATE_DIR, str(tmp_path))
    factory = ClientFactory(
        None, endpoint_url=sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
    )
    # ``control`` has just reset the sandbox. Seed once per module, then restore that.
    if "dial" in checkpoints:
        seeded_t, saved = checkpoints["dial"]
        restore(sandbox, saved)
        yield seeded_t.model_copy(deep=True), factory
        return
    # The seeder waits for ECS tasks and DynamoDB replicas, which this module's sandbox
    # (tests/sandbox's long durations) starts in 30 s and 5 s: on the sandbox clock.
    seeded_t = seed(
        _dial_topology(),
        factory,
        assign_health_check=sandbox.assign_health_check,
        sleep=sandbox.advance,
        clock=sandbox.now,
    )
    sandbox.advance(1.0)  # the accelerator reaches DEPLOYED
    checkpoints["dial"] = (seeded_t, checkpoint(sandbox))
    yield seeded_t.model_copy(deep=True), factory


def _ga(sb: Sandbox, factory: ClientFactory, region: str) -> dict[str, Any]:
    client = factory.client("globalaccelerator", WEST)
    acc = client.list_accelerators()["Accelerators"][0]
    listener = client.list_listeners(AcceleratorArn=acc["AcceleratorArn"])["Listeners"][0]
    groups = client.list_endpoint_groups(ListenerArn=listener["ListenerArn"])["EndpointGroups"]
    found: dict[str, Any] = next(g for g in groups if g["EndpointGroupRegion"] == region)
    return found


def test_status_shows_dials_and_datastore(seeded: tuple[Topology, ClientFactory]) -> None:
    t, factory = seeded
    report = status.observe(t, factory)
    east, west = report.region(EAST), report.region(WEST)
    assert east.accelerator is not None and east.accelerator.group is not None
    assert east.accelerator.group.dial == 100.0
    assert east.elasticache is not None and west.elasticache is not None
    assert east.elasticache.datastore.primary_region == EAST
    assert west.elasticache.member is not None and west.elasticache.member.role == "SECONDARY"
    assert report.to_json()["regions"][1]["elasticache"]["primary_region"] == EAST


def test_dial_already_at_zero_is_flagged(
    sandbox: Sandbox,  # noqa: F811
    seeded: tuple[Topology, ClientFactory],
) -> None:
    t, factory = seeded
    client = factory.client("globalaccelerator", WEST)
    client.update_endpoint_group(
        EndpointGroupArn=_ga(sandbox, factory, EAST)["EndpointGroupArn"], TrafficDialPercentage=0.0
    )
    report = status.observe(t, factory)
    east = report.region(EAST)
    assert east.verdict == "drained"
    assert any("traffic dial at 0%" in w for w in east.warnings)
    plan = drain.plan_drain(t, factory, EAST, clock=SandboxTime(sandbox), scale_up=False)
    assert any("already at 0%" in n for n in plan.notes)
    assert plan.params["dial_before"] is None  # undrain must not "restore" 0
    # And a region at 0 cannot absorb the other's traffic.
    with pytest.raises(Exception, match="traffic dial is at 0%"):
        drain.plan_drain(t, factory, WEST, clock=SandboxTime(sandbox), scale_up=False)


def test_drain_and_undrain_move_the_dial(
    sandbox: Sandbox,  # noqa: F811
    seeded: tuple[Topology, ClientFactory],
) -> None:
    t, factory = seeded
    clock = SandboxTime(sandbox)
    client = factory.client("globalaccelerator", WEST)
    arn = _ga(sandbox, factory, EAST)["EndpointGroupArn"]
    client.update_endpoint_group(EndpointGroupArn=arn, TrafficDialPercentage=60.0)
    plan = drain.plan_drain(t, factory, EAST, clock=clock, scale_up=False)
    dial_steps = [s for s in plan.steps if s.call == "UpdateEndpointGroup"]
    assert [(s.region, s.params["TrafficDialPercentage"]) for s in dial_steps] == [(WEST, 0.0)]
    assert plan.params["dial_before"] == 60.0
    assert any("us-west-2 only" in n for n in plan.notes)
    assert any(n.startswith("the traffic dial moves new connections only") for n in plan.notes)
    execute(plan, clock=clock)
    assert _ga(sandbox, factory, EAST)["TrafficDialPercentage"] == 0.0
    undrain = drain.plan_undrain(
        t, factory, EAST, clock=clock, scale_back=False, recorded_dial=lambda r: ("run-1", 60.0)
    )
    execute(undrain, clock=clock)
    assert _ga(sandbox, factory, EAST)["TrafficDialPercentage"] == 60.0
    updates = [c for c in sandbox.calls() if c.action == "UpdateEndpointGroup"]
    assert {c.region for c in updates} == {WEST}


def test_promote_moves_database_then_datastore(
    sandbox: Sandbox,  # noqa: F811
    seeded: tuple[Topology, ClientFactory],
) -> None:
    t, factory = seeded
    clock = SandboxTime(sandbox)
    sandbox.advance(2.0)  # a lag datapoint for the secondary
    plan = promote.plan_promotion(t, factory, WEST, mode="switchover")
    calls = [s.call for s in plan.steps]
    assert calls == ["SwitchoverGlobalCluster", "FailoverGlobalReplicationGroup"]
    assert plan.steps[1].region == WEST
    assert any(n.startswith("order: the Aurora writer moves first") for n in plan.notes)
    started = len(sandbox.calls())
    execute(plan, clock=clock)
    moves = [
        c.action
        for c in sandbox.calls()[started:]
        if c.action in ("SwitchoverGlobalCluster", "FailoverGlobalReplicationGroup")
    ]
    assert moves == ["SwitchoverGlobalCluster", "FailoverGlobalReplicationGroup"]
    report = status.observe(t, factory)
    west = report.region(WEST)
    assert west.elasticache is not None and west.elasticache.datastore.primary_region == WEST
    assert west.is_writer is True


def test_datastore_failover_is_asynchronous_and_accepted_while_modifying(
    sandbox: Sandbox,  # noqa: F811
    seeded: tuple[Topology, ClientFactory],
) -> None:
    _, factory = seeded
    client = factory.client("elasticache", WEST)
    gid = client.describe_global_replication_groups()["GlobalReplicationGroups"][0][
        "GlobalReplicationGroupId"
    ]
    out = client.failover_global_replication_group(
        GlobalReplicationGroupId=gid,
        PrimaryRegion=WEST,
        PrimaryReplicationGroupId="arc309-cache-usw2",
    )
    assert out["GlobalReplicationGroup"]["Status"] == "modifying"
    # rule: elasticache-promote-anytime: "Promotion is allowed anytime, even if other
    # modifications are in progress" (the sandbox used to refuse this one).
    again = client.failover_global_replication_group(
        GlobalReplicationGroupId=gid,
        PrimaryRegion=WEST,
        PrimaryReplicationGroupId="arc309-cache-usw2",
    )
    assert again["GlobalReplicationGroup"]["Status"] == "modifying"
    sandbox.advance(sandbox_cache.FAILOVER_SECONDS + 0.5)
    g = client.describe_global_replication_groups(
        GlobalReplicationGroupId=gid, ShowMemberInfo=True
    )["GlobalReplicationGroups"][0]
    assert g["Status"] == "available"
    assert {m["ReplicationGroupRegion"]: m["Role"] for m in g["Members"]} == {
        WEST: "PRIMARY",
        EAST: "SECONDARY",
    }


def test_a_secondary_is_promoted_while_the_primary_region_is_down(
    sandbox: Sandbox,  # noqa: F811
    seeded: tuple[Topology, ClientFactory],
    control: SandboxClient,  # noqa: F811
) -> None:
    """rule: elasticache-promote-anytime (the old plan skipped the datastore then)."""
    t, factory = seeded
    control.fail_region(EAST)
    sandbox.advance(2.0)
    plan = promote.plan_promotion(t, factory, WEST, allow_data_loss=True, beyond_rpo=True)
    assert [s.call for s in plan.steps] == [
        "FailoverGlobalCluster",
        "FailoverGlobalReplicationGroup",
    ]
    assert any("the ElastiCache guide allows promoting a secondary then" in n for n in plan.notes)
    execute(plan, clock=SandboxTime(sandbox))
    client = factory.client("elasticache", WEST)
    g = client.describe_global_replication_groups(ShowMemberInfo=True)["GlobalReplicationGroups"][0]
    assert {m["ReplicationGroupRegion"]: m["Role"] for m in g["Members"]}[WEST] == "PRIMARY"


def test_global_accelerator_api_only_in_us_west_2(
    seeded: tuple[Topology, ClientFactory],
) -> None:
    _, factory = seeded
    client = factory.client("globalaccelerator", EAST)
    with pytest.raises(client.exceptions.ClientError, match="us-west-2 only"):
        client.list_accelerators()
