"""End to end: a region-outage drill whose old primary comes back split brain.

With the sandbox's ``aurora_fencing: fails``, the old writer of a failover made while its
region was down comes back standalone and writable. The drill's failback fences it (its
implicit ``fN.fence`` phase: rename, stop, rejoin as a new secondary) before switching
the writer back; with the default (fencing succeeds) that phase has no step.

The writer is moved to us-west-2 first and us-west-2 is the region broken: the drill's
verify step reads health checks through Route 53's API, which lives in us-east-1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover.sandbox.client import SandboxClient
from tests.e2e.test_drill import drill_config, ecs_running, seeded, writer_region  # noqa: F401

EAST, WEST = "us-east-1", "us-west-2"

OUTAGE = f"""\
name: outage-and-back
description: Drain {WEST}, break it, fail over to {EAST}, heal, fence, switch back.
steady_state:
  regions: [{EAST}, {WEST}]
steps:
  - action: drain
    region: {WEST}
  - action: fault
    region: {WEST}
  - action: promote
    region: {EAST}
    mode: failover
    allow_data_loss: true
  - action: verify
    region: {EAST}
  - action: wait
    seconds: 5
failback:
  - action: fault-stop
    region: {WEST}
  - action: undrain
    region: {WEST}
  - action: promote
    region: {WEST}
    mode: switchover
"""


@pytest.fixture
def outage(drill_config: str, tmp_path: Path) -> tuple[str, str]:  # noqa: F811
    # The lock table lives in the region the drill breaks; lock fallbacks are another
    # test's subject (test_outage_primary_down.py).
    data = yaml.safe_load(Path(drill_config).read_text())
    data.pop("lock", None)
    config = tmp_path / "no-lock.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    scenario = tmp_path / "outage.yaml"
    scenario.write_text(OUTAGE)
    return str(config), str(scenario)


@pytest.mark.parametrize("fencing", ["fails", "succeeds"])
def test_failback_fences_a_split_brain_then_switches_back(
    fencing: str,
    outage: tuple[str, str],
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    clock: Any,
) -> None:
    config, scenario = outage
    moved = run_cli("--config", config, "promote", "--region", WEST, "--yes")
    assert moved.exit_code == 0, moved.output
    control.advance(1.1)  # lag metrics of the new secondary, for the drill's steady state
    control.settings(aurora_fencing=fencing)
    mark = len(control.calls())
    result = run_cli("--config", config, "--output", "json", "drill", scenario, "--yes")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    phases = {p["phase"]: p for p in report["phases"]}
    fence = phases["f1.fence"]
    assert fence["outcome"] == "done"
    assert writer_region(aws) == WEST
    calls = [c["action"] for c in control.calls()[mark:] if c["mutating"] and c["service"] == "rds"]
    if fencing == "fails":
        (fenced,) = report["fenced"]
        assert (fenced["region"], fenced["database"]) == (WEST, "rejoin")
        assert fenced["fenced_cluster"].startswith(f"{fenced['cluster']}-fenced-")
        outcomes = {
            s["id"].split("/fence:")[1].split(":")[0]: s["outcome"]
            for s in fence["steps"]
            if "/fence:" in s["id"]
        }
        # The region's traffic steps come first, and the lever holds: the drill drained it.
        # The DNS confirmation may still wait for the answers to leave the region (its
        # inverted check looks healthy until the checkers see the region back up), then
        # the TTL from that moment.
        lever = [s for s in fence["steps"] if "/fence:" not in s["id"] and "/dns:" not in s["id"]]
        assert lever and {s["outcome"] for s in lever} == {"skipped"}
        # The wait for the new secondary finds it connected at once (the sandbox is instant).
        assert outcomes == {
            "rename": "applied",
            "stop": "applied",
            "create-secondary": "applied",
            "create-reader": "applied",
            "rejoined": "skipped",
        }
        assert calls.count("CreateDBCluster") == 1 and calls.count("ModifyDBCluster") == 1
        # Fenced before the switch back: the rejoin's calls come before the switchover.
        assert calls.index("CreateDBCluster") < len(calls) - 1 - calls[::-1].index(
            "SwitchoverGlobalCluster"
        )
    else:
        assert report["fenced"] == [] and fence["steps"] == []
        assert "ModifyDBCluster" not in calls and "CreateDBCluster" not in calls
    assert report["verdict"] == "pass", report
