"""ARC's recovery control configuration API in the sandbox, its seeding and checkpoints.

The data plane and the safety rules' evaluation are in test_arc_cluster.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import botocore.exceptions
import pytest
from click.testing import CliRunner

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.cli import cli
from mr_failover.sandbox import snapshot
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.seed import SeedReport, seed
from tests.sandbox.conftest import AwsFactory
from tests.sandbox.test_arc_cluster import CONFIG, data_plane, make_panel, states

ACCOUNT = "123456789012"
PREFIX = f"arn:aws:route53-recovery-control::{ACCOUNT}:"


def test_clusters(aws: AwsFactory, sandbox: Sandbox) -> None:
    config = aws(CONFIG, "us-west-2")
    cluster = config.create_cluster(ClusterName="one")["Cluster"]
    assert re.fullmatch(re.escape(PREFIX) + r"cluster/[0-9a-f-]{36}", cluster["ClusterArn"])
    assert [(e["Region"], e["Endpoint"]) for e in cluster["ClusterEndpoints"]] == (
        sandbox.arc_endpoints()
    )
    assert (cluster["Status"], cluster["Owner"]) == ("DEPLOYED", ACCOUNT)
    described = config.describe_cluster(ClusterArn=cluster["ClusterArn"])["Cluster"]
    assert described == cluster
    config.create_cluster(ClusterName="two")
    first = config.list_clusters(MaxResults=1)
    second = config.list_clusters(MaxResults=1, NextToken=first["NextToken"])
    assert [c["Name"] for c in first["Clusters"] + second["Clusters"]] == ["one", "two"]
    assert "NextToken" not in second


def test_control_panels_and_routing_controls(aws: AwsFactory) -> None:
    config = aws(CONFIG, "us-west-2")
    cluster = config.create_cluster(ClusterName="c")["Cluster"]["ClusterArn"]
    other = config.create_cluster(ClusterName="other")["Cluster"]["ClusterArn"]
    panel = config.create_control_panel(ClusterArn=cluster, ControlPanelName="p")["ControlPanel"]
    assert re.fullmatch(re.escape(PREFIX) + r"controlpanel/[0-9a-f]{32}", panel["ControlPanelArn"])
    # Every cluster comes with its default control panel, as on AWS.
    listed = config.list_control_panels(ClusterArn=cluster)["ControlPanels"]
    assert [(p["Name"], p["DefaultControlPanel"]) for p in listed] == [
        ("DefaultControlPanel", True),
        ("p", False),
    ]
    assert len(config.list_control_panels()["ControlPanels"]) == 3

    rc = config.create_routing_control(
        ClusterArn=cluster, ControlPanelArn=panel["ControlPanelArn"], RoutingControlName="east"
    )["RoutingControl"]
    assert rc["RoutingControlArn"].startswith(panel["ControlPanelArn"] + "/routingcontrol/")
    assert topo.control_panel_arn(rc["RoutingControlArn"]) == panel["ControlPanelArn"]
    described = config.describe_routing_control(RoutingControlArn=rc["RoutingControlArn"])
    assert described["RoutingControl"] == rc
    default = config.create_routing_control(ClusterArn=cluster, RoutingControlName="d")
    assert default["RoutingControl"]["ControlPanelArn"] == listed[0]["ControlPanelArn"]
    got = config.describe_control_panel(ControlPanelArn=panel["ControlPanelArn"])
    assert got["ControlPanel"]["RoutingControlCount"] == 1
    controls = config.list_routing_controls(ControlPanelArn=panel["ControlPanelArn"])
    assert [c["Name"] for c in controls["RoutingControls"]] == ["east"]
    with pytest.raises(config.exceptions.ValidationException):
        config.create_routing_control(
            ClusterArn=other, ControlPanelArn=panel["ControlPanelArn"], RoutingControlName="x"
        )
    with pytest.raises(config.exceptions.ConflictException):
        config.create_routing_control(
            ClusterArn=cluster, ControlPanelArn=panel["ControlPanelArn"], RoutingControlName="east"
        )


def test_safety_rules_describe_list_delete(aws: AwsFactory, sandbox: Sandbox) -> None:
    panel = make_panel(aws, sandbox)
    assertion = panel.rule(
        "AssertionRule",
        AssertedControls=panel.controls,
        RuleConfig={"Type": "ATLEAST", "Threshold": 2, "Inverted": False},
    )
    gating = panel.rule(
        "GatingRule",
        GatingControls=panel.controls[:1],
        TargetControls=panel.controls[1:],
        RuleConfig={"Type": "AND", "Threshold": 0, "Inverted": True},
    )
    assert assertion.startswith(panel.panel_arn + "/safetyrule/")
    got = panel.config.describe_safety_rule(SafetyRuleArn=gating)["GatingRule"]
    assert (got["Status"], got["TargetControls"]) == ("DEPLOYED", panel.controls[1:])
    assert got["RuleConfig"] == {"Type": "AND", "Threshold": 0, "Inverted": True}
    rules = panel.config.list_safety_rules(ControlPanelArn=panel.panel_arn)["SafetyRules"]
    assert [next(iter(r)) for r in rules] == ["ASSERTION", "GATING"]
    assert rules[0]["ASSERTION"]["WaitPeriodMs"] == 5000
    panel.config.delete_safety_rule(SafetyRuleArn=assertion)
    with pytest.raises(panel.config.exceptions.ResourceNotFoundException):
        panel.config.describe_safety_rule(SafetyRuleArn=assertion)
    with pytest.raises(panel.config.exceptions.ResourceNotFoundException):
        panel.config.delete_safety_rule(SafetyRuleArn=assertion)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "ValidationException"),  # neither rule
        ({"RuleConfig": {"Type": "ATLEAST", "Threshold": 0, "Inverted": False}}, "Validation"),
        ({"RuleConfig": {"Type": "ATLEAST", "Threshold": 4, "Inverted": False}}, "Validation"),
        ({"AssertedControls": []}, "ValidationException"),
        ({"AssertedControls": ["foreign"]}, "ResourceNotFoundException"),
        ({"ControlPanelArn": PREFIX + "controlpanel/none"}, "ResourceNotFoundException"),
    ],
)
def test_bad_safety_rules_are_refused(
    aws: AwsFactory, sandbox: Sandbox, kwargs: dict[str, object], code: str
) -> None:
    panel = make_panel(aws, sandbox)
    spec: dict[str, object] = {
        "ControlPanelArn": panel.panel_arn,
        "Name": "rule",
        "WaitPeriodMs": 5000,
        "AssertedControls": panel.controls,
        "RuleConfig": {"Type": "AND", "Threshold": 0, "Inverted": False},
    }
    if kwargs.get("AssertedControls") == ["foreign"]:
        kwargs = {"AssertedControls": [panel.panel_arn + "/routingcontrol/0000000000000000"]}
    with pytest.raises(botocore.exceptions.ClientError) as err:
        if kwargs:
            panel.config.create_safety_rule(AssertionRule=spec | kwargs)
        else:
            panel.config.create_safety_rule()
    assert err.value.response["Error"]["Code"].startswith(code)
    assert panel.config.list_safety_rules(ControlPanelArn=panel.panel_arn)["SafetyRules"] == []


def test_unknown_resources_and_other_regions(aws: AwsFactory) -> None:
    config = aws(CONFIG, "us-west-2")
    for call, key, kind in [
        (config.describe_cluster, "ClusterArn", "cluster/x"),
        (config.describe_control_panel, "ControlPanelArn", "controlpanel/x"),
        (config.describe_routing_control, "RoutingControlArn", "controlpanel/x/routingcontrol/y"),
        (config.list_routing_controls, "ControlPanelArn", "controlpanel/x"),
    ]:
        with pytest.raises(config.exceptions.ResourceNotFoundException) as err:
            call(**{key: PREFIX + kind})
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(botocore.exceptions.ClientError) as wrong:
        aws(CONFIG, "us-east-1").list_clusters()
    assert wrong.value.response["Error"]["Code"] == "UnknownEndpoint"


# --- seeding -----------------------------------------------------------------------------


RC = PREFIX + "controlpanel/file-panel/routingcontrol/"
# Only what ARC seeding needs: seeding the example waits for replicas and tasks.
ARC_TOPOLOGY = f"""\
application: shop
account_id: "{ACCOUNT}"
primary_region: us-east-1
policy: {{rpo_seconds: 60, rto_seconds: 900}}
arc:
  cluster_arn: {PREFIX}cluster/from-the-file
