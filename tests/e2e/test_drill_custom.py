"""A scenario's own steps (drill_custom.py): an HTTP request and a local command run in
their phase with the run's context; a command that never ends is bounded; a step that
started and did not finish is not re-run on --resume without asking (--yes refuses)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient
from tests.e2e.test_drill import drill_config, seeded  # noqa: F401  (fixtures)

EAST = "us-east-1"


def _scenario(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "custom.yaml"
    path.write_text(
        f"""\
name: custom-steps
description: The team's own steps around a check.
steps:
{steps}
  - action: verify
    region: {EAST}
"""
    )
    return path


def test_http_and_command_steps_run_with_the_runs_context(
    drill_config: str,  # noqa: F811
    run_cli: Any,
    control: SandboxClient,
    tmp_path: Path,
    clock: Any,
) -> None:
    app = control.app(name="api.arc309.example.com")
    out = tmp_path / "env.json"
    script = (
        "import json, os, sys; json.dump({k: v for k, v in os.environ.items() "
        f"if k.startswith('MR_FAILOVER_')}}, open({str(out)!r}, 'w'))"
    )
    scenario = _scenario(
        tmp_path,
        f"""\
  - action: http
    url: {app["front"]}/health
  - action: command
    region: {EAST}
    command: [{json.dumps(sys.executable)}, "-c", {json.dumps(script)}]
    timeout: 30
""",
    )
    result = run_cli("--config", drill_config, "--output", "json", "drill", str(scenario), "--yes")
    report = json.loads(result.stdout)
    # No disruptive step: nothing recovered, no RTO measured; every step done and nothing
    # left changed: "ran", exit 0 (neither a pass nor a failure).
    assert report["rto"]["seconds"] is None and not report["disrupted"]
    assert (report["verdict"], result.exit_code, report["exit_code"]) == ("ran", 0, 0)
    assert [p["outcome"] for p in report["phases"]] == ["done", "done", "done"]
    env = json.loads(out.read_text())
    (run,) = journal.list_runs()
    assert env["MR_FAILOVER_RUN_ID"] == run.run_id
    assert (env["MR_FAILOVER_REGION"], env["MR_FAILOVER_APPLICATION"]) == (EAST, "arc309")
    assert env["MR_FAILOVER_PHASE"] == "s2"
    marks = [r for r in journal.read_records(run.run_id) if r.get("measure") == "custom"]
    assert [m["step"] for m in marks] == ["http", "command"]


def test_a_command_that_never_ends_fails_its_step_at_the_deadline(
    drill_config: str,  # noqa: F811
    run_cli: Any,
    tmp_path: Path,
    clock: Any,
) -> None:
    scenario = _scenario(
        tmp_path,
        f"""\
  - action: command
    command: [{json.dumps(sys.executable)}, "-c", "import time; time.sleep(600)"]
    timeout: 1
""",
    )
    started = time.monotonic()
    result = run_cli("--config", drill_config, "drill", str(scenario), "--yes")
    assert result.exit_code != 0
    assert "did not end within 1 s (killed)" in result.output
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 120


def test_a_non_idempotent_step_is_not_rerun_on_resume_without_asking(
    drill_config: str,  # noqa: F811
    run_cli: Any,
    run_cli_subprocess: Any,
    tmp_path: Path,
    e2e_env: dict[str, str],
) -> None:
    count = tmp_path / "runs.txt"
    script = f"open({str(count)!r}, 'a').write('x'); import time; time.sleep(30)"
    scenario = _scenario(
        tmp_path,
        f"""\
  - action: command
    command: [{json.dumps(sys.executable)}, "-c", {json.dumps(script)}]
    timeout: 60
""",
    )
    child = run_cli_subprocess.popen("--config", drill_config, "drill", str(scenario), "--yes")
    deadline = time.monotonic() + 90
    while not (count.exists() and count.read_text()):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the command step never started"
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)  # mid-step: it may have had its effect
    child.communicate(timeout=10)
    (run,) = journal.list_runs()
    refused = run_cli(
        "--config", drill_config, "drill", str(scenario), "--resume", run.run_id, "--yes"
    )
    # The step is refused (it fails, the run stays resumable): nothing is run again.
    assert refused.exit_code == 1, refused.output
    assert "is not declared idempotent and may already have run" in refused.output
    assert "resume without --yes to be asked" in refused.output
    assert count.read_text() == "x"  # not run again
