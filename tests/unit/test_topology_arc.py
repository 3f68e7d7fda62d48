"""Validation of the issue-8 keys: the ARC cluster and each region's routing controls.
Exact problem lines, like tests/unit/test_topology.py."""

from __future__ import annotations

from pathlib import Path

from mr_failover import topology
from tests.unit.test_topology_issue7 import EXAMPLE, load, problems, region_keys

CLUSTER = "arn:aws:route53-recovery-control::012345678901:cluster/c1"
PANEL = "arn:aws:route53-recovery-control::012345678901:controlpanel/p1"
RC_EAST = f"{PANEL}/routingcontrol/east"
RC_WEST = f"{PANEL}/routingcontrol/west"
ARC = f"arc:\n  cluster_arn: {CLUSTER}\n"


def test_the_example_declares_the_cluster_and_routing_controls(tmp_path: Path) -> None:
    t = load(tmp_path, EXAMPLE)
    assert t.arc is not None
    # No endpoints: they are read once (DescribeCluster) and cached, and no test or demo
    # run against the example reaches for a host outside the sandbox.
    assert t.arc.endpoints == []
    for name, region in t.regions.items():
        # The example keeps the health-check lever: the demo and older tests rely on it.
        assert region.traffic.drain_lever == "health_check_inversion"
        assert len(region.traffic.routing_controls) == 1, name


def test_routing_control_lever_loads(tmp_path: Path) -> None:
    text = region_keys(
        f"    traffic:\n      drain_lever: routing_control\n      routing_controls: [{RC_EAST}]\n",
        f"    traffic:\n      routing_controls: [{RC_WEST}]\n",
        top=ARC + "  endpoints:\n    - {region: eu-west-1, url: 'http://127.0.0.1:5001/v1'}\n",
    )
    t = load(tmp_path, text)
    assert t.arc is not None and t.arc.cluster_arn == CLUSTER
    assert [(e.region, e.url) for e in t.arc.endpoints] == [
        ("eu-west-1", "http://127.0.0.1:5001/v1")
    ]
    assert t.regions["us-east-1"].traffic.drain_lever == "routing_control"
    assert t.regions["us-west-2"].traffic.routing_controls == [RC_WEST]
    assert topology.control_panel_arn(RC_EAST) == PANEL


def test_routing_controls_need_the_cluster(tmp_path: Path) -> None:
    text = region_keys(f"    traffic:\n      routing_controls: [{RC_EAST}]\n")
    assert problems(tmp_path, text) == [
        "F:11:25: regions.us-east-1.traffic.routing_controls: routing controls need the "
        "top-level 'arc' (the cluster and its endpoints)"
    ]


def test_routing_control_lever_needs_a_routing_control(tmp_path: Path) -> None:
    text = region_keys("    traffic: {drain_lever: routing_control}\n", top=ARC)
    assert problems(tmp_path, text) == [
        "F:12:28: regions.us-east-1.traffic.drain_lever: drain_lever: routing_control needs "
        "at least one ARN under 'routing_controls'"
    ]


def test_a_broken_cluster_is_reported_once(tmp_path: Path) -> None:
    # The regions' routing controls must not add "need the top-level 'arc'" on top.
    text = region_keys(
        f"    traffic:\n      routing_controls: [{RC_EAST}]\n",
        top="arc:\n  cluster_arn: arn:aws:route53-recovery-control::0123:cluster/c1\n",
    )
    assert problems(tmp_path, text) == [
        "F:2:16: arc.cluster_arn: expected an ARC cluster ARN, like "
        "arn:aws:route53-recovery-control::012345678901:cluster/ID, got "
        "'arn:aws:route53-recovery-control::0123:cluster/c1' (a string)"
    ]


def test_a_malformed_routing_control_arn_says_what_one_looks_like(tmp_path: Path) -> None:
    text = region_keys(f"    traffic:\n      routing_controls: [{PANEL}]\n", top=ARC)
    [line] = problems(tmp_path, text)
    assert line.startswith(
        "F:13:26: regions.us-east-1.traffic.routing_controls.0: expected a routing control "
        "ARN, like arn:aws:route53-recovery-control::012345678901:controlpanel/ID/"
        "routingcontrol/ID, got"
    )


def test_endpoints_are_one_per_region_and_distinct(tmp_path: Path) -> None:
    text = region_keys(
        "",
        top=ARC
        + "  endpoints:\n"
        + "    - {region: us-east-1, url: 'https://a.example.aws/v1'}\n"
        + "    - {region: us-east-1, url: 'https://a.example.aws/v1'}\n",
    )
    assert problems(tmp_path, text) == [
        "F:5:16: arc.endpoints.1.region: two endpoints in us-east-1 (a cluster has one per region)",
        "F:5:32: arc.endpoints.1.url: duplicate endpoint 'https://a.example.aws/v1'",
    ]


def test_endpoint_shape_problems_are_located(tmp_path: Path) -> None:
    text = region_keys(
        "",
        top=ARC
        + "  endpoints:\n"
        + "    - {region: eu-west-9, url: 'ftp://b'}\n"
        + "    - {regoin: eu-west-1, url: 'https://c.example.aws/v1'}\n",
    )
    assert problems(tmp_path, text) == [
        "F:4:16: arc.endpoints.0.region: 'eu-west-9' is not an AWS region code "
        "(did you mean eu-west-3?)",
        "F:4:32: arc.endpoints.0.url: expected an endpoint URL, like "
        "https://host-abc.us-east-1.example.aws/v1, got 'ftp://b' (a string)",
        "F:5:7: arc.endpoints.1.region: missing required key 'region'",
        "F:5:8: arc.endpoints.1.regoin: unknown key 'regoin' (did you mean 'region'?)",
    ]


def test_a_routing_control_belongs_to_one_region(tmp_path: Path) -> None:
    text = region_keys(
        f"    traffic:\n      routing_controls: [{RC_EAST}]\n",
        f"    traffic:\n      routing_controls: [{RC_EAST}]\n",
        top=ARC,
    )
    [line] = problems(tmp_path, text)
    assert line == (
        "F:17:26: regions.us-west-2.traffic.routing_controls.0: duplicate routing control "
        "(also in us-east-1)"
    )


def test_the_schema_knows_the_new_keys() -> None:
    schema = topology.json_schema()
    assert "arc" in schema["properties"]
    traffic = schema["$defs"]["Traffic"]["properties"]
    assert "routing_control" in traffic["drain_lever"]["enum"]
    assert traffic["routing_controls"]["items"]["pattern"] == topology.ROUTING_CONTROL_ARN_PATTERN


def test_an_empty_arc_key_is_no_cluster(tmp_path: Path) -> None:
    # 'arc:' with nothing under it is null: it must not satisfy the routing controls,
    # or the file would load and then fail once dumped without the null key.
    text = region_keys(f"    traffic:\n      routing_controls: [{RC_EAST}]\n", top="arc:\n")
    assert problems(tmp_path, text) == [
        "F:12:25: regions.us-east-1.traffic.routing_controls: routing controls need the "
        "top-level 'arc' (the cluster and its endpoints)"
    ]
