"""``history`` shows drills with verdict, RTO and RPO, and a chart of RTO per drill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mr_failover.cli import cli
from mr_failover.commands.history import rto_bar
from mr_failover.engine import journal
from mr_failover.engine.plan import Plan
from tests.clocks import FakeClock


def _drill_journal(started: float, rto: float, *, lag: float = 0.5, stopped: bool = False) -> str:
    """A drill's journal as the drill command writes it: plan, phases, measures, end."""
    clock = FakeClock(started)
    run_id = journal.new_run_id(clock)
    who = journal.Who("arn:aws:iam::123456789012:role/sre", "ana", "laptop")
    jr = journal.Journal.create(
        run_id,
        command="drill",
        params={"scenario": "evacuate", "region": "us-east-1", "hold": 60.0},
        who=who,
        plan=Plan("drill", {}, ()),
        clock=clock,
    )
    jr.note("drill-plan", scenario="evacuate us-east-1", rto_target=900, rpo_target=60)
    jr.note("drill-steady", when="before", problems=[])
    jr.note("drill-phase", phase="s1", title="drain us-east-1", event="start", disruptive=True)
    jr.note("drill-measure", key="s2:cutover", measure="cutover", lag_seconds=lag, t=clock.t)
    clock.t += rto
    jr.note("drill-measure", key="s3:serving", measure="serving", t=clock.t, canaries_written=2)
    jr.note("drill-phase", phase="s1", title="drain us-east-1", event="done", seconds=rto)
    if stopped:
        jr.note("drill-stop", condition="status of us-west-2 is unreachable")
    jr.note("drill-steady", when="after", problems=[])
    jr.end("stopped" if stopped else "succeeded", rto + 60)
    jr.close()
    return run_id


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(journal.ENV_STATE_DIR, str(tmp_path))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("COLUMNS", raising=False)  # piped, width unknown: 80
    return tmp_path


def test_history_json_has_each_drills_rto_rpo_and_verdict(state: Path) -> None:
    fast = _drill_journal(1_800_000_000.0, 75.0)
    slow = _drill_journal(1_800_100_000.0, 1200.0, lag=90.0)
    result = CliRunner().invoke(cli, ["--output", "json", "history"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    runs = {r["run_id"]: r for r in json.loads(result.stdout)["runs"]}
    assert runs[fast]["drill"] | {} == {
        "scenario": "evacuate us-east-1",
        "verdict": "pass",
        "stopped_by": None,
        "rto_seconds": 75.0,
        "rto_target_seconds": 900,
        "rpo_lag_seconds": 0.5,
        "rpo_target_seconds": 60,
        "canaries_written": 2,
        "canaries_lost": 0,
    }
    assert runs[slow]["drill"]["verdict"] == "fail"  # RTO and RPO both missed
    assert runs[slow]["drill"]["rto_seconds"] == 1200.0


def test_history_table_and_rto_chart_oldest_first(state: Path) -> None:
    _drill_journal(1_800_000_000.0, 75.0)
    _drill_journal(1_800_100_000.0, 1200.0, stopped=True)
    result = CliRunner().invoke(cli, ["history"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    drills = out[out.index("Drills, oldest first") : out.index("RTO per drill")]
    lines = drills.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("RUN ID"))
    rows = [line.split() for line in lines[header + 1 :]]
    # 80 columns: the scenario wraps at its space, the measurements stay on the run's line.
    assert rows[0][1:] == ["evacuate", "pass", "75.0s/900s", "0.5s/60s", "0/2"]
    assert rows[1] == ["us-east-1"]
    assert rows[2][1:] == ["evacuate", "stopped", "1200.0s/900s", "0.5s/60s", "0/2"]
    assert "was stopped by status of us-west-2 is unreachable" in drills
    chart = out[out.index("RTO per drill") :]
    first, second = chart.index("75.0s/900s"), chart.index("1200.0s/900s")
    assert first < second  # the older drill first


def test_one_drill_has_no_chart(state: Path) -> None:
    _drill_journal(1_800_000_000.0, 75.0)
    result = CliRunner().invoke(cli, ["history"], catch_exceptions=False)
    assert "RTO per drill" not in result.stdout
    assert "Drills, oldest first" in result.stdout and "75.0s/900s" in result.stdout


def test_rto_bar_scales_and_marks_the_target() -> None:
    assert rto_bar(450.0, 900.0, 900.0, width=10) == "\u2588" * 5 + "    |"
    over = rto_bar(1200.0, 900.0, 1200.0, width=8)
    assert over == "\u2588" * 6 + "|" + "\u2588"
    assert rto_bar(None, 900.0, 900.0, width=4) == "   |"


def test_a_topology_that_does_not_load_still_lists_the_local_runs(
    state: Path, tmp_path: Path
) -> None:
    run_id = _drill_journal(1_800_000_000.0, 75.0)
    broken = tmp_path / "regions.yaml"
    broken.write_text("application: [broken\n")
    result = CliRunner().invoke(
        cli, ["--config", str(broken), "--output", "json", "history"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert [r["run_id"] for r in json.loads(result.stdout)["runs"]] == [run_id]
    assert "the team's journal not read" in result.stderr
