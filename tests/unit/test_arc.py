"""Route 53 ARC, tool side: endpoint rotation, safety-rule evaluation, planning, caches.

No network but loopback: data-plane answers come from botocore Stubber (which checks each
request against the route53-recovery-cluster model), a refused connection from a closed
loopback port, a timeout from the ``black_hole`` fixture.
"""

from __future__ import annotations

import json
import random
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.engine import journal
from mr_failover.engine.executor import StepFailedError, execute
from mr_failover.engine.plan import Plan
from mr_failover.errors import EXIT_FAILED, EXIT_REFUSED, AwsCallError, UsageError
from mr_failover.resources import arc, route53
from mr_failover.resources.arc_steps import SafetyRuleBlockedError, plan_routing_controls
from mr_failover.resources.section import RegionStatus
from mr_failover.status import observe
from mr_failover.topology import ArcEndpoint, Topology
from tests.unit.test_drain import FakeClock
from tests.unit.test_status import StubbedFactory

ACCOUNT = "123456789012"
CLUSTER = f"arn:aws:route53-recovery-control::{ACCOUNT}:cluster/c1"
PANEL = f"arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/p1"
RC_E = f"{PANEL}/routingcontrol/east"
RC_W = f"{PANEL}/routingcontrol/west"
RULE = f"{PANEL}/safetyrule/min-one"
ENDPOINT_REGIONS = ("ap-northeast-1", "ap-southeast-2", "eu-west-1", "us-east-1", "us-west-2")
ENDPOINTS = [
    ArcEndpoint(region=r, url=f"https://host-a.{r}.example.aws/v1") for r in ENDPOINT_REGIONS
]
CLUSTER_SVC = arc.CLUSTER_SERVICE


def traffic_cell(r: RegionStatus) -> str:
    return route53.SECTION.cell(r).text


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(journal.ENV_STATE_DIR, str(tmp_path / "state"))
    return tmp_path / "state"


def make_topology(*, endpoints: bool = True, lever: str = "routing_control") -> Topology:
    def region(arn: str) -> dict[str, Any]:
        return {"traffic": {"drain_lever": lever, "routing_controls": [arn]}}

    arc_block: dict[str, Any] = {"cluster_arn": CLUSTER}
    if endpoints:
        arc_block["endpoints"] = [e.model_dump() for e in ENDPOINTS]
    return Topology.model_validate(
        {
            "application": "shop",
            "account_id": ACCOUNT,
            "primary_region": "us-east-1",
            "policy": {"rpo_seconds": 60, "rto_seconds": 900},
            "arc": arc_block,
            "regions": {"us-east-1": region(RC_E), "us-west-2": region(RC_W)},
        }
    )


