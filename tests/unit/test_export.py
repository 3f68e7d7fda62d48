"""``mr-failover export region-switch``: the CreatePlan request, checked against botocore's
``arc-region-switch`` model (members, types, lengths, and the patterns and enums that
botocore's validator skips), serialized with the real protocol, and built only from
resources the topology names. No AWS call is made."""

from __future__ import annotations

import copy
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.endpoint
import botocore.model
import botocore.serialize
import botocore.session
import botocore.validate
import pytest
import yaml
from botocore.parsers import RpcV2CBORParser

from mr_failover import topology as topo
from mr_failover.errors import EXIT_USAGE, UsageError
from mr_failover.export import create_plan_region, region_switch_plan
from tests.unit.test_validate import run

PAIR = ("us-east-1", "us-west-2")
ASG_ARNS = (
    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
    "0a1b2c3d-1111-2222-3333-444455556666:autoScalingGroupName/arc309-web-use1",
    "arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:"
    "9f8e7d6c-1111-2222-3333-444455556666:autoScalingGroupName/arc309-web-usw2",
)
RC = "arn:aws:route53-recovery-control::123456789012:controlpanel/cp1/routingcontrol/{}"


@pytest.fixture(scope="module")
def operation() -> botocore.model.OperationModel:
    model = botocore.session.get_session().get_service_model("arc-region-switch")
    return model.operation_model("CreatePlan")


def example_data() -> dict[str, Any]:
    data = yaml.safe_load(topo.shipped_example())
    assert isinstance(data, dict)
    return data


def load(tmp_path: Path, data: dict[str, Any], name: str = "t.yaml") -> topo.Topology:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return topo.load(path)


