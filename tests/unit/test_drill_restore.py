"""A drill leaves things as it found them (issue 13): the target it chooses, the state it
compares before and after, the verdict that fails on a difference or a canary left, and
the options' help."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from mr_failover import drill, drill_report
from mr_failover import topology as topo
from mr_failover.cli import cli
from mr_failover.engine import journal
from mr_failover.engine.plan import Plan
from mr_failover.errors import UsageError
from tests.clocks import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"


@pytest.fixture
def topology() -> topo.Topology:
    return topo.load(EXAMPLE)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(journal.ENV_STATE_DIR, str(tmp_path))
    return tmp_path


def _region(
    name: str, *, can: bool = True, verdict: str = "serving", lag: float | None = None
) -> Any:
    return SimpleNamespace(
        name=name,
        can_take_over=can,
        verdict=verdict,
        reasons=() if can else ("compute: 0 running",),
        sections={"aurora": SimpleNamespace(lag_seconds=lag)},
    )


def _report(*regions: Any) -> Any:
    return SimpleNamespace(regions=regions)


def test_the_target_is_the_region_that_can_take_over_then_the_least_lag(
    topology: topo.Topology,
) -> None:
    three = topology.model_copy(
        update={"regions": {**topology.regions, "eu-west-1": topology.regions["us-west-2"]}}
    )
    # us-west-2 cannot take over: eu-west-1 is chosen, and the plan says why.
    report = _report(
        _region("us-east-1"), _region("us-west-2", can=False), _region("eu-west-1", lag=0.4)
    )
    target, why = drill.choose_target(three, report, "us-east-1", needs_db=True)
    assert target == "eu-west-1"
    assert why == "the region status finds best able to take over (serving, Aurora lag 0.40 s)"
    # Both able: the smaller replication lag wins when the writer moves.
    report = _report(
        _region("us-east-1"), _region("us-west-2", lag=3.0), _region("eu-west-1", lag=0.4)
    )
    assert drill.choose_target(three, report, "us-east-1", needs_db=True)[0] == "eu-west-1"
    # The writer stays: lag does not count, the file's order decides among equals.
    assert drill.choose_target(three, report, "us-east-1", needs_db=False)[0] == "us-west-2"
    # Nobody can: said, with each region's reason.
    report = _report(_region("us-east-1"), _region("us-west-2", can=False))
    target, why = drill.choose_target(topology, report, "us-east-1", needs_db=True)
    assert (target, why) == (
        "us-west-2",
        "no other region can take over now (us-west-2: compute: 0 running)",
    )


def test_choose_builtin_takes_the_writer_from_aws_and_checks_to(topology: topo.Topology) -> None:
    east = _region("us-east-1")
    west = _region("us-west-2", lag=0.2)
    east.is_writer, west.is_writer = False, True  # the file says us-east-1

    def observe(*_a: Any, **_k: Any) -> Any:
        return _report(east, west)

    def choose(name: str, region: str | None, to: str | None = None) -> drill.BuiltinChoice:
        factory: Any = None  # observe is injected: no AWS call
        return drill.choose_builtin(name, topology, factory, region, to=to, observe=observe)[0]

    choice = choose("db-failover", None)
    assert (choice.region, choice.target, choice.writer) == ("us-west-2", "us-east-1", "us-west-2")
    with pytest.raises(UsageError, match="AWS reports the writer in us-west-2"):
        choose("db-failover", "us-east-1")
    with pytest.raises(UsageError, match="--to us-east-1 is the region the drill moves away"):
        choose("evacuate", "us-east-1", to="us-east-1")
    choice = choose("evacuate", "us-west-2", to="us-east-1")
    assert (choice.target, choice.why) == ("us-east-1", "chosen with --to")
    scenario = drill.builtin(
        "evacuate", topology, "us-west-2", writer="us-west-2", target="us-east-1"
    )
    # The writer's region is evacuated: the promote is planned, and the failback returns it.
    assert ("promote", "us-east-1") in [(s.action, s.region) for s in scenario.steps]
    assert ("promote", "us-west-2") in [(s.action, s.region) for s in scenario.failback]


def test_state_differences_name_every_item_that_changed() -> None:
    before = {
        "writer": {"label": "Aurora writer", "value": "us-west-2"},
        "us-east-1:ecs:c/s": {"label": "us-east-1 ecs c/s desired", "value": 2},
        "us-east-1:health-check:h": {"label": "h inverted", "value": False},
    }
    after = {
        "writer": {"label": "Aurora writer", "value": "us-east-1"},
        "us-east-1:ecs:c/s": {"label": "us-east-1 ecs c/s desired", "value": 2},
    }
    assert drill.state_differences(before, after) == [
        {"key": "writer", "label": "Aurora writer", "before": "us-west-2", "after": "us-east-1"},
        {"key": "us-east-1:health-check:h", "label": "h inverted", "before": False, "after": None},
    ]
    assert drill.state_differences(before, before) == []


def _records(*, after_desired: int, canary_removed: bool) -> list[dict[str, Any]]:
    """A drill's journal records, as the drill writes them (head, notes, end)."""
    item = {"label": "us-west-2 ecs c/s desired", "value": 2}
    key = {"pk": {"S": "mr-failover-drill#x"}}
    canary = drill.dynamodb_canary("us-east-1", "orders", key, "s2")
    notes: list[dict[str, Any]] = [
        {
            "kind": "drill-plan",
            "scenario": "evacuate us-east-1",
            "rto_target": 900,
            "rpo_target": 60,
        },
        {"kind": "drill-steady", "when": "before", "problems": []},
        {"kind": "drill-state", "when": "before", "items": {"us-west-2:ecs:c/s": item}},
        {"kind": "drill-canary", **canary},
        {"kind": "drill-phase", "phase": "s1", "title": "drain", "event": "start", "disruptive": 1},
        {"kind": "drill-measure", "measure": "cutover", "lag_seconds": 0.1},
        {"kind": "drill-measure", "measure": "serving", "canaries_written": 1},
        {"kind": "drill-phase", "phase": "f4", "action": "cleanup", "title": "x", "event": "start"},
    ]
    if canary_removed:
        notes.append({"type": "outcome", "step": f"f4/remove:{canary['id']}", "status": "applied"})
    now = {"us-west-2:ecs:c/s": {**item, "value": after_desired}}
    notes += [
        {"kind": "drill-steady", "when": "after", "problems": []},
        {"kind": "drill-state", "when": "after", "items": now},
    ]
    head = {"type": "run", "t": 1_800_000_000.0, "command": "drill", "who": {}}
    body = [{"type": "note", "t": 1_800_000_001.0, **n} for n in notes]
    return [head, *body, {"type": "end", "outcome": "succeeded", "t": 1_800_000_060.0}]