def closed_port() -> str:
    """A loopback URL whose port refuses connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def order(seed: int) -> list[str]:
    """The endpoint regions in the order a DataPlane with ``random.Random(seed)`` tries."""
    regions = list(ENDPOINT_REGIONS)
    random.Random(seed).shuffle(regions)
    return regions


def listing(east: str = "On", west: str = "On") -> dict[str, Any]:
    return {
        "RoutingControls": [
            {
                "ControlPanelArn": PANEL,
                "RoutingControlArn": RC_E,
                "RoutingControlName": "east",
                "RoutingControlState": east,
            },
            {
                "ControlPanelArn": PANEL,
                "RoutingControlArn": RC_W,
                "RoutingControlName": "west",
                "RoutingControlState": west,
            },
        ]
    }


def assertion(
    arn: str = RULE,
    name: str = "min-one-on",
    *,
    rule_type: str = "ATLEAST",
    threshold: int = 1,
    inverted: bool = False,
    controls: tuple[str, ...] = (RC_E, RC_W),
    status: str = "DEPLOYED",
) -> dict[str, Any]:
    return {
        "ASSERTION": {
            "AssertedControls": list(controls),
            "ControlPanelArn": PANEL,
            "Name": name,
            "RuleConfig": {"Inverted": inverted, "Threshold": threshold, "Type": rule_type},
            "SafetyRuleArn": arn,
            "Status": status,
            "WaitPeriodMs": 5000,
        }
    }


def gating(
    gates: tuple[str, ...], targets: tuple[str, ...], *, rule_type: str = "OR"
) -> dict[str, Any]:
    return {
        "GATING": {
            "GatingControls": list(gates),
            "TargetControls": list(targets),
            "ControlPanelArn": PANEL,
            "Name": "gate",
            "RuleConfig": {"Inverted": False, "Threshold": 1, "Type": rule_type},
            "SafetyRuleArn": f"{PANEL}/safetyrule/gate",
            "Status": "DEPLOYED",
            "WaitPeriodMs": 5000,
        }
    }


def rule(item: dict[str, Any]) -> arc.SafetyRule:
    return arc.SafetyRule.from_api(item)


# --- the endpoint rotation ---------------------------------------------------------------------


def test_endpoints_are_tried_in_random_order_until_one_answers() -> None:
    seed = 7
    first, second, third, *_ = order(seed)
    factory = StubbedFactory(dead={f"{CLUSTER_SVC}@{first}": closed_port()})
    factory.stub(CLUSTER_SVC, second).add_client_error(
        "list_routing_controls",
        service_error_code="EndpointTemporarilyUnavailableException",
        http_status_code=503,
    )
    factory.stub(CLUSTER_SVC, third).add_response(
        "list_routing_controls", listing(), {"ControlPanelArn": PANEL, "MaxResults": 100}
    )
    others = [r for r in ENDPOINT_REGIONS if r not in (first, second, third)]
    for r in others:
        factory.stub(CLUSTER_SVC, r)  # no answer queued: any call to them fails the test
    plane = arc.DataPlane(ENDPOINTS, arc.endpoint_clients(factory), rng=random.Random(seed))

    states = arc.read_states(make_topology(), plane, [PANEL])

    assert {a: f.state for a, f in states.controls.items()} == {RC_E: "On", RC_W: "On"}
    assert [a.region for a in plane.attempts] == [first, second, third]
    assert plane.attempts[0].failure is not None
    assert plane.attempts[0].failure.startswith("no connection")
    assert plane.attempts[1].failure == "EndpointTemporarilyUnavailableException (HTTP 503)"
    assert plane.served_by is not None and plane.served_by.region == third
    for r in (second, third):
        factory.stub(CLUSTER_SVC, r).assert_no_pending_responses()


def test_another_seed_tries_another_order() -> None:
    seeds = [s for s in range(50) if order(s)[0] != order(7)[0]]
    seed = seeds[0]
    factory = StubbedFactory()
    factory.stub(CLUSTER_SVC, order(seed)[0]).add_response("list_routing_controls", listing())
    plane = arc.DataPlane(ENDPOINTS, arc.endpoint_clients(factory), rng=random.Random(seed))
    plane.call("list_routing_controls", ControlPanelArn=PANEL)
    assert [a.region for a in plane.attempts] == [order(seed)[0]]


def test_each_endpoint_has_its_own_short_deadline(black_hole: str) -> None:
    """A black-holed endpoint costs its read timeout once, then the next one is tried."""
    hung, live = ENDPOINTS[0], ENDPOINTS[1]
    factory = ClientFactory(None, endpoint_url=None)
    fast = Timeouts(connect=0.3, read=0.3, max_attempts=1, error_attempts=1)
    real = arc.endpoint_clients(factory, fast)
    stubbed = StubbedFactory()
    stubbed.stub(CLUSTER_SVC, live.region).add_response("list_routing_controls", listing())

    def make(ep: ArcEndpoint) -> Any:
        if ep is hung:
            return real(ArcEndpoint(region=ep.region, url=black_hole))
        return stubbed.client(CLUSTER_SVC, ep.region)

    class First(random.Random):
        def shuffle(self, x: Any) -> None:  # the hung endpoint first, then the live one
            x.sort(key=lambda e: 0 if e is hung else 1 if e is live else 2)

    plane = arc.DataPlane(ENDPOINTS, make, rng=First())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        started = time.monotonic()
        plane.call("list_routing_controls", ControlPanelArn=PANEL)
        elapsed = time.monotonic() - started
    assert [(a.region, (a.failure or "").split(" ")[0]) for a in plane.attempts] == [
        (hung.region, "timed"),
        (live.region, ""),
    ]
    # One attempt of 0.3 s on the hung endpoint, not botocore's retries: one connection
    # (counted, not timed: a loaded machine stretches the wall clock, not the attempts).
    assert getattr(black_hole, "connections", None) == 1
    assert elapsed > 0.25


def test_all_endpoints_failing_is_one_error_naming_each() -> None:
    factory = StubbedFactory()
    for i, r in enumerate(ENDPOINT_REGIONS):
        code = "ThrottlingException" if i % 2 else "InternalServerException"
        factory.stub(CLUSTER_SVC, r).add_client_error(
            "update_routing_control_states",
            service_error_code=code,
            http_status_code=429 if i % 2 else 500,
        )
    plane = arc.DataPlane(ENDPOINTS, arc.endpoint_clients(factory), rng=random.Random(1))
    with pytest.raises(arc.NoEndpointAnsweredError) as info:
        plane.call(
            "update_routing_control_states",
            UpdateRoutingControlStateEntries=[
                {"RoutingControlArn": RC_E, "RoutingControlState": "Off"}
            ],
        )
    text = str(info.value)
    assert info.value.exit_code == EXIT_FAILED
    assert "route53-recovery-cluster:UpdateRoutingControlStates" in text
    assert "none of the cluster's 5 endpoints answered" in text
    for ep in ENDPOINTS:
        assert f"{ep.region} ({ep.url}): " in text
    assert [a.region for a in info.value.attempts] == order(1)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
    ],
)
def test_an_answer_every_endpoint_would_give_stops_the_rotation(code: str, status: int) -> None:
    factory = StubbedFactory()
    first = order(3)[0]
    factory.stub(CLUSTER_SVC, first).add_client_error(
        "list_routing_controls", service_error_code=code, http_status_code=status
    )
    for r in order(3)[1:]:
        factory.stub(CLUSTER_SVC, r)  # nothing queued: trying them would fail the test
    plane = arc.DataPlane(ENDPOINTS, arc.endpoint_clients(factory), rng=random.Random(3))
    with pytest.raises(Exception) as info:
        plane.call("list_routing_controls", ControlPanelArn=PANEL)
    assert not isinstance(info.value, arc.NoEndpointAnsweredError)
    assert f"in {first}" in str(info.value)
    assert [a.region for a in plane.attempts] == [first]


# --- safety rules ------------------------------------------------------------------------------


ON = {RC_E: True, RC_W: True}


@pytest.mark.parametrize(
    ("item", "change", "blocked"),
    [
        (assertion(threshold=1), {RC_E: False}, False),  # west stays ON
        (assertion(threshold=2), {RC_E: False}, True),
        (assertion(rule_type="AND"), {RC_E: False}, True),
        (assertion(rule_type="OR"), {RC_E: False}, False),
        # Inverted ATLEAST 2: "fewer than 2 ON": both ON now, turning one OFF satisfies it.
        (assertion(threshold=2, inverted=True), {RC_E: False}, False),
        (assertion(threshold=2, inverted=True), {RC_E: True}, True),
        (assertion(rule_type="OR", inverted=True), {RC_E: False}, True),  # west still ON
        (assertion(threshold=2, status="PENDING"), {RC_E: False}, False),  # not deployed
        (assertion(threshold=2, controls=(RC_W,)), {RC_E: False}, False),  # not touched
    ],
)
def test_assertion_rules(item: dict[str, Any], change: dict[str, bool], blocked: bool) -> None:
    assert bool(arc.blocking_rules([rule(item)], ON, change)) is blocked


def test_gating_rules_judge_the_gates_after_the_change() -> None:
    gate = f"{PANEL}/routingcontrol/gate"
    r = rule(gating((gate,), (RC_E, RC_W)))
    assert arc.blocking_rules([r], {**ON, gate: False}, {RC_E: False}) == (r,)
    assert arc.blocking_rules([r], {**ON, gate: True}, {RC_E: False}) == ()
    # Turning the gate ON in the same batch opens it.
    assert arc.blocking_rules([r], {**ON, gate: False}, {gate: True, RC_E: False}) == ()
    # A change that touches no target is not gated.
    assert arc.blocking_rules([r], {**ON, gate: False}, {gate: True}) == ()


def test_an_override_skips_the_rule_and_only_it() -> None:
    a = rule(assertion(threshold=2))
    b = rule(assertion(f"{PANEL}/safetyrule/all", "all-on", rule_type="AND"))
    assert arc.blocking_rules([a, b], ON, {RC_E: False}) == (a, b)
    assert arc.blocking_rules([a, b], ON, {RC_E: False}, overrides=[a.arn]) == (b,)
    assert arc.blocking_rules([a, b], ON, {RC_E: False}, overrides=[a.arn, b.arn]) == ()


def test_rules_in_words() -> None:
    labels = {RC_E: "us-east-1/east", RC_W: "us-west-2/west"}
    assert rule(assertion()).describe(labels) == (
        "assertion rule 'min-one-on': at least 1 of [us-east-1/east, us-west-2/west] must stay ON"
    )
    assert rule(assertion(rule_type="AND")).describe(labels) == (
        "assertion rule 'min-one-on': all of [us-east-1/east, us-west-2/west] must stay ON"
    )
    assert rule(gating((RC_W,), (RC_E,))).describe(labels) == (
        "gating rule 'gate': [us-east-1/east] may change only while at least 1 of "
        "[us-west-2/west] ON"
    )


# --- planning the lever --------------------------------------------------------------------


class InOrder(random.Random):
    """Tries the endpoints in the listed order on every call (one stub to queue on)."""

    def shuffle(self, x: Any) -> None:
        return None


FIRST = ENDPOINT_REGIONS[0]


def planning_factory(
    rules: list[dict[str, Any]], *, states: dict[str, Any] | None = None
) -> StubbedFactory:
    """Control plane answers ``rules``; the first endpoint answers the listing."""
    factory = StubbedFactory()
    factory.stub(arc.CONFIG_SERVICE, arc.CONTROL_PLANE_REGION).add_response(
        "list_safety_rules", {"SafetyRules": rules}, {"ControlPanelArn": PANEL, "MaxResults": 100}
    )
    factory.stub(CLUSTER_SVC, FIRST).add_response("list_routing_controls", states or listing())
    return factory


def plane(factory: StubbedFactory) -> arc.DataPlane:
    return arc.DataPlane(ENDPOINTS, arc.endpoint_clients(factory), rng=InOrder())


def test_a_blocking_rule_refuses_the_plan_naming_it_with_no_change() -> None:
    factory = planning_factory([assertion(threshold=2)])
    with pytest.raises(SafetyRuleBlockedError) as info:
        plan_routing_controls(
            make_topology(), factory, "us-east-1", on=False, undo="u", plane=plane(factory)
        )
    text = str(info.value)
    assert info.value.exit_code == EXIT_REFUSED
    assert (
        f"assertion rule 'min-one-on' ({RULE}): at least 2 of [us-east-1/east, us-west-2/west] "
        "must stay ON"
    ) in text
    assert f"--override-safety-rule {RULE}" in text
    assert "no change made" in text
    # Nothing but the two reads: no UpdateRoutingControlStates was queued or made.
    factory.stub(CLUSTER_SVC, FIRST).assert_no_pending_responses()


def test_an_override_plans_sends_and_verifies_the_change() -> None:
    factory = planning_factory([assertion(threshold=2)])
    dp = plane(factory)
    found = plan_routing_controls(
        make_topology(), factory, "us-east-1", on=False, overrides=[RULE], undo="u", plane=dp
    )
    step = found.step
    assert step.params["SafetyRulesToOverride"] == [RULE]
    assert [o.to_json() for o in found.overrides] == [
        {
            "arn": RULE,
            "name": "min-one-on",
            "asserts": "assertion rule 'min-one-on': at least 2 of [us-east-1/east, "
            "us-west-2/west] must stay ON",
        }
    ]
    assert (step.plane, step.plane_region, step.region) == ("data", None, "any ARC endpoint")
    endpoint = factory.stub(CLUSTER_SVC, FIRST)
    endpoint.add_response("list_routing_controls", listing())  # holds(): not yet
    endpoint.add_response(
        "update_routing_control_states",
        {},
        {
            "UpdateRoutingControlStateEntries": [
                {"RoutingControlArn": RC_E, "RoutingControlState": "Off"}
            ],
            "SafetyRulesToOverride": [RULE],
        },
    )
    endpoint.add_response("list_routing_controls", listing(east="Off"))  # verify
    result = execute(Plan("drain", {}, (step,)), clock=FakeClock())
    assert [o.status for o in result.outcomes] == ["applied"]
    endpoint.assert_no_pending_responses()


def test_already_off_is_skipped_and_not_judged_again() -> None:
    # A rule that forbids the OFF state does not refuse a re-run that changes nothing.
    factory = planning_factory([assertion(rule_type="AND")], states=listing(east="Off"))
    dp = plane(factory)
    found = plan_routing_controls(
        make_topology(), factory, "us-east-1", on=False, undo="u", plane=dp
    )
    assert found.before == {"us-east-1/east": "Off"}
    endpoint = factory.stub(CLUSTER_SVC, FIRST)
    endpoint.add_response("list_routing_controls", listing(east="Off"))
    endpoint.add_response("list_routing_controls", listing(east="Off"))
    result = execute(Plan("drain", {}, (found.step,)), clock=FakeClock())
    assert [o.status for o in result.outcomes] == ["skipped"]


def test_a_conflict_at_apply_names_the_rule_from_a_fresh_read_and_stops_the_plan() -> None:
    # The cache said no rule blocks; the rule was created since.
    factory = planning_factory([])
    dp = plane(factory)
    found = plan_routing_controls(
        make_topology(), factory, "us-east-1", on=False, undo="u", plane=dp
    )
    endpoint = factory.stub(CLUSTER_SVC, FIRST)
    endpoint.add_response("list_routing_controls", listing())
    endpoint.add_client_error(
        "update_routing_control_states",
        service_error_code="ConflictException",
        service_message=f"blocked by {RULE}",
        http_status_code=409,
    )
    factory.stub(arc.CONFIG_SERVICE, arc.CONTROL_PLANE_REGION).add_response(
        "list_safety_rules", {"SafetyRules": [assertion(rule_type="AND")]}
    )
    endpoint.add_response("list_routing_controls", listing())
    after = found.step.__class__(
        **{**found.step.__dict__, "id": "after", "action": found.step.action}
    )
    with pytest.raises(StepFailedError) as info:
        execute(Plan("drain", {}, (found.step, after)), clock=FakeClock())
    text = str(info.value)
    assert info.value.index == 1  # the second step never ran
    assert "a safety rule blocks the change" in text
    assert f"blocking: assertion rule 'min-one-on' ({RULE}): all of [us-east-1/east" in text
    endpoint.assert_no_pending_responses()


def test_the_journal_records_the_override(tmp_path: Path) -> None:
    from mr_failover.operations.drain import plan_drain
    from tests.unit.test_drain import region_status, report

    topology = make_topology()
    factory = planning_factory([assertion(threshold=2)])
    observed = report(region_status("us-west-2"))
    dp = plane(factory)

    import mr_failover.resources.arc as arc_module

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(arc_module, "data_plane", lambda *a, **k: dp)
        plan = plan_drain(
            topology,
            factory,
            "us-east-1",
            clock=FakeClock(),
            observe=lambda *a, **k: observed,
            override_safety_rules=[RULE],
        )
    who = journal.Who("arn:aws:iam::123456789012:user/sre", "sre", "host")
    jr = journal.Journal.create(
        "20260101T120000Z-abcdef",
        command="drain",
        params={"region": "us-east-1", "override_safety_rules": [RULE]},
        who=who,
        plan=plan,
    )
    jr.close()
    head = json.loads(jr.path.read_text().splitlines()[0])
    assert head["params"]["override_safety_rules"] == [RULE]
    assert head["plan"]["params"]["override_safety_rules"] == [
        {
            "arn": RULE,
            "name": "min-one-on",
            "asserts": "assertion rule 'min-one-on': at least 2 of [us-east-1/east, "
            "us-west-2/west] must stay ON",
        }
    ]
    assert head["plan"]["steps"][0]["params"]["SafetyRulesToOverride"] == [RULE]


def test_override_needs_the_routing_control_lever() -> None:
    from mr_failover.operations.drain import plan_undrain

    topology = make_topology(lever="health_check_inversion")
    with pytest.raises(UsageError, match="--override-safety-rule is for drain_lever"):
        plan_undrain(
            topology, StubbedFactory(), "us-east-1", clock=FakeClock(), override_safety_rules=[RULE]
        )


# --- caches -----------------------------------------------------------------------------------


def test_endpoints_read_once_then_cached_and_refreshed(state_dir: Path) -> None:
    topology = make_topology(endpoints=False)
    factory = StubbedFactory()
    control = factory.stub(arc.CONFIG_SERVICE, arc.CONTROL_PLANE_REGION)
    described = {
        "Cluster": {
            "ClusterArn": CLUSTER,
            "ClusterEndpoints": [{"Endpoint": e.url, "Region": e.region} for e in ENDPOINTS],
            "Name": "c",
            "Status": "DEPLOYED",
        }
    }
    control.add_response("describe_cluster", described, {"ClusterArn": CLUSTER})
    first = arc.resolve_endpoints(topology, factory)
    assert (first.source, first.endpoints) == ("control plane", tuple(ENDPOINTS))
    assert arc.cache_path(CLUSTER).is_file()
    assert oct(arc.cache_path(CLUSTER).stat().st_mode & 0o777) == "0o600"
    again = arc.resolve_endpoints(topology, factory)  # no call queued: from the cache
    assert (again.source, again.endpoints, again.read_at) == (
        "cache",
        first.endpoints,
        first.read_at,
    )
    control.add_response("describe_cluster", described, {"ClusterArn": CLUSTER})
    assert arc.resolve_endpoints(topology, factory, refresh=True).source == "control plane"
    control.assert_no_pending_responses()
    assert "  endpoints:\n    - { region: ap-northeast-1, url: https://host-a." in first.to_yaml()


def test_rules_come_from_the_cache_when_the_control_plane_fails() -> None:
    topology = make_topology()
    factory = StubbedFactory()
    control = factory.stub(arc.CONFIG_SERVICE, arc.CONTROL_PLANE_REGION)
    control.add_response("list_safety_rules", {"SafetyRules": [assertion()]})
    assert [r.name for r in arc.load_rules(topology, factory, [PANEL]).rules] == ["min-one-on"]
    control.add_client_error("list_safety_rules", "InternalServerException", http_status_code=500)
    cached = arc.load_rules(topology, factory, [PANEL])
    assert [r.name for r in cached.rules] == ["min-one-on"]
    assert "did not answer; using the safety rules of" in cached.notes[0]


def test_no_rules_and_no_cache_is_a_note_not_a_refusal() -> None:
    factory = StubbedFactory()
    factory.stub(arc.CONFIG_SERVICE, arc.CONTROL_PLANE_REGION).add_client_error(
        "list_safety_rules", "InternalServerException", http_status_code=500
    )
    found = arc.load_rules(make_topology(), factory, [PANEL])
    assert found.rules == ()
    assert "none cached" in found.notes[0] and "ARC still enforces them" in found.notes[0]


def test_no_endpoints_anywhere_is_an_aws_error() -> None:
    factory = StubbedFactory()
    factory.stub(arc.CONFIG_SERVICE, arc.CONTROL_PLANE_REGION).add_response(
        "describe_cluster", {"Cluster": {"ClusterArn": CLUSTER, "ClusterEndpoints": []}}
    )
    with pytest.raises(AwsCallError, match="lists no endpoints"):
        arc.resolve_endpoints(make_topology(endpoints=False), factory)


# --- status -----------------------------------------------------------------------------------


def test_status_shows_states_and_a_control_off_drains_the_region() -> None:
    factory = StubbedFactory()
    # Each region's read goes to the first endpoint of its own random order: stub them all.
    for r in ENDPOINT_REGIONS:
        stub = factory.stub(CLUSTER_SVC, r)
        for _ in range(2):
            stub.add_response("list_routing_controls", listing(east="Off"))
    report = observe(make_topology(), factory, deadline=5)
    east, west = report.region("us-east-1"), report.region("us-west-2")
    assert (east.verdict, west.verdict) == ("drained", "serving")
    assert east.traffic is not None
    assert [(rc.label, rc.state_word) for rc in east.traffic.routing_controls] == [
        ("us-east-1/east", "OFF")
    ]
    assert "traffic: routing control us-east-1/east is OFF: drained (mr-failover undrain)" in (
        east.warnings
    )
    assert (traffic_cell(east), traffic_cell(west)) == ("ARC OFF", "ARC ON")
    doc = report.to_json()["regions"][0]["traffic"]["routing_controls"]
    assert doc == [{"arn": RC_E, "name": "east", "region": "us-east-1", "state": "OFF"}]


# --- the drill's static-stability report -----------------------------------------------------


@pytest.mark.parametrize("listed", [True, False])
def test_static_stability_knows_any_endpoint_will_do(listed: bool) -> None:
    from mr_failover import drill
    from mr_failover.engine.plan import Step

    topology = make_topology(endpoints=listed)
    spec = drill.builtin("evacuate", topology, "us-east-1")
    step = Step(
        id="s1/rc",
        title="turn us-east-1's routing controls OFF",
        service=arc.CLUSTER_SERVICE,
        call="UpdateRoutingControlStates",
        params={},
        region="any ARC endpoint",
        plane="data",
        plane_region=None,
        undoable=True,
    )
    phases = (drill.PlannedPhase("s1", spec.steps[0], Plan("drain", {}, (step,))),)
    findings = drill.static_stability(drill.DrillPlan(spec, phases), topology)
    hits = {f.region: [s[2] for s in f.steps] for f in findings}
    # No pseudo-region for the endpoints, and no single region's outage stops the step...
    assert set(hits) == {"us-east-1", "us-west-2"}
    assert hits["us-east-1"] == []
    # ...except reading the endpoints from the control plane when the topology has none.
    if listed:
        assert hits["us-west-2"] == []
    else:
        [why] = hits["us-west-2"]
        assert why.startswith("ARC control plane in us-west-2: DescribeCluster")


class ConflictingPlane(arc.DataPlane):
    """A data plane whose UpdateRoutingControlStates is refused ``conflicts`` times."""

    def __init__(self, conflicts: int, message: str) -> None:
        super().__init__(ENDPOINTS, lambda ep: None)
        self.left = conflicts
        self.message = message
        self.calls = 0

    def call(self, operation: str, **params: Any) -> Any:
        assert operation == "update_routing_control_states"
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise arc.SafetyRuleConflictError(f"refused by ARC: {self.message}")
        return {}


def conflicting_step(
    conflicts: int, recheck: Any, message: str = "There was a conflict. Try again."
) -> tuple[Any, ConflictingPlane, FakeClock]:
    from mr_failover.resources.arc_steps import SetRoutingControls, conflict_budget

    plane_ = ConflictingPlane(conflicts, message)
    clock = FakeClock()
    gate = rule(gating((RC_W,), (RC_E,)))
    step = SetRoutingControls(
        make_topology(),
        plane_,
        [RC_E],
        on=False,
        overrides=[],
        explain=lambda: recheck,
        retry_for=conflict_budget([gate]),
        clock=clock,
    )
    return step, plane_, clock


def test_a_conflict_no_rule_explains_is_retried_within_the_wait_period() -> None:
    from mr_failover.resources.arc_steps import Recheck

    step, plane_, clock = conflicting_step(3, Recheck(False, "none blocks"))
    step.apply()
    assert plane_.calls == 4 and step.conflicts == 3
    assert 0 < clock.t < 7.0  # the gate's 5 s wait period plus the margin


def test_a_conflict_that_outlasts_the_wait_period_stops_with_one_line() -> None:
    from mr_failover.resources.arc_steps import MAX_CONFLICT_ATTEMPTS, Recheck

    step, plane_, clock = conflicting_step(100, Recheck(False, "none blocks"))
    with pytest.raises(arc.SafetyRuleConflictError) as info:
        step.apply()
    assert plane_.calls <= MAX_CONFLICT_ATTEMPTS
    assert clock.t <= 7.0
    assert "still refused after" in str(info.value) and "\n" not in str(info.value)


def test_a_conflict_a_rule_explains_is_not_retried() -> None:
    from mr_failover.resources.arc_steps import Recheck

    step, plane_, _ = conflicting_step(100, Recheck(True, "blocking: rule x"))
    with pytest.raises(arc.SafetyRuleConflictError, match="blocking: rule x"):
        step.apply()
    assert plane_.calls == 1


@pytest.mark.parametrize(("message", "calls"), [("Try again.", 2), ("blocked by a rule", 1)])
def test_unreadable_rules_retry_only_a_conflict_that_says_try_again(
    message: str, calls: int
) -> None:
    from mr_failover.resources.arc_steps import Recheck

    step, plane_, _ = conflicting_step(1, Recheck(None, "rules unreadable"), message)
    if calls == 1:
        with pytest.raises(arc.SafetyRuleConflictError):
            step.apply()
    else:
        step.apply()
    assert plane_.calls == calls