regions:
  us-east-1:
    traffic:
      drain_lever: routing_control
      routing_controls: [{RC}east-a, {RC}east-b]
  us-west-2:
    traffic:
      routing_controls: [{RC}west]
"""


@pytest.fixture
def factory(
    sandbox: Sandbox, control: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> ClientFactory:
    """The seeder's client factory, on a reset sandbox."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return ClientFactory(None, endpoint_url=sandbox.endpoint_url, timeouts=Timeouts(1))


def test_seeding_creates_the_controls_on_and_writes_back_arns(
    sandbox: Sandbox, factory: ClientFactory, tmp_path: Path
) -> None:
    source = tmp_path / "arc.yaml"
    source.write_text(ARC_TOPOLOGY)
    original = topo.load(source)
    report = SeedReport()
    seeded = seed(original, factory, report=report)
    assert seeded.arc is not None
    assert [(e.region, e.url) for e in seeded.arc.endpoints] == sandbox.arc_endpoints()
    assert seeded.arc.cluster_arn.startswith(PREFIX + "cluster/")
    assert seeded.arc.cluster_arn != PREFIX + "cluster/from-the-file"
    arns = {n: r.traffic.routing_controls for n, r in seeded.regions.items()}
    assert [len(arns["us-east-1"]), len(arns["us-west-2"])] == [2, 1]
    assert report.created == [
        "arc cluster shop",
        "arc control panel shop",
        "arc routing control east-a",
        "arc routing control east-b",
        "arc routing control west",
    ]  # and no safety rule

    dp = data_plane(sandbox, 4)
    names = []
    for arn in arns["us-east-1"] + arns["us-west-2"]:
        got = dp.get_routing_control_state(RoutingControlArn=arn)
        assert got["RoutingControlState"] == "On"
        names.append(got["RoutingControlName"])
    assert names == ["east-a", "east-b", "west"]
    panels = {topo.control_panel_arn(a) for v in arns.values() for a in v}
    assert len(panels) == 1

    out = tmp_path / "seeded.yaml"
    out.write_text(topo.dump(seeded))
    reloaded = topo.load(out)
    assert reloaded.arc == seeded.arc
    assert {n: r.traffic.routing_controls for n, r in reloaded.regions.items()} == arns
    # A second run (from the written file, then from the original) creates nothing, and
    # leaves a control someone turned Off alone.
    dp.update_routing_control_state(
        RoutingControlArn=arns["us-east-1"][0], RoutingControlState="Off"
    )
    for again_from in (reloaded, original):
        again = SeedReport()
        result = seed(again_from, factory, report=again)
        assert again.created == []
        assert result.arc == seeded.arc
        assert {n: r.traffic.routing_controls for n, r in result.regions.items()} == arns
    got = dp.get_routing_control_state(RoutingControlArn=arns["us-east-1"][0])
    assert got["RoutingControlState"] == "Off"