def test_the_verdict_fails_when_an_item_differs_or_a_canary_is_left() -> None:
    report = drill_report.build("r1", _records(after_desired=5, canary_removed=False))
    assert report.verdict == "fail"
    assert [(d["label"], d["before"], d["after"]) for d in report.differences] == [
        ("us-west-2 ecs c/s desired", 2, 5)
    ]
    md = drill_report.markdown(report)
    assert "| us-west-2 ecs c/s desired | 2 | 5 | **no** |" in md
    # The canary's removal step never ran (no outcome): it is listed as left behind.
    assert [c["id"] for c in report.canaries_left] == ["dynamodb:orders:mr-failover-drill#x"]
    assert report.to_json()["canaries"]["left"] == ["dynamodb:orders:mr-failover-drill#x"]


def test_a_drill_that_put_everything_back_passes_and_reports_closing_phases_apart() -> None:
    report = drill_report.build("r1", _records(after_desired=2, canary_removed=True))
    assert report.differences == () and report.canaries_left == ()
    assert report.verdict == "pass"
    assert [p.phase for p in report.closing] == ["f4"]
    assert [p.phase for p in report.phases] == ["s1"]
    assert "| canary | service | written in | where | removed |" in drill_report.markdown(report)


def test_a_scenario_with_no_disruptive_step_ran_and_one_that_changed_something_failed() -> None:
    def checks_only(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "disruptive"} for r in records]

    ran = drill_report.build("r1", checks_only(_records(after_desired=2, canary_removed=True)))
    assert (ran.disrupted, ran.rto_seconds, ran.verdict) == (False, None, "ran")
    assert drill_report.NOT_DISRUPTED in drill_report.markdown(ran)
    assert ran.to_json()["disrupted"] is False
    changed = drill_report.build("r1", checks_only(_records(after_desired=5, canary_removed=True)))
    assert changed.verdict == "fail"  # nothing disrupted, but it left a desired count changed


def test_the_options_have_help() -> None:
    out = CliRunner().invoke(cli, ["drill", "--help"], terminal_width=200).output
    assert "--to REGION" in out and "the best region that can take over" in out
    assert "seconds to stay evacuated" in out
    out = CliRunner().invoke(cli, ["cleanup", "--help"], terminal_width=200).output
    assert "mr-failover cleanup --run" in out


def test_cleanup_of_an_unknown_run_is_a_usage_error(state: Path) -> None:
    result = CliRunner().invoke(cli, ["cleanup", "--run", "20260101T120000Z-a1b2c3", "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "no run 20260101T120000Z-a1b2c3" in result.output
    assert "Traceback" not in result.output


def test_under_the_lock_a_builtin_drill_is_refused_when_the_writer_moved(
    topology: topo.Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mr_failover.engine.run import PlanChangedError, RunInfo
    from mr_failover.resources import aurora

    job = drill.DrillJob()
    params = {"scenario": "evacuate", "region": "us-east-1", "hold": 0.0}
    factory: Any = None  # every read below is replaced
    job.setup(RunInfo("r1", "drill", params, None, topology, factory, FakeClock(0.0)))
    job.params |= {"to": "us-west-2", "writer": "us-east-1", "why": "chosen with --to"}
    job._spec = job._builtin()
    monkeypatch.setattr(drill, "steady_state_problems", lambda *_a: [])
    shown = Plan("drill", {}, ())
    monkeypatch.setattr(aurora, "observed_writer", lambda *_a, **_k: ("us-east-1", ""))
    assert job.recheck(shown, confirmed=True) is shown
    monkeypatch.setattr(aurora, "observed_writer", lambda *_a, **_k: ("us-west-2", ""))
    with pytest.raises(PlanChangedError, match="the Aurora writer is now in us-west-2, not in"):
        job.recheck(shown, confirmed=True)
