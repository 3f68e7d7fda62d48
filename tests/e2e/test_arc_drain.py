"""drain / undrain with ``drain_lever: routing_control`` end to end: the CLI against the
sandbox's ARC cluster (five loopback endpoints), with endpoints down and a safety rule.

The seeded example topology has the cluster, one control panel and one routing control
per region (all ON); each test switches both regions' lever to ``routing_control``. The
executor's clock is the sandbox's (``clock``), so the record TTL wait does not sleep.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mr_failover import topology as topo
from mr_failover.engine import journal
from mr_failover.errors import EXIT_REFUSED
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.topology import Topology
from tests.e2e.test_drain import answered

CLUSTER = "route53-recovery-cluster"
UPDATE = "UpdateRoutingControlStates"


@pytest.fixture
def arc_config(e2e_topology: Topology, tmp_path: Path) -> Path:
    """The seeded topology with both regions drained by their routing controls: the
    seeded records carry a calculated check over the endpoint check and the routing
    control's check, so switching the lever is all it takes."""
    regions = {
        name: region.model_copy(
            update={"traffic": region.traffic.model_copy(update={"drain_lever": "routing_control"})}
        )
        for name, region in e2e_topology.regions.items()
    }
    path = tmp_path / "arc.yaml"
    path.write_text(topo.dump(e2e_topology.model_copy(update={"regions": regions})))
    topo.load(path)  # still a valid topology
    return path


def states(run_cli: Any, config: Path) -> dict[str, list[str]]:
    result = run_cli("--config", str(config), "--output", "json", "status")
    doc = json.loads(result.stdout)
    return {
        r["name"]: [rc["state"] for rc in (r["traffic"] or {}).get("routing_controls", [])]
        for r in doc["regions"]
    }


def served_updates(control: SandboxClient) -> list[dict[str, Any]]:
    return [
        c
        for c in control.calls(service=CLUSTER, action=UPDATE, mutating=True)
        if c["status"] == 200
    ]


def test_drain_and_undrain_with_two_of_five_endpoints_down(
    run_cli: Any, control: SandboxClient, arc_config: Path, clock: Any, e2e_sandbox: Sandbox
) -> None:
    endpoints = control.arc_endpoints()
    assert len(endpoints) == 5
    control.set_arc_endpoint(0, "down")  # connection refused
    control.set_arc_endpoint(1, "unavailable")  # EndpointTemporarilyUnavailableException
    dead = {endpoints[0]["region"], endpoints[1]["region"]}
    assert states(run_cli, arc_config) == {"us-east-1": ["ON"], "us-west-2": ["ON"]}
    seeded = len(served_updates(control))  # the seeder's own calls are in the log

    drained = run_cli("--config", str(arc_config), "drain", "--region", "us-east-1", "--yes")
    assert drained.exit_code == 0, drained.output
    assert "any ARC endpoint" in drained.output
    served = served_updates(control)[seeded:]
    assert len(served) == 1  # the one mutating call, once, by a live endpoint
    assert served[0]["region"] not in dead
    assert states(run_cli, arc_config) == {"us-east-1": ["OFF"], "us-west-2": ["ON"]}
    status = json.loads(run_cli("--config", str(arc_config), "--output", "json", "status").stdout)
    assert status["regions"][0]["verdict"] == "drained"
    # The traffic moved: the record's calculated check counts the routing control's check.
    assert answered(e2e_sandbox, "us-east-1") == "us-west-2"

    undrained = run_cli("--config", str(arc_config), "undrain", "--region", "us-east-1", "--yes")
    assert undrained.exit_code == 0, undrained.output
    served = served_updates(control)[seeded:]
    assert len(served) == 2
    assert all(c["region"] not in dead for c in served)
    assert states(run_cli, arc_config) == {"us-east-1": ["ON"], "us-west-2": ["ON"]}
    assert answered(e2e_sandbox, "us-east-1") == "us-east-1"


