"""The drill's failback fence: where the implicit phase goes, and what the report says."""

from __future__ import annotations

from typing import Any

from mr_failover import drill, drill_report
from mr_failover import topology as topo
from tests.unit.test_drill import topology  # noqa: F401  (the example topology fixture)

EAST, WEST = "us-east-1", "us-west-2"


def scenario(mode: str | None, *, fence_step: bool = False) -> drill.Scenario:
    back: list[dict[str, Any]] = [
        {"action": "fault-stop", "region": EAST},
        {"action": "undrain", "region": EAST},
    ]
    if fence_step:
        back.insert(1, {"action": "fence", "region": EAST, "database": "stop"})
    return drill.Scenario.model_validate(
        {
            "name": "outage",
            "steps": [
                {"action": "drain", "region": EAST},
                {"action": "fault", "region": EAST},
                {"action": "promote", "region": WEST, "mode": mode},
                {"action": "verify", "region": WEST},
            ],
            "failback": back,
        }
    )


def keys(s: drill.Scenario) -> list[str]:
    return [k for k, _ in s.phases()]


def test_an_unplanned_failover_gets_a_fence_after_the_fault_stop() -> None:
    for mode in ("failover", None):  # no mode: promote decides, a failover when EAST is down
        s = scenario(mode)
        assert keys(s) == ["s1", "s2", "s3", "s4", "f1", "f1.fence", "f2"]
        fence = dict(s.phases())["f1.fence"]
        assert (fence.action, fence.region, fence.database) == ("fence", EAST, "rejoin")


def test_a_switchover_or_an_explicit_fence_step_gets_none() -> None:
    assert "f1.fence" not in keys(scenario("switchover"))
    explicit = scenario("failover", fence_step=True)
    assert keys(explicit) == ["s1", "s2", "s3", "s4", "f1", "f2", "f3"]
    assert dict(explicit.phases())["f2"].database == "stop"


def test_the_implicit_fence_is_shown_but_not_planned_ahead(topology: topo.Topology) -> None:  # noqa: F811
    ctx = drill.DrillContext(topology, factory=None, clock=None, run_id="r")  # type: ignore[arg-type]
    spec = dict(scenario("failover").phases())["f1.fence"]
    plan = drill.build_phase("f1.fence", spec, ctx, planning=True)
    assert plan.steps == () and "split brain" in plan.notes[0]


def test_the_report_says_it_fenced() -> None:
    records: list[dict[str, Any]] = [
        {"type": "run", "t": 0.0, "params": {"scenario": "outage"}, "who": {}},
        {
            "type": "note",
            "kind": "drill-fence",
            "t": 5.0,
            "phase": "f1.fence",
            "region": EAST,
            "database": "rejoin",
            "cluster": "app-use1",
            "fenced_cluster": "app-use1-fenced-202611271234",
        },
        {"type": "end", "t": 9.0, "outcome": "succeeded"},
    ]
    report = drill_report.build("r", records)
    assert report.to_json()["fenced"] == [
        {
            "phase": "f1.fence",
            "region": EAST,
            "database": "rejoin",
            "cluster": "app-use1",
            "fenced_cluster": "app-use1-fenced-202611271234",
        }
    ]
    text = drill_report.markdown(report)
    assert "- **fenced us-east-1 (split brain)**: app-use1 accepted writes" in text
    assert "kept in app-use1-fenced-202611271234" in text
