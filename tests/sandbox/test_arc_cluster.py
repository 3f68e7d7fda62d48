"""The ARC cluster data plane on the sandbox's five endpoints: states, safety rules, modes.

Every call goes through boto3 (botocore validates the parameters against the
``route53-recovery-cluster`` model), signed for the endpoint's region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import botocore.config
import botocore.exceptions
import pytest

from mr_failover.sandbox.client import SandboxClient, SandboxClientError
from mr_failover.sandbox.core import Sandbox
from tests.sandbox.conftest import AwsFactory, client_factory

CONFIG = "route53-recovery-control-config"
CLUSTER = "route53-recovery-cluster"
ONE_TRY = botocore.config.Config(
    retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=3
)


@dataclass
class Panel:
    """A cluster with one control panel and its routing controls (all On)."""

    cluster_arn: str
    panel_arn: str
    controls: list[str]
    config: Any

    def rule(self, kind: str, **spec: Any) -> str:
        """Create a safety rule; its ARN."""
        body = {"ControlPanelArn": self.panel_arn, "Name": f"r-{kind}", "WaitPeriodMs": 5000}
        out = self.config.create_safety_rule(**{kind: body | spec})
        return str(out[kind]["SafetyRuleArn"])


def make_panel(aws: AwsFactory, sandbox: Sandbox, count: int = 3) -> Panel:
    config = aws(CONFIG, "us-west-2")
    cluster = config.create_cluster(ClusterName="app")["Cluster"]["ClusterArn"]
    panel = config.create_control_panel(ClusterArn=cluster, ControlPanelName="panel")
    panel_arn = panel["ControlPanel"]["ControlPanelArn"]
    controls = [
        config.create_routing_control(
            ClusterArn=cluster, ControlPanelArn=panel_arn, RoutingControlName=f"rc-{i}"
        )["RoutingControl"]["RoutingControlArn"]
        for i in range(count)
    ]
    entries = [{"RoutingControlArn": c, "RoutingControlState": "On"} for c in controls]
    data_plane(sandbox, 0).update_routing_control_states(UpdateRoutingControlStateEntries=entries)
    return Panel(cluster, panel_arn, controls, config)


def data_plane(sandbox: Sandbox, index: int, region: str | None = None) -> Any:
    """A data plane client for endpoint ``index``, signed for its region unless told."""
    endpoint_region, url = sandbox.arc_endpoints()[index]
    return client_factory(url, ONE_TRY)(CLUSTER, region or endpoint_region)


def states(sandbox: Sandbox, panel: Panel) -> list[str]:
    dp = data_plane(sandbox, 0)
    return [
        dp.get_routing_control_state(RoutingControlArn=c)["RoutingControlState"]
        for c in panel.controls
    ]


def update(sandbox: Sandbox, changes: dict[str, str], **kwargs: Any) -> Any:
    entries = [{"RoutingControlArn": a, "RoutingControlState": s} for a, s in changes.items()]
    return data_plane(sandbox, 1).update_routing_control_states(
        UpdateRoutingControlStateEntries=entries, **kwargs
    )


@pytest.fixture
def panel(aws: AwsFactory, sandbox: Sandbox) -> Panel:
    return make_panel(aws, sandbox)


# --- reads and writes --------------------------------------------------------------------


def test_get_list_and_update_states(sandbox: Sandbox, panel: Panel, aws: AwsFactory) -> None:
    dp = data_plane(sandbox, 2)
    got = dp.get_routing_control_state(RoutingControlArn=panel.controls[0])
    assert (got["RoutingControlState"], got["RoutingControlName"]) == ("On", "rc-0")
    dp.update_routing_control_state(RoutingControlArn=panel.controls[0], RoutingControlState="Off")
    assert states(sandbox, panel) == ["Off", "On", "On"]

    # A second panel's controls are left out by the ControlPanelArn filter.
    other = panel.config.create_control_panel(ClusterArn=panel.cluster_arn, ControlPanelName="b")
    panel.config.create_routing_control(
        ClusterArn=panel.cluster_arn,
        ControlPanelArn=other["ControlPanel"]["ControlPanelArn"],
        RoutingControlName="elsewhere",
    )
    assert len(dp.list_routing_controls()["RoutingControls"]) == 4
    first = dp.list_routing_controls(ControlPanelArn=panel.panel_arn, MaxResults=2)
    rest = dp.list_routing_controls(
        ControlPanelArn=panel.panel_arn, MaxResults=2, NextToken=first["NextToken"]
    )
    assert "NextToken" not in rest
    listed = first["RoutingControls"] + rest["RoutingControls"]
    assert [c["RoutingControlArn"] for c in listed] == panel.controls
    assert [c["RoutingControlState"] for c in listed] == ["Off", "On", "On"]
    assert {c["ControlPanelName"] for c in listed} == {"panel"}


def test_a_new_routing_control_is_off(sandbox: Sandbox, panel: Panel) -> None:
    arn = panel.config.create_routing_control(
        ClusterArn=panel.cluster_arn, ControlPanelArn=panel.panel_arn, RoutingControlName="new"
    )["RoutingControl"]["RoutingControlArn"]
    got = data_plane(sandbox, 0).get_routing_control_state(RoutingControlArn=arn)
    assert got["RoutingControlState"] == "Off"


def test_unknown_control_bad_state_and_duplicates_are_refused(
    sandbox: Sandbox, panel: Panel
) -> None:
    dp = data_plane(sandbox, 0)
    missing = panel.panel_arn + "/routingcontrol/0000000000000000"
    with pytest.raises(dp.exceptions.ResourceNotFoundException) as err:
        dp.get_routing_control_state(RoutingControlArn=missing)
    assert err.value.response["resourceId"] == missing
    with pytest.raises(dp.exceptions.ValidationException):
        update(sandbox, {panel.controls[0]: "Maybe"})
    with pytest.raises(dp.exceptions.ValidationException):
        dp.update_routing_control_states(
            UpdateRoutingControlStateEntries=[
                {"RoutingControlArn": panel.controls[0], "RoutingControlState": "Off"},
                {"RoutingControlArn": panel.controls[0], "RoutingControlState": "On"},
            ]
        )
    with pytest.raises(dp.exceptions.ResourceNotFoundException):  # nothing applied
        update(sandbox, {panel.controls[0]: "Off", missing: "Off"})
    assert states(sandbox, panel) == ["On", "On", "On"]


def test_data_plane_is_not_served_on_the_main_port(panel: Panel, aws: AwsFactory) -> None:
    client = aws(CLUSTER, "us-east-1")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.get_routing_control_state(RoutingControlArn=panel.controls[0])
    assert err.value.response["Error"]["Code"] == "UnknownEndpoint"


def test_a_request_signed_for_another_region_is_refused(sandbox: Sandbox, panel: Panel) -> None:
    dp = data_plane(sandbox, 0, region="eu-west-1")  # endpoint 0 is us-east-1
    with pytest.raises(botocore.exceptions.ClientError) as err:
        dp.get_routing_control_state(RoutingControlArn=panel.controls[0])
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# --- safety rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_type", "threshold", "inverted", "change", "blocked"),
    [
        # ATLEAST 2 of 3: one Off leaves 2 On, two Off leave 1.
        ("ATLEAST", 2, False, {0: "Off"}, False),
        ("ATLEAST", 2, False, {0: "Off", 1: "Off"}, True),
        ("AND", 0, False, {0: "Off"}, True),
        ("AND", 0, False, {0: "On"}, False),
        ("OR", 0, False, {0: "Off", 1: "Off"}, False),
        ("OR", 0, False, {0: "Off", 1: "Off", 2: "Off"}, True),
        # Inverted AND: not all On. Setting one On when all are On breaks it.
        ("AND", 0, True, {0: "On"}, True),
        ("AND", 0, True, {0: "Off"}, False),
    ],
)
def test_assertion_rules(
    sandbox: Sandbox,
    panel: Panel,
    rule_type: str,
    threshold: int,
    inverted: bool,
    change: dict[int, str],
    blocked: bool,
) -> None:
    rule = panel.rule(
        "AssertionRule",
        AssertedControls=panel.controls,
        RuleConfig={"Type": rule_type, "Threshold": threshold, "Inverted": inverted},
    )
    wanted = {panel.controls[i]: s for i, s in change.items()}
    expected = ["On", "On", "On"]
    if blocked:
        dp = data_plane(sandbox, 1)
        with pytest.raises(dp.exceptions.ConflictException) as err:
            update(sandbox, wanted)
        assert rule in err.value.response["Error"]["Message"]
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    else:
        update(sandbox, wanted)
        expected = [change.get(i, "On") for i in range(3)]
    assert states(sandbox, panel) == expected


def test_an_assertion_rule_only_applies_to_its_controls(sandbox: Sandbox, panel: Panel) -> None:
    panel.rule(
        "AssertionRule",
        AssertedControls=panel.controls[:2],
        RuleConfig={"Type": "AND", "Threshold": 0, "Inverted": False},
    )
    update(sandbox, {panel.controls[2]: "Off"})
    assert states(sandbox, panel) == ["On", "On", "Off"]


def test_gating_rule(sandbox: Sandbox, panel: Panel) -> None:
    gate, target, free = panel.controls
    rule = panel.rule(
        "GatingRule",
        GatingControls=[gate],
        TargetControls=[target],
        RuleConfig={"Type": "OR", "Threshold": 0, "Inverted": False},
    )
    update(sandbox, {target: "Off"})  # gate On: the target may change
    update(sandbox, {gate: "Off"})  # the gate itself is not a target
    dp = data_plane(sandbox, 1)
    with pytest.raises(dp.exceptions.ConflictException) as err:
        update(sandbox, {target: "On"})
    assert rule in err.value.response["Error"]["Message"]
    update(sandbox, {free: "Off"})  # not a target: not gated
    sandbox.advance(5.0)  # the gate's change above started the rule's 5 s wait period
    # Evaluated on the states after the change: opening the gate in the same batch works.
    update(sandbox, {gate: "On", target: "On"})
    assert states(sandbox, panel) == ["On", "On", "Off"]


def test_a_blocked_batch_applies_nothing_and_an_override_lets_it_through(
    sandbox: Sandbox, panel: Panel
) -> None:
    rule = panel.rule(
        "AssertionRule",
        AssertedControls=panel.controls[:2],
        RuleConfig={"Type": "ATLEAST", "Threshold": 1, "Inverted": False},
    )
    batch = {panel.controls[0]: "Off", panel.controls[1]: "Off", panel.controls[2]: "Off"}
    dp = data_plane(sandbox, 1)
    with pytest.raises(dp.exceptions.ConflictException) as err:
        update(sandbox, batch)
    assert err.value.response["resourceId"] == rule
    assert states(sandbox, panel) == ["On", "On", "On"]
    calls = SandboxClient(sandbox.endpoint_url, token=sandbox.token).calls(
        action="UpdateRoutingControlStates"
    )
    assert calls[-1]["status"] == 409

    update(sandbox, batch, SafetyRulesToOverride=[rule])
    assert states(sandbox, panel) == ["Off", "Off", "Off"]
    # Single-control updates honour overrides too.
    dp.update_routing_control_state(
        RoutingControlArn=panel.controls[0], RoutingControlState="On", SafetyRulesToOverride=[rule]
    )
    assert states(sandbox, panel)[0] == "On"


def test_a_deleted_rule_no_longer_blocks(sandbox: Sandbox, panel: Panel) -> None:
    rule = panel.rule(
        "AssertionRule",
        AssertedControls=panel.controls,
        RuleConfig={"Type": "AND", "Threshold": 0, "Inverted": False},
    )
    with pytest.raises(botocore.exceptions.ClientError):
        update(sandbox, {panel.controls[0]: "Off"})
    panel.config.delete_safety_rule(SafetyRuleArn=rule)
    update(sandbox, {panel.controls[0]: "Off"})
    assert states(sandbox, panel)[0] == "Off"


# --- the five endpoints ------------------------------------------------------------------


def test_five_endpoints_each_answer_and_the_call_log_names_them(
    sandbox: Sandbox, panel: Panel, control: SandboxClient
) -> None:
    endpoints = sandbox.arc_endpoints()
    assert [r for r, _ in endpoints] == [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "ap-northeast-1",
        "ap-southeast-2",
    ]
    assert len({url for _, url in endpoints}) == 5
    assert all(url.startswith("http://127.0.0.1:") and url.endswith("/v1") for _, url in endpoints)
    for i in range(5):
        data_plane(sandbox, i).list_routing_controls()
    served = [c["region"] for c in control.calls(service=CLUSTER, action="ListRoutingControls")]
    assert served == [r for r, _ in endpoints]


def test_down_refuses_connections_and_up_serves_again_on_the_same_url(
    sandbox: Sandbox, panel: Panel, control: SandboxClient
) -> None:
    url = sandbox.arc_endpoints()[3][1]
    dp = data_plane(sandbox, 3)
    dp.list_routing_controls()  # a pooled keep-alive connection must not survive either
    described = control.set_arc_endpoint(3, "down")
    assert (described["mode"], described["url"]) == ("down", url)
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        dp.list_routing_controls()
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        data_plane(sandbox, 3).list_routing_controls()
    update(sandbox, {panel.controls[0]: "Off"})  # endpoint 1 still answers
    control.set_arc_endpoint(3, "up")
    assert sandbox.arc_endpoints()[3][1] == url
    got = dp.get_routing_control_state(RoutingControlArn=panel.controls[0])
    assert got["RoutingControlState"] == "Off"


def test_unavailable_answers_endpoint_temporarily_unavailable(
    sandbox: Sandbox, panel: Panel, control: SandboxClient
) -> None:
    control.set_arc_endpoint(1, "unavailable")
    dp = data_plane(sandbox, 1)
    with pytest.raises(dp.exceptions.EndpointTemporarilyUnavailableException):
        update(sandbox, {panel.controls[0]: "Off"})
    assert states(sandbox, panel) == ["On", "On", "On"]
    logged = control.calls(service=CLUSTER, action="UpdateRoutingControlStates", mutating=True)
    assert (logged[-1]["region"], logged[-1]["status"]) == ("us-west-2", 503)
    control.reset()  # a reset puts every endpoint back up
    assert [e["mode"] for e in control.arc_endpoints()] == ["up"] * 5


def test_a_region_outage_takes_its_endpoint_away(
    sandbox: Sandbox, panel: Panel, control: SandboxClient
) -> None:
    control.fail_region("eu-west-1")
    assert [e["region_down"] for e in control.arc_endpoints()] == [False, False, True, False, False]
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        data_plane(sandbox, 2).list_routing_controls()
    data_plane(sandbox, 0).list_routing_controls()  # another region's endpoint answers
    control.heal_region("eu-west-1")
    data_plane(sandbox, 2).list_routing_controls()
    control.fail_region("ap-northeast-1", service=CLUSTER, mode="5xx")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        data_plane(sandbox, 3).list_routing_controls()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_control_api_refuses_bad_modes_and_indexes(control: SandboxClient) -> None:
    with pytest.raises(SandboxClientError, match="mode must be one of"):
        control.set_arc_endpoint(0, "sideways")
    with pytest.raises(SandboxClientError, match="0-4"):
        control.set_arc_endpoint(5, "down")
    assert control.state()["arc_endpoints"] == control.arc_endpoints()


def test_a_gating_rules_wait_period_holds_its_targets_after_a_gate_changes(
    sandbox: Sandbox, panel: Panel
) -> None:
    gate, target, free = panel.controls
    rule = panel.rule(
        "GatingRule",
        GatingControls=[gate],
        TargetControls=[target],
        RuleConfig={"Type": "OR", "Threshold": 0, "Inverted": False},
        WaitPeriodMs=3000,
    )
    update(sandbox, {target: "Off"})  # no gate changed yet: no wait
    update(sandbox, {gate: "Off"})
    update(sandbox, {gate: "On"})  # the gate flips back: the wait period starts again
    dp = data_plane(sandbox, 1)
    with pytest.raises(dp.exceptions.ConflictException) as err:
        update(sandbox, {target: "On"})  # the rule itself is satisfied: only the wait holds it
    message = err.value.response["Error"]["Message"]
    assert message.startswith("There was a conflict with this request. Try again.")
    assert rule in message and "3000 ms" in message
    assert states(sandbox, panel)[1] == "Off"
    update(sandbox, {free: "Off"})  # not a target: not held
    # An override of the rule skips its wait period too.
    update(sandbox, {target: "On"}, SafetyRulesToOverride=[rule])
    update(sandbox, {target: "Off"}, SafetyRulesToOverride=[rule])
    sandbox.advance(2.0)
    with pytest.raises(dp.exceptions.ConflictException):
        update(sandbox, {target: "On"})
    sandbox.advance(1.5)
    update(sandbox, {target: "On"})
    assert states(sandbox, panel) == ["On", "On", "Off"]
