"""80 columns end to end: the real CLI against the sandbox, piped, with ``COLUMNS=80``.

Status (healthy, then with us-east-1 down) through a real pipe from the installed entry
point; plans (drain, promote, drill), a drill with its report, and history in-process
through click's runner (also not a terminal). Every line fits and no identifier of the
topology (regions, clusters, tables, buckets, health check ids the sandbox generated) is
cut across two lines (:mod:`tests.columns`). A wider ``COLUMNS`` gets more columns.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover.sandbox.client import SandboxClient
from tests.columns import assert_fits, identifiers, plain_lines
from tests.e2e.test_drill import drill_config, ecs_running, seeded  # noqa: F401  (fixtures)

EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture
def short_state(e2e_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir with a short path: the report's paths fit a line (a longer one would
    be kept whole on a line of its own)."""
    path = Path(tempfile.mkdtemp(prefix="mrf"))
    e2e_env["MR_FAILOVER_STATE_DIR"] = str(path)
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(path))
    return path


def test_status_plans_drill_report_and_history_fit_80_columns(
    drill_config: str,  # noqa: F811
    e2e_topology_file: Path,
    e2e_env: dict[str, str],
    short_state: Path,
    run_cli: Any,
    run_cli_subprocess: Any,
    control: SandboxClient,
    clock: Any,
) -> None:
    ids = identifiers(yaml.safe_load(e2e_topology_file.read_text()))
    regions = [EAST, WEST]

    # status, healthy, through a pipe: one line per region.
    status = run_cli_subprocess("status", env={"COLUMNS": "80"})
    assert status.returncode in (0, 4, 6), status.stderr
    lines = assert_fits(status.stdout, 80, ids, shown=regions)
    # A region's row: its name then its verdict (a wrapped line under the table, like the
    # DNS answers', may start with a region's name too).
    verdicts = ("SERVING", "DRAINED", "DEGRADED", "UNREACHABLE")
    rows = [
        line
        for line in lines
        if line.split()[:1] in ([EAST], [WEST])
        and line.split()[1:2]
        and line.split()[1] in verdicts
    ]
    assert len(rows) == 2 and lines[1].split()[:3] == ["Region", "Verdict", "Takeover"]
    wide = plain_lines(run_cli_subprocess("status", env={"COLUMNS": "160"}).stdout)
    assert len(wide[1].split()) > len(lines[1].split())  # more columns, not a wider table

    # Plans, compact: what, where, undoable; no call parameter.
    e2e_env["COLUMNS"] = "80"
    plans = {
        "drain": ("drain", "--region", EAST, "--dry-run"),
        "promote": ("promote", "--region", WEST, "--dry-run"),
        "drill": ("--config", drill_config, "drill", "evacuate", "-r", EAST, "--dry-run"),
    }
    for name, args in plans.items():
        plan = run_cli(*args)
        assert plan.exit_code == 0, plan.output
        lines = assert_fits(plan.stdout, 80, ids, shown=regions)
        # A drill says its scenario first (a built-in: its target and why), then its plan.
        head = lines.index(f"Plan: {name}")
        assert head == 0 or (name == "drill" and lines[0].startswith("drill evacuate"))
        assert lines[head + 1].split() == ["#", "Step", "Where", "Undo"]
        assert not any(": " in line and "Identifier" in line for line in lines)
    verbose = run_cli("drain", "--region", EAST, "--dry-run", "--verbose")
    lines = assert_fits(verbose.stdout, 80, ids, shown=regions)
    assert "Calls, with the parameters as they will be sent:" in lines
    assert any(line.strip().startswith("desiredCount: ") for line in lines)

    # A drill: its plan, progress and report; then history.
    drill = run_cli("--config", drill_config, "drill", "evacuate", "-r", EAST, "--hold", "1", "-y")
    assert drill.exit_code == 0, drill.output
    lines = assert_fits(drill.stdout, 80, ids, shown=regions)
    # The scenario first (a built-in says its target and why), then its plan.
    assert lines[0].startswith("drill evacuate us-east-1: ") and "Plan: drill" in lines
    assert any(line.startswith("Drill report: evacuate us-east-1: PASS") for line in lines)
    assert any(line.startswith("report: ") for line in lines)
    assert_fits(drill.stderr, 80, ids)  # progress lines
    history = run_cli("history")
    assert history.exit_code == 0, history.output
    (run_id,) = [p.name.removesuffix(".jsonl") for p in (short_state / "runs").glob("*.jsonl")]
    assert_fits(history.stdout, 80, ids, shown=[run_id])

    # status with us-east-1 down: every reason wraps at spaces (a URL before a slash).
    control.fail_region(EAST)
    down = run_cli_subprocess("status", "--deadline", "3", env={"COLUMNS": "80"})
    assert down.returncode == 4, down.stderr
    lines = assert_fits(down.stdout, 80, ids, shown=regions)
    east = next(line for line in lines if line.startswith(f"{EAST} "))
    assert "UNREACHABLE" in east