def test_a_topology_without_arc_seeds_no_cluster(
    factory: ClientFactory, aws: AwsFactory, tmp_path: Path
) -> None:
    source = tmp_path / "plain.yaml"
    source.write_text(
        ARC_TOPOLOGY.split("arc:")[0] + "regions:\n  us-east-1: {}\n  us-west-2: {}\n"
    )
    assert seed(topo.load(source), factory).arc is None
    assert aws(CONFIG, "us-west-2").list_clusters()["Clusters"] == []


# --- checkpoints and the command ---------------------------------------------------------


def test_checkpoint_restore_covers_arc_state_and_endpoint_modes(
    aws: AwsFactory, sandbox: Sandbox, control: SandboxClient
) -> None:
    panel = make_panel(aws, sandbox)
    rule = panel.rule(
        "AssertionRule",
        AssertedControls=panel.controls,
        RuleConfig={"Type": "ATLEAST", "Threshold": 1, "Inverted": False},
    )
    data_plane(sandbox, 0).update_routing_control_state(
        RoutingControlArn=panel.controls[1], RoutingControlState="Off"
    )
    control.set_arc_endpoint(2, "down")
    control.set_arc_endpoint(4, "unavailable")
    saved = snapshot.checkpoint(sandbox)

    control.reset()
    assert panel.config.list_clusters()["Clusters"] == []
    assert [e["mode"] for e in control.arc_endpoints()] == ["up"] * 5
    data_plane(sandbox, 2).list_routing_controls()  # reopened by the reset

    snapshot.restore(sandbox, saved)
    assert [e["mode"] for e in control.arc_endpoints()] == [
        "up",
        "up",
        "down",
        "up",
        "unavailable",
    ]
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        data_plane(sandbox, 2).list_routing_controls()
    assert states(sandbox, panel) == ["On", "Off", "On"]
    got = panel.config.describe_safety_rule(SafetyRuleArn=rule)["AssertionRule"]
    assert got["AssertedControls"] == panel.controls
    assert len(panel.config.list_control_panels()["ControlPanels"]) == 2


def test_arc_endpoint_command_and_status(sandbox: Sandbox, control: SandboxClient) -> None:
    runner = CliRunner()
    base = ["--endpoint-url", sandbox.endpoint_url, "sandbox"]
    down = runner.invoke(cli, [*base, "arc-endpoint", "1", "--down"])
    assert down.exit_code == 0, down.output
    url = sandbox.arc_endpoints()[1][1]
    assert down.output.strip() == f"arc endpoint #1 us-west-2 {url}: down"
    assert control.arc_endpoints()[1]["mode"] == "down"
    control.fail_region("eu-west-1")
    status = runner.invoke(cli, [*base, "status"])
    assert f"arc endpoint #1 us-west-2 {url}: down" in status.output
    assert "arc endpoint #2 eu-west-1" in status.output and "up (region down)" in status.output
    up = runner.invoke(cli, [*base, "arc-endpoint", "1", "--up"])
    assert up.output.strip().endswith(": up")
    missing = runner.invoke(cli, [*base, "arc-endpoint", "1"])
    assert missing.exit_code == 2 and "--up, --down or --unavailable" in missing.output
    bad = runner.invoke(cli, [*base, "arc-endpoint", "7", "--down"])
    assert bad.exit_code == 2
