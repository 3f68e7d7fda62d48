"""The built-in ``evacuate`` drill with ``drain_lever: routing_control`` in both regions.

The drill's drain turns us-east-1's ARC routing control OFF and its failback's undrain
turns it back ON, each through one of the cluster's five endpoints. A clock that reads
the sandbox's ARC state at every wait of the tool shows the control OFF for the whole
hold and ON once the failback ran. The dry run's static-stability report puts no
routing-control step under "if us-east-1 is down" (the health-check lever's inversion
steps, for contrast, are there: Route 53's API is in us-east-1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover.commands import _mutation
from mr_failover.engine import journal
from mr_failover.sandbox import arc as sandbox_arc
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.topology import Topology
from tests.e2e.conftest import SandboxAdvancingClock
from tests.e2e.test_arc_drain import served_updates
from tests.e2e.test_drill import drill_config, ecs_running, seeded, writer_region  # noqa: F401

EAST, WEST = "us-east-1", "us-west-2"
HOLD = "s4"  # evacuate of the writer's region: s1 drain, s2 promote, s3 verify, s4 wait


def with_lever(base: str, lever: str, tmp_path: Path) -> str:
    data = yaml.safe_load(Path(base).read_text())
    for region in data["regions"].values():
        region["traffic"]["drain_lever"] = lever
    path = tmp_path / f"drill-{lever}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def current_phase() -> str | None:
    """The drill phase that started last, from the (only) run's journal."""
    runs = journal.list_runs()
    if not runs:
        return None
    started = [
        r["phase"]
        for r in journal.read_records(runs[0].run_id)
        if r.get("kind") == "drill-phase" and r.get("event") == "start"
    ]
    return started[-1] if started else None


class ControlWatch(SandboxAdvancingClock):
    """At each wait of the tool: (the phase running, is the routing control ON?)."""

    def __init__(self, sandbox: Sandbox, arn: str) -> None:
        super().__init__(sandbox)
        self.arn = arn
        self.seen: list[tuple[str | None, bool]] = []

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        with self.sandbox.lock:
            on = sandbox_arc.state(self.sandbox).controls[self.arn].on
        self.seen.append((current_phase(), on))


def test_evacuate_drains_and_fails_back_through_routing_controls(
    drill_config: str,  # noqa: F811
    seeded: Topology,  # noqa: F811
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    e2e_sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = with_lever(drill_config, "routing_control", tmp_path)
    (east_control,) = seeded.regions[EAST].traffic.routing_controls
    watch = ControlWatch(e2e_sandbox, east_control)
    monkeypatch.setattr(_mutation, "CLOCK", watch)
    updates_before = len(served_updates(control))

    result = run_cli(
        "--config", config, "--output", "json", "drill", "evacuate", "-r", EAST, "--yes"
    )
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass", report
    assert 0 < report["rto"]["seconds"] <= report["rto"]["target_seconds"]
    steps = [s["id"] for p in report["phases"] for s in p["steps"]]
    lever = [s for s in steps if "/arc:routing-controls:" in s]
    assert lever == [f"s1/arc:routing-controls:{EAST}:off", f"f1/arc:routing-controls:{EAST}:on"]
    assert not any("route53:" in s for s in steps)  # no health check was inverted

    # Two updates served, by live endpoints, at the drain and at the failback.
    assert len(served_updates(control)[updates_before:]) == 2
    hold = [on for phase, on in watch.seen if phase == HOLD]
    assert hold and not any(hold), watch.seen  # OFF for the whole hold
    states = [on for _, on in watch.seen]
    ordered = [on for i, on in enumerate(states) if i == 0 or on != states[i - 1]]
    assert ordered in ([True, False, True], [False, True]), watch.seen  # OFF, then ON
    with e2e_sandbox.lock:
        assert sandbox_arc.state(e2e_sandbox).controls[east_control].on
    assert writer_region(aws) == EAST


@pytest.mark.parametrize("lever", ["routing_control", "health_check_inversion"])
def test_dry_run_static_stability_leaves_routing_controls_out_of_us_east_1(
    lever: str,
    drill_config: str,  # noqa: F811
    run_cli: Any,
    control: SandboxClient,
    clock: SandboxAdvancingClock,
    tmp_path: Path,
) -> None:
    config = with_lever(drill_config, lever, tmp_path)
    mark = len(control.calls(mutating=True))
    dry = run_cli(
        "--config", config, "--output", "json", "drill", "evacuate", "-r", EAST, "--dry-run"
    )
    assert dry.exit_code == 0, dry.output
    body = json.loads(dry.stdout)
    planned = [s["id"] for s in body["plan"]["steps"]]
    findings = {f["region"]: [s["id"] for s in f["steps"]] for f in body["static_stability"]}
    if lever == "routing_control":
        assert f"s1/arc:routing-controls:{EAST}:off" in planned
        assert f"f1/arc:routing-controls:{EAST}:on" in planned
        assert not [s for steps in findings.values() for s in steps if "/arc:" in s], findings
    else:
        inverted = [s for s in planned if "route53:" in s]
        assert inverted and all(s in findings[EAST] for s in inverted), findings
    assert control.calls(mutating=True)[mark:] == []