def test_a_safety_rule_refuses_the_drain_until_overridden(
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    arc_config: Path,
    e2e_topology: Topology,
    e2e_env: dict[str, str],
    clock: Any,
) -> None:
    east = e2e_topology.regions["us-east-1"].traffic.routing_controls
    west = e2e_topology.regions["us-west-2"].traffic.routing_controls
    panel = topo.control_panel_arn(east[0])
    rule = aws("route53-recovery-control-config", "us-west-2").create_safety_rule(
        AssertionRule={
            "AssertedControls": [*east, *west],
            "ControlPanelArn": panel,
            "Name": "both-regions-on",
            "RuleConfig": {"Type": "AND", "Threshold": 0, "Inverted": False},
            "WaitPeriodMs": 5000,
        }
    )["AssertionRule"]["SafetyRuleArn"]

    seeded = len(control.calls(service=CLUSTER, action=UPDATE))
    refused = run_cli("--config", str(arc_config), "drain", "--region", "us-east-1", "--yes")
    assert refused.exit_code == EXIT_REFUSED, refused.output
    assert f"assertion rule 'both-regions-on' ({rule}): all of [us-east-1/" in refused.output
    assert f"--override-safety-rule {rule}" in refused.output
    # No mutating call at all, not even one ARC refused.
    assert len(control.calls(service=CLUSTER, action=UPDATE)) == seeded

    overridden = run_cli(
        "--config",
        str(arc_config),
        "drain",
        "--region",
        "us-east-1",
        "--override-safety-rule",
        rule,
        "--yes",
    )
    assert overridden.exit_code == 0, overridden.output
    # Wrapped at spaces: the rule's ARN, longer than the rest of the line, is never cut.
    said = " ".join(overridden.output.split())
    assert f"OVERRIDE: safety rule 'both-regions-on' ({rule})" in said
    assert len(served_updates(control)) == seeded + 1
    assert states(run_cli, arc_config) == {"us-east-1": ["OFF"], "us-west-2": ["ON"]}

    runs_dir = Path(e2e_env[journal.ENV_STATE_DIR]) / "runs"
    [run_file] = [
        p
        for p in runs_dir.glob("*.jsonl")
        if json.loads(p.read_text().splitlines()[-1]).get("outcome") == "succeeded"
    ]
    head = json.loads(run_file.read_text().splitlines()[0])
    assert head["params"]["override_safety_rules"] == [rule]
    [override] = head["plan"]["params"]["override_safety_rules"]
    assert (override["arn"], override["name"]) == (rule, "both-regions-on")


def test_arc_endpoints_reads_describe_cluster_once_then_the_cache(
    run_cli: Any, e2e_topology: Topology, tmp_path: Path
) -> None:
    assert e2e_topology.arc is not None
    listed = [(e.region, e.url) for e in e2e_topology.arc.endpoints]
    bare = e2e_topology.model_copy(
        update={"arc": e2e_topology.arc.model_copy(update={"endpoints": []})}
    )
    path = tmp_path / "bare.yaml"
    path.write_text(topo.dump(bare))

    first = run_cli("--config", str(path), "arc", "endpoints")
    assert first.exit_code == 0, first.output
    assert "endpoints from DescribeCluster in us-west-2, now cached" in first.stderr
    pasted = topo.load_model(_as_file(tmp_path, first.stdout), _ArcOnly)
    assert [(e.region, e.url) for e in pasted.arc.endpoints] == listed

    again = json.loads(
        run_cli("--config", str(path), "--output", "json", "arc", "endpoints").stdout
    )
    assert again["source"] == "cache"
    assert [(e["region"], e["url"]) for e in again["endpoints"]] == listed
    refreshed = run_cli("--config", str(path), "arc", "endpoints", "--refresh")
    assert "now cached" in refreshed.stderr


class _ArcOnly(BaseModel):
    arc: topo.Arc


def _as_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pasted.yaml"
    path.write_text(text)
    return path


def test_drain_waits_out_a_gating_rules_wait_period_then_changes_the_control(
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    arc_config: Path,
    e2e_topology: Topology,
    e2e_sandbox: Any,
    clock: Any,
) -> None:
    from tests.sandbox.test_arc_cluster import data_plane

    east = e2e_topology.regions["us-east-1"].traffic.routing_controls
    panel = topo.control_panel_arn(east[0])
    config = aws("route53-recovery-control-config", "us-west-2")
    cluster = e2e_topology.arc.cluster_arn if e2e_topology.arc else ""
    gate = config.create_routing_control(
        ClusterArn=cluster, ControlPanelArn=panel, RoutingControlName="gate"
    )["RoutingControl"]["RoutingControlArn"]
    config.create_safety_rule(
        GatingRule={
            "ControlPanelArn": panel,
            "GatingControls": [gate],
            "TargetControls": list(east),
            "Name": "east-gate",
            "RuleConfig": {"Type": "OR", "Threshold": 0, "Inverted": False},
            "WaitPeriodMs": 5000,
        }
    )
    # The operator opens the gate just before the drain: its wait period starts.
    data_plane(e2e_sandbox, 2).update_routing_control_state(
        RoutingControlArn=gate, RoutingControlState="On"
    )
    seeded = len(control.calls(service=CLUSTER, action=UPDATE))

    drained = run_cli("--config", str(arc_config), "drain", "--region", "us-east-1", "--yes")
    assert drained.exit_code == 0, drained.output
    assert "gating rule 'east-gate' (WaitPeriodMs 5000)" in drained.output
    statuses = [c["status"] for c in control.calls(service=CLUSTER, action=UPDATE)[seeded:]]
    # Refused while the wait period held (the tool's sleeps advance the sandbox's clock).
    assert statuses[-1] == 200 and statuses.count(409) >= 2
    assert states(run_cli, arc_config)["us-east-1"] == ["OFF"]