def without_routing_controls(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data.pop("arc", None)
    for region in data["regions"].values():
        traffic = region.setdefault("traffic", {})
        traffic.pop("routing_controls", None)
        if traffic.get("drain_lever") == "routing_control":
            traffic["drain_lever"] = "health_check_inversion"
    return data


def with_routing_controls(data: dict[str, Any]) -> dict[str, Any]:
    data = without_routing_controls(data)
    data["arc"] = {"cluster_arn": "arn:aws:route53-recovery-control::123456789012:cluster/c1"}
    for name, region in data["regions"].items():
        region["traffic"]["routing_controls"] = [RC.format(f"rc-{name}")]
    return data


def active_passive(data: dict[str, Any]) -> dict[str, Any]:
    """Failover records: us-east-1 PRIMARY, us-west-2 SECONDARY; no accelerator."""
    data = copy.deepcopy(data)
    data.pop("global_accelerator", None)
    for name, region in data["regions"].items():
        region.pop("global_accelerator", None)
        for rec in region["traffic"]["records"]:
            rec["routing_policy"] = "failover"
            rec["failover"] = "PRIMARY" if name == "us-east-1" else "SECONDARY"
    return data


def with_zone_ids(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for region in data["regions"].values():
        for rec in region["traffic"]["records"]:
            rec["hosted_zone_id"] = "/hostedzone/Z0123456789ABCDEFGHIJ"
    return data


# --- the model: what botocore validates, and what it does not ---------------------------


def pattern_errors(value: Any, shape: botocore.model.Shape, path: str = "") -> Iterator[str]:
    """Patterns, enums and maximums of the model, which ParamValidator does not check."""
    if isinstance(shape, botocore.model.StructureShape):
        for key, member in shape.members.items():
            if key in value:
                yield from pattern_errors(value[key], member, f"{path}.{key}")
    elif isinstance(shape, botocore.model.ListShape):
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            yield f"{path}: more than {shape.metadata['max']} items"
        for i, item in enumerate(value):
            yield from pattern_errors(item, shape.member, f"{path}[{i}]")
    elif isinstance(shape, botocore.model.MapShape):
        for key, item in value.items():
            yield from pattern_errors(key, shape.key, f"{path}.<key {key}>")
            yield from pattern_errors(item, shape.value, f"{path}.{key}")
    elif shape.type_name == "string":
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            yield f"{path}: {value!r} does not match {pattern}"
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} not in {shape.enum}"
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            yield f"{path}: longer than {shape.metadata['max']}"
    elif shape.type_name == "integer" and value > shape.metadata.get("max", value):
        yield f"{path}: {value} above {shape.metadata['max']}"


def assert_valid(request: dict[str, Any], operation: botocore.model.OperationModel) -> None:
    report = botocore.validate.ParamValidator().validate(request, operation.input_shape)
    assert not report.has_errors(), report.generate_report()
    botocore.validate.validate_parameters(request, operation.input_shape)  # raises if not
    assert list(pattern_errors(request, operation.input_shape)) == []


def blocks(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    def walk(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for step in steps:
            yield step
            parallel = step["executionBlockConfiguration"].get("parallelConfig")
            if parallel:
                yield from walk(parallel["steps"])

    for workflow in request["workflows"]:
        yield from walk(workflow["steps"])


def types(request: dict[str, Any]) -> set[str]:
    return {s["executionBlockType"] for s in blocks(request)}


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def topology_resources(
    t: topo.Topology, pair: tuple[str, ...], asg_arns: tuple[str, ...]
) -> set[str]:
    """Every ARN the export may write for ``t``: the topology's resources, nothing else."""
    out = set(asg_arns)
    role = f"arn:aws:iam::{t.account_id}:role/{t.application}-region-switch"
    out |= {role, role + "-approver"}
    for name in pair:
        region = t.regions[name]
        head = f"arn:aws:{{}}:{name}:{t.account_id}:"
        for svc in region.compute.ecs_services:
            out.add(head.format("ecs") + f"cluster/{svc.cluster}")
            out.add(head.format("ecs") + f"service/{svc.cluster}/{svc.service}")
        if region.aurora:
            out.add(head.format("rds") + f"cluster:{region.aurora.cluster}")
        out |= set(region.traffic.routing_controls)
    return out


def assert_only_topology_resources(
    request: dict[str, Any], t: topo.Topology, asg_arns: tuple[str, ...] = ()
) -> None:
    pair = tuple(request["regions"])
    arns = {s for s in strings(request) if s.startswith("arn:")}
    assert arns, "the plan names no resource at all"
    assert arns <= topology_resources(t, pair, asg_arns)
    for workflow in request["workflows"]:
        assert workflow["workflowTargetRegion"] in pair
    for step in blocks(request):
        config = next(iter(step["executionBlockConfiguration"].values()))
        if "globalClusterIdentifier" in config:
            assert config["globalClusterIdentifier"] in {
                t.regions[r].aurora.global_cluster  # type: ignore[union-attr]
                for r in pair
            }
        if "regionAndRoutingControls" in config:
            assert set(config["regionAndRoutingControls"]) <= set(pair)
        if "hostedZoneId" in config:
            records = [rec for r in pair for rec in t.regions[r].traffic.records]
            assert config["recordName"] in {rec.name for rec in records}
            assert any(
                (rec.hosted_zone_id or "").endswith(config["hostedZoneId"]) for rec in records
            )
            for record_set in config["recordSets"]:
                assert record_set["region"] in pair
                assert record_set["recordSetIdentifier"] in {
                    rec.set_identifier for rec in t.regions[record_set["region"]].traffic.records
                }


# --- the example topology ---------------------------------------------------------------


@pytest.mark.parametrize("pair", [PAIR, PAIR[::-1]])
def test_example_export_is_valid_for_the_model(
    pair: tuple[str, str], operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    t = load(tmp_path, example_data())
    result = region_switch_plan(t, pair, asg_arns=ASG_ARNS)
    assert_valid(result.request, operation)
    assert result.request["regions"] == list(pair)
    assert_only_topology_resources(result.request, t, ASG_ARNS)


def test_example_without_asg_arns_is_valid_and_says_what_is_missing(
    operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    t = load(tmp_path, example_data())
    result = region_switch_plan(t, PAIR)
    assert_valid(result.request, operation)
    assert "EC2AutoScaling" not in types(result.request)
    assert any("--asg-arn" in gap and "describe-auto-scaling-groups" in gap for gap in result.gaps)


def test_the_request_serializes_with_the_protocol_and_round_trips(
    operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    t = load(tmp_path, active_passive(with_routing_controls(example_data())))
    request = region_switch_plan(t, PAIR, asg_arns=ASG_ARNS).request
    protocol = operation.service_model.protocol
    assert protocol == "smithy-rpc-v2-cbor"
    serialized = botocore.serialize.create_serializer(protocol).serialize_to_request(
        request, operation
    )
    assert serialized["url_path"].endswith("/operation/CreatePlan")
    decoded = RpcV2CBORParser().parse(
        {"body": serialized["body"], "headers": {}, "status_code": 200}, operation.input_shape
    )
    decoded.pop("ResponseMetadata", None)
    assert decoded == request


def test_rto_is_the_policy_rounded_up_to_minutes(tmp_path: Path) -> None:
    data = example_data()
    for seconds, minutes in ((900, 15), (901, 16), (59, 1)):
        data["policy"]["rto_seconds"] = seconds
        t = load(tmp_path, data)
        assert region_switch_plan(t, PAIR).request["recoveryTimeObjectiveMinutes"] == minutes


# --- recovery approach --------------------------------------------------------------------


def test_latency_records_in_both_regions_make_an_active_active_plan(tmp_path: Path) -> None:
    t = load(tmp_path, with_routing_controls(example_data()))
    result = region_switch_plan(t, PAIR)
    request = result.request
    assert request["recoveryApproach"] == "activeActive"
    assert "primaryRegion" not in request
    actions = sorted(
        (w["workflowTargetAction"], w["workflowTargetRegion"]) for w in request["workflows"]
    )
    assert actions == sorted((a, r) for a in ("activate", "deactivate") for r in PAIR)
    assert "active-active" in result.approach_reason
    assert "latency record" in result.approach_reason
    # The writer moves away from the region being deactivated, not when one comes back.
    for workflow in request["workflows"]:
        names = [s["executionBlockType"] for s in workflow["steps"]]
        assert names[0] == "ManualApproval"
        assert ("AuroraGlobalDatabase" in names) == (
            workflow["workflowTargetAction"] == "deactivate"
        )


def test_a_secondary_failover_record_makes_an_active_passive_plan(
    operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    t = load(tmp_path, active_passive(with_routing_controls(example_data())))
    result = region_switch_plan(t, PAIR[::-1], asg_arns=ASG_ARNS)
    request = result.request
    assert_valid(request, operation)
    assert request["recoveryApproach"] == "activePassive"
    assert request["primaryRegion"] == "us-east-1" == t.primary_region
    assert [
        (w["workflowTargetAction"], w["workflowTargetRegion"]) for w in request["workflows"]
    ] == [
        ("activate", "us-west-2"),
        ("activate", "us-east-1"),
    ]
    assert "SECONDARY" in result.approach_reason
    steps = request["workflows"][0]["steps"]
    # Approval first, then capacity, then the writer, then traffic.
    assert [s["executionBlockType"] for s in steps] == [
        "ManualApproval",
        "Parallel",
        "AuroraGlobalDatabase",
        "ARCRoutingControl",
    ]
    assert {
        s["executionBlockType"]
        for s in steps[1]["executionBlockConfiguration"]["parallelConfig"]["steps"]
    } == {
        "ECSServiceScaling",
        "EC2AutoScaling",
    }
    aurora = steps[2]["executionBlockConfiguration"]["globalAuroraConfig"]
    assert aurora["behavior"] == "switchoverOnly"
    assert aurora["ungraceful"] == {"ungraceful": "failover"}
    assert aurora["databaseClusterArns"] == [
        "arn:aws:rds:us-west-2:123456789012:cluster:arc309-usw2",
        "arn:aws:rds:us-east-1:123456789012:cluster:arc309-use1",
    ]
    assert_only_topology_resources(request, t, ASG_ARNS)


# --- traffic: routing controls or Route 53 ------------------------------------------------


def test_routing_controls_of_both_regions_make_a_routing_control_block(
    operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    t = load(tmp_path, active_passive(with_routing_controls(example_data())))
    request = region_switch_plan(t, PAIR).request
    assert_valid(request, operation)
    assert "Route53HealthCheck" not in types(request)
    config = next(
        s["executionBlockConfiguration"]["arcRoutingControlConfig"]
        for s in blocks(request)
        if s["executionBlockType"] == "ARCRoutingControl"
    )
    # Active-passive: taking over turns the region On and the other Off.
    assert config["regionAndRoutingControls"] == {
        "us-east-1": [
            {"routingControlArn": RC.format("rc-us-east-1"), "state": "On"},
            {"routingControlArn": RC.format("rc-us-west-2"), "state": "Off"},
        ],
        "us-west-2": [
            {"routingControlArn": RC.format("rc-us-west-2"), "state": "On"},
            {"routingControlArn": RC.format("rc-us-east-1"), "state": "Off"},
        ],
    }


def test_without_routing_controls_records_with_zone_ids_make_route53_blocks(
    operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    t = load(tmp_path, with_zone_ids(without_routing_controls(example_data())))
    result = region_switch_plan(t, PAIR)
    assert_valid(result.request, operation)
    assert "ARCRoutingControl" not in types(result.request)
    config = next(
        s["executionBlockConfiguration"]["route53HealthCheckConfig"]
        for s in blocks(result.request)
        if s["executionBlockType"] == "Route53HealthCheck"
    )
    assert config == {
        "hostedZoneId": "Z0123456789ABCDEFGHIJ",
        "recordName": "api.arc309.example.com.",
        "recordSets": [
            {"recordSetIdentifier": "us-east-1", "region": "us-east-1"},
            {"recordSetIdentifier": "us-west-2", "region": "us-west-2"},
        ],
    }
    assert any("list-route53-health-checks" in note for note in result.notes)
    assert_only_topology_resources(result.request, t)


def test_without_zone_ids_the_route53_block_is_left_out_and_the_gap_says_how_to_fill_it(
    operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    t = load(tmp_path, without_routing_controls(example_data()))
    result = region_switch_plan(t, PAIR)
    assert_valid(result.request, operation)
    assert not types(result.request) & {"Route53HealthCheck", "ARCRoutingControl"}
    gap = next(g for g in result.gaps if "Route 53 health check block" in g)
    assert "hosted_zone_id" in gap and "list-hosted-zones-by-name" in gap


# --- Aurora read replica mode --------------------------------------------------------------


def test_replica_mode_has_no_aurora_block_and_says_why(
    operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    data = example_data()
    for region in data["regions"].values():
        region["aurora"]["mode"] = "replica"
        region["aurora"].pop("global_cluster")
    t = load(tmp_path, data)
    result = region_switch_plan(t, PAIR)
    assert_valid(result.request, operation)
    assert not types(result.request) & {
        "AuroraGlobalDatabase",
        "RdsPromoteReadReplica",
        "RdsSwitchoverReadReplica",
    }
    gap = next(g for g in result.gaps if "replica" in g)
    assert "RdsPromoteReadReplica" in gap and "mr-failover promote" in gap
    # The model has the block, but for RDS DB instances: the reason it does not fit.
    shape = operation.input_shape.members["workflows"].member.members["steps"].member
    config = shape.members["executionBlockConfiguration"].members["rdsPromoteReadReplicaConfig"]
    arn_shape = config.members["dbInstanceArnMap"].value
    assert ":db:" in arn_shape.metadata["pattern"]


# --- what the plan does not cover, roles, endpoint ------------------------------------------


def test_not_covered_names_what_the_topology_has(tmp_path: Path) -> None:
    t = load(tmp_path, example_data())
    text = "\n".join(region_switch_plan(t, PAIR).not_covered)
    for expected in (
        "mr-failover check replication",
        "arc309-orders",
        "arc309-assets-use1",
        "arc309-cache",
        "CloudFront",
        "Global Accelerator",
        "readiness",
    ):
        assert expected in text


def test_roles_are_derived_with_a_note_or_taken_from_the_options(tmp_path: Path) -> None:
    t = load(tmp_path, example_data())
    derived = region_switch_plan(t, PAIR)
    assert derived.request["executionRole"] == "arn:aws:iam::123456789012:role/arc309-region-switch"
    assert sum("must exist" in n for n in derived.notes) == 2
    given = region_switch_plan(
        t,
        PAIR,
        execution_role="arn:aws:iam::123456789012:role/rs-exec",
        approval_role="arn:aws:iam::123456789012:role/rs-approve",
        name="shop-dr",
    )
    assert given.request["executionRole"].endswith("role/rs-exec")
    approvals = [s for s in blocks(given.request) if s["executionBlockType"] == "ManualApproval"]
    assert {
        a["executionBlockConfiguration"]["executionApprovalConfig"]["approvalRole"]
        for a in approvals
    } == {"arn:aws:iam::123456789012:role/rs-approve"}
    assert given.request["name"] == "shop-dr"
    assert not any("must exist" in n for n in given.notes)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "-bad name-"}, "plan name"),
        ({"execution_role": "role/x"}, "--execution-role"),
        ({"approval_role": "arn:aws:iam::1:role/x"}, "--approval-role"),
        ({"asg_arns": ("arn:aws:autoscaling:us-east-1:123",)}, "not an Auto Scaling group ARN"),
        ({"asg_arns": (ASG_ARNS[0].replace("web-use1", "other"),)}, "not an Auto Scaling group of"),
        ({"asg_arns": (ASG_ARNS[0].replace("123456789012", "210987654321"),)}, "account"),
    ],
)
def test_bad_options_are_usage_errors(kwargs: dict[str, Any], words: str, tmp_path: Path) -> None:
    t = load(tmp_path, example_data())
    with pytest.raises(UsageError, match=re.escape(words)):
        region_switch_plan(t, PAIR, **kwargs)


def test_create_plan_goes_to_the_control_plane_region_botocore_resolves() -> None:
    # Cross-check the export's answer with a real client's request URL (stopped before send).
    session = botocore.session.get_session()
    for region, expected in (
        ("us-west-2", "us-east-1"),
        ("eu-west-1", "us-east-1"),
        ("cn-north-1", "cn-north-1"),
    ):
        client = session.create_client(
            "arc-region-switch",
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        seen: list[str] = []

        def stop(request: Any, seen: list[str] = seen, **_: Any) -> None:
            seen.append(request.url)
            raise RuntimeError("stopped before sending")

        client.meta.events.register("before-send", stop)
        with pytest.raises(RuntimeError, match="stopped"):
            client.create_plan(
                name="p",
                regions=list(PAIR),
                recoveryApproach="activeActive",
                executionRole="arn:aws:iam::123456789012:role/r",
                workflows=[],
            )
        assert create_plan_region(region) == expected
        assert f"arc-region-switch-control-plane.{expected}." in seen[0]


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "regions.yaml"
    path.write_text(topo.shipped_example())
    return path


@pytest.mark.parametrize(
    ("regions", "words"),
    [
        ("us-east-1,eu-west-1", "eu-west-1 not in the topology"),
        ("us-east-1", "exactly two regions, got 1"),
        ("us-east-1,us-west-2,eu-west-1", "exactly two regions, got 3"),
        ("us-east-1,us-east-1", "must differ"),
        (",", "got 0"),
    ],
)
def test_the_cli_refuses_anything_but_two_regions_of_the_topology(
    config: Path, regions: str, words: str
) -> None:
    code, out, err = run("--config", str(config), "export", "region-switch", "--regions", regions)
    assert code == EXIT_USAGE
    assert out == ""
    assert words in err
    assert "Traceback" not in err


def test_the_cli_writes_the_file_and_makes_no_aws_call(
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    operation: botocore.model.OperationModel,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    target = tmp_path / "plan.json"
    old = os.umask(0o022)
    try:
        with mock.patch.object(
            botocore.endpoint.Endpoint,
            "make_request",
            autospec=True,
            side_effect=AssertionError("export made an AWS call"),
        ) as make_request:
            code, out, err = run(
                "--config",
                str(config),
                "export",
                "region-switch",
                "--regions",
                "us-west-2,us-east-1",
                "--output",
                str(target),
                *(f"--asg-arn={arn}" for arn in ASG_ARNS),
            )
    finally:
        os.umask(old)
    assert code == 0, err
    assert make_request.call_count == 0
    assert out == ""
    # No secret in a plan: ordinary file modes from the umask.
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    request = json.loads(target.read_text())
    assert_valid(request, operation)
    assert request["regions"] == ["us-west-2", "us-east-1"]
    assert "EC2AutoScaling" in types(request)
    assert (
        f"aws arc-region-switch create-plan --cli-input-json file://{target} --region us-east-1"
        in err
    )
    assert "not covered by the plan" in err
    assert "mr-failover check replication" in err
    assert "INCOMPLETE" not in err


def test_the_cli_prints_json_on_stdout_and_flags_an_incomplete_plan(config: Path) -> None:
    code, out, err = run(
        "--config", str(config), "export", "region-switch", "--regions", ",".join(PAIR)
    )
    assert code == 0, err
    assert json.loads(out)["name"] == "arc309-region-switch"
    assert "INCOMPLETE" in err and "--asg-arn" in err
    assert "file://plan.json --region us-east-1" in err


def test_routing_controls_in_one_region_only_fall_back_to_route53(tmp_path: Path) -> None:
    data = with_zone_ids(with_routing_controls(example_data()))
    del data["regions"]["us-west-2"]["traffic"]["routing_controls"]
    result = region_switch_plan(load(tmp_path, data), PAIR)
    assert "ARCRoutingControl" not in types(result.request)
    assert "Route53HealthCheck" in types(result.request)
    assert any(g.startswith("only us-east-1 has routing controls") for g in result.gaps)


def test_names_are_derived_within_the_model_and_iam_limits(
    operation: botocore.model.OperationModel, tmp_path: Path
) -> None:
    data = example_data()
    data["application"] = "Shop Front_End (EU) application of 2025"
    result = region_switch_plan(load(tmp_path, data), PAIR)
    assert_valid(result.request, operation)
    name = result.request["name"]
    assert len(name) <= 32 and name.endswith("-region-switch")
    role = result.request["executionRole"].split(":role/")[1]
    assert re.fullmatch(r"[\w+=,.@-]{1,64}", role)
