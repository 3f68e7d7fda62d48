"""Unit tests of drill scenarios: validation, built-ins, the static-stability report, FIS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover import drill
from mr_failover import topology as topo
from mr_failover.engine.plan import Plan, Step
from mr_failover.errors import ConfigError
from tests.clocks import FakeClock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def topology() -> topo.Topology:
    return topo.load(REPO / "config" / "regions.yaml")


def test_the_shipped_scenario_is_valid(topology: topo.Topology) -> None:
    scenario = drill.load_scenario(REPO / "config" / "drills" / "region-outage.yaml", topology)
    assert [s.action for s in scenario.steps][:2] == ["drain", "fault"]
    assert scenario.rto_target(topology) == 900


def test_validation_errors_name_file_and_line(topology: topo.Topology, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\n"
        "steps:\n"
        "  - action: drain\n"
        "    region: eu-central-9\n"
        "  - action: wait\n"
        "  - action: explode\n"
        "    region: us-east-1\n"
        "stop_conditions:\n"
        "  - alarm: x\n"
    )
    with pytest.raises(ConfigError) as info:
        drill.load_scenario(path, topology)
    assert info.value.exit_code == 2
    text = str(info.value)
    assert f"{path}:5:5: steps.1: a wait step needs 'seconds'" in text
    assert f"{path}:6:" in text and "explode" in text
    assert f"{path}:9:5: stop_conditions.0: an alarm stop condition needs" in text


def test_an_unknown_region_is_a_cross_check_error(topology: topo.Topology, tmp_path: Path) -> None:
    path = tmp_path / "region.yaml"
    path.write_text("name: r\nsteps:\n  - action: verify\n    region: eu-west-1\n")
    with pytest.raises(ConfigError) as info:
        drill.load_scenario(path, topology)
    assert f"{path}:4:13: steps.0.region: region 'eu-west-1' is not in the topology" in str(
        info.value
    )


def test_builtin_evacuate_moves_the_writer_only_from_its_region(topology: topo.Topology) -> None:
    # The writer is the one AWS reports (choose_builtin), passed in: not the file's role.
    east = drill.builtin("evacuate", topology, "us-east-1", writer="us-east-1")
    assert [(s.action, s.region) for s in east.steps] == [
        ("drain", "us-east-1"),
        ("promote", "us-west-2"),
        ("verify", "us-west-2"),
        ("wait", None),
    ]
    assert [s.action for s in east.failback] == ["undrain", "promote"]
    west = drill.builtin("evacuate", topology, "us-west-2", writer="us-east-1")
    assert "promote" not in [s.action for s in west.steps]


def test_builtin_evacuate_follows_the_observed_writer_not_the_file(
    topology: topo.Topology,
) -> None:
    # The file says us-east-1 is the writer; AWS says us-west-2.
    west = drill.builtin("evacuate", topology, "us-west-2", writer="us-west-2")
    assert ("promote", "us-east-1") in [(s.action, s.region) for s in west.steps]
    assert [(s.action, s.region) for s in west.failback] == [
        ("undrain", "us-west-2"),
        ("promote", "us-west-2"),
    ]
    east = drill.builtin("evacuate", topology, "us-east-1", writer="us-west-2")
    assert "promote" not in [s.action for s in east.steps]
    # Every drill ends by restoring what differs and removing its canaries.
    closing = [(k, s.action) for k, s in east.all_phases() if k.startswith("f") and not s.region]
    assert closing == [
        ("f2", "restore-traffic"),
        ("f3", "restore-writer"),
        ("f4", "restore-capacity"),
        ("f5", "cleanup"),
    ]


def _step(id: str, region: str, plane_region: str | None) -> Step:
    return Step(
        id=id,
        title=id,
        service="route53" if plane_region == "us-east-1" else "rds",
        call="X",
        params={},
        region=region,
        plane="control" if plane_region else "data",
        plane_region=plane_region,
        undoable=True,
    )


def test_static_stability_names_the_route53_dependency(topology: topo.Topology) -> None:
    spec = drill.builtin("evacuate", topology, "us-west-2")
    r53 = _step("s1/invert", "us-east-1", "us-east-1")
    rds = _step("s2/switchover", "us-west-2", "us-west-2")
    phases = (
        drill.PlannedPhase("s1", spec.steps[0], Plan("drain", {}, (r53,))),
        drill.PlannedPhase("s2", spec.steps[1], Plan("promote", {}, (rds,))),
    )
    findings = {
        f.region: f for f in drill.static_stability(drill.DrillPlan(spec, phases), topology)
    }
    assert [s[0] for s in findings["us-east-1"].steps] == ["s1/invert"]
    assert "route53 control plane in us-east-1" in findings["us-east-1"].steps[0][2]
    assert [s[0] for s in findings["us-west-2"].steps] == ["s2/switchover"]


class _Factory:
    def __init__(self, client: Any) -> None:
        self.c = client

    def client(self, service: str, region: str) -> Any:
        return self.c


def test_fis_fault_starts_and_stops_the_experiment(topology: topo.Topology) -> None:
    fis = boto3.client(
        "fis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    ctx = drill.DrillContext(
        topology, _Factory(fis), FakeClock(1_800_000_000.0), "20260101T000000Z-abcdef"
    )
    start = drill.FisExperiment(ctx, "fault:us-east-1", "us-east-1", "EXT123", True)
    stop = drill.FisExperiment(ctx, "fault:us-east-1", "us-east-1", "EXT123", False)
    with Stubber(fis) as stub:
        stub.add_response(
            "start_experiment",
            {"experiment": {"id": "EXP1", "state": {"status": "running"}}},
            {
                "experimentTemplateId": "EXT123",
                "clientToken": "20260101T000000Z-abcdef-fault:us-east-1",
                "tags": {"mr-failover-drill": "20260101T000000Z-abcdef"},
            },
        )
        stub.add_response(
            "get_experiment",
            {"experiment": {"id": "EXP1", "state": {"status": "running"}}},
            {"id": "EXP1"},
        )
        stub.add_response("stop_experiment", {"experiment": {"id": "EXP1"}}, {"id": "EXP1"})
        stub.add_response(
            "get_experiment",
            {"experiment": {"id": "EXP1", "state": {"status": "stopped"}}},
            {"id": "EXP1"},
        )
        assert not start.holds()  # no experiment yet: no call needed
        start.apply()
        assert ctx.marks["fault:us-east-1"]["experiment_id"] == "EXP1"
        assert not stop.holds()  # running
        stop.apply()
        assert stop.settled()
        stub.assert_no_pending_responses()
