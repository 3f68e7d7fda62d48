"""fence --override-safety-rule: the traffic steps fence borrows from drain carry it.

The fenced region (us-west-2, split brain) keeps its traffic drained with drain's own
steps; with ``drain_lever: routing_control`` an ARC safety rule can block turning its
routing control OFF. Without the flag the plan only fences the database and says which
rule blocked and how to override; with it the routing-control step sends the override
and the plan's params name the rule (shown in red, asked for, journaled). RDS answers
come from test_fence's Stubber-backed stubs, ARC's from test_arc's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mr_failover.engine import journal
from mr_failover.errors import UsageError
from mr_failover.resources import arc
from mr_failover.topology import Topology
from tests.unit.test_arc import (
    CLUSTER,
    CLUSTER_SVC,
    ENDPOINTS,
    FIRST,
    RC_E,
    RC_W,
    RULE,
    InOrder,
    assertion,
    planning_factory,
)
from tests.unit.test_fence import NOW, FenceStubs, split, stubs  # noqa: F401
from tests.unit.test_promote import EAST, WEST, FakeClock, topology
from tests.unit.test_status import StubbedFactory


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ARC cache (endpoints, safety rules) goes under a private state dir."""
    monkeypatch.setenv(journal.ENV_STATE_DIR, str(tmp_path / "state"))
    return tmp_path / "state"


def arc_topology() -> Topology:
    """test_promote's topology, both regions drained by an ARC routing control."""
    data = topology().model_dump(mode="json", exclude_none=True)
    data["arc"] = {"cluster_arn": CLUSTER, "endpoints": [e.model_dump() for e in ENDPOINTS]}
    for name, control in ((EAST, RC_E), (WEST, RC_W)):
        traffic = data["regions"][name]["traffic"]
        traffic |= {"drain_lever": "routing_control", "routing_controls": [control]}
    return Topology.model_validate(data)


class Both:
    """A ClientSource: RDS from fence's stubs, the ARC planes from test_arc's."""

    def __init__(self, rds: FenceStubs, arc_factory: StubbedFactory) -> None:
        self.rds = rds
        self.arc = arc_factory

    def client(self, service: str, region: str) -> Any:
        return (
            self.rds.client(service, region)
            if service == "rds"
            else self.arc.client(service, region)
        )


def plan(
    stubs: FenceStubs,  # noqa: F811
    overrides: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    from mr_failover.operations.fence import plan_fence

    split(stubs)
    # A rule that wants both controls ON: turning us-west-2's OFF breaks it.
    arc_factory = planning_factory([assertion(rule_type="AND")])
    plane = arc.DataPlane(ENDPOINTS, arc.endpoint_clients(arc_factory), rng=InOrder())
    monkeypatch.setattr(arc, "data_plane", lambda *_a, **_k: plane)
    found = plan_fence(
        arc_topology(),
        Both(stubs, arc_factory),
        WEST,
        clock=FakeClock(),
        now=NOW,
        override_safety_rules=overrides,
    )
    stubs.done()
    arc_factory.stub(CLUSTER_SVC, FIRST).assert_no_pending_responses()
    return found


def test_a_blocking_rule_leaves_the_traffic_undrained_and_says_how_to_override(
    stubs: FenceStubs,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fenced = plan(stubs, [], monkeypatch)
    assert [s.call for s in fenced.steps] == ["StopDBCluster"]
    (note,) = [n for n in fenced.notes if n.startswith("traffic: this plan does not drain")]
    assert f"--override-safety-rule {RULE}" in note
    assert f"mr-failover fence --region {WEST} --override-safety-rule ARN" in note
    assert "override_safety_rules" not in fenced.params


def test_the_override_reaches_the_routing_control_step_and_the_plan_params(
    stubs: FenceStubs,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fenced = plan(stubs, [RULE, RULE], monkeypatch)
    assert [s.call for s in fenced.steps] == ["UpdateRoutingControlStates", "StopDBCluster"]
    assert fenced.steps[0].params == {
        "UpdateRoutingControlStateEntries": [
            {"RoutingControlArn": RC_W, "RoutingControlState": "Off"}
        ],
        "SafetyRulesToOverride": [RULE],  # once, however often it was given
    }
    [override] = fenced.params["override_safety_rules"]
    assert (override["arn"], override["name"]) == (RULE, "min-one-on")
    assert override["asserts"].startswith("assertion rule 'min-one-on': all of [")
    assert fenced.params["routing_controls_before"] == {"us-west-2/west": "On"}
    assert fenced.params["action"] == "stop"


def test_an_override_for_another_lever_is_refused_before_any_call() -> None:
    from mr_failover.operations.fence import plan_fence

    # test_promote's topology inverts health checks; no stub answers anything.
    with pytest.raises(UsageError, match="--override-safety-rule is for drain_lever"):
        plan_fence(
            topology(), StubbedFactory(), WEST, clock=FakeClock(), override_safety_rules=[RULE]
        )


def test_the_command_takes_the_flag_repeatable(monkeypatch: pytest.MonkeyPatch) -> None:
    from mr_failover.cli import cli
    from mr_failover.commands import fence as command
    from mr_failover.operations import fence as operation

    seen: dict[str, Any] = {}

    def run_mutation(app: Any, **kw: Any) -> None:
        seen.update(kw["params"])
        kw["build"](arc_topology(), None, kw["params"])  # what the plan is built with

    def plan_fence(*_a: Any, **kw: Any) -> None:
        seen["planned_with"] = kw["override_safety_rules"]

    monkeypatch.setattr(command, "run_mutation", run_mutation)
    monkeypatch.setattr(operation, "plan_fence", plan_fence)
    other = f"{RULE}-2"
    result = CliRunner().invoke(
        cli,
        [
            "fence",
            "--region",
            WEST,
            "--override-safety-rule",
            RULE,
            "--override-safety-rule",
            other,
        ],
    )
    assert result.exit_code == 0, result.output
    assert seen["override_safety_rules"] == [RULE, other]
    assert seen["planned_with"] == [RULE, other]
    assert "--override-safety-rule" in CliRunner().invoke(cli, ["fence", "--help"]).output
