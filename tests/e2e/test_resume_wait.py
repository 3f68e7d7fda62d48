"""A resumed drain waits the rest of its record-TTL wait: not nothing, not all of it.

The issue: "a drain interrupted 0.1 s into its 60 s wait, resumed, reported success 1.1 s
later (also when another operator re-ran it after a kill -9)". The drain runs as the
installed entry point (real time) and is killed with SIGKILL, once right after the
inversion (the change the wait is for) and once inside the wait itself. Another operator
(another user on another host) resumes it in-process with a fake clock that starts at the
real time: the wait it sleeps must be what remains of the 60 s since the journaled change.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient
from tests.clocks import FakeClock

TTL = 60.0
DRAIN = ("drain", "--region", "us-east-1", "--yes")


@pytest.fixture
def another_operator(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Bob on ops-b, whose clock starts at the real time (and then only moves by sleeping)."""
    from mr_failover.commands import _mutation

    monkeypatch.setattr(journal.getpass, "getuser", lambda: "bob")
    monkeypatch.setattr(journal.socket, "gethostname", lambda: "ops-b")
    clock = FakeClock(time.time())
    monkeypatch.setattr(_mutation, "CLOCK", clock)
    return clock


def records(state_dir: Path, run_id: str) -> list[dict[str, Any]]:
    path = state_dir / "runs" / f"{run_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_resumed_wait(
    run_cli: Any, clock: FakeClock, state_dir: Path, run_id: str, since: float
) -> None:
    started = clock.t
    resumed = run_cli("drain", "--resume", run_id, "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert f"run {run_id} succeeded" in resumed.stdout
    waits = [r for r in records(state_dir, run_id) if r["type"] == "wait"]
    last = waits[-1]
    assert last["since_t"] == pytest.approx(since, abs=0.01)  # the change's journaled time
    rest = TTL - (started - since)
    assert 0 < rest < TTL
    assert last["remaining"] == pytest.approx(rest, abs=0.5)
    # It slept the rest (polls of at most 2 s), not nothing and not the whole TTL.
    assert rest - 0.5 <= clock.slept <= rest + 2.5, (clock.slept, rest)


def test_killed_after_the_change_then_resumed_by_another_operator_waits_the_rest(
    run_cli_subprocess: Any,
    run_cli: Any,
    control: SandboxClient,
    e2e_env: dict[str, str],
    another_operator: FakeClock,
) -> None:
    state_dir = Path(e2e_env["MR_FAILOVER_STATE_DIR"])
    run_cli_subprocess.kill_after_step(*DRAIN, step=3)  # the inversion, before the wait
    (run,) = journal.list_runs()
    (applied,) = [
        r
        for r in records(state_dir, run.run_id)
        if r["type"] == "outcome" and r["step"].startswith("route53:invert")
    ]
    assert not [r for r in records(state_dir, run.run_id) if r["type"] == "wait"]
    another_operator.t = time.time()
    check_resumed_wait(run_cli, another_operator, state_dir, run.run_id, applied["t"])


def test_killed_inside_the_wait_then_resumed_waits_the_rest(
    run_cli_subprocess: Any,
    run_cli: Any,
    e2e_env: dict[str, str],
    another_operator: FakeClock,
) -> None:
    state_dir = Path(e2e_env["MR_FAILOVER_STATE_DIR"])
    child = run_cli_subprocess.popen(*DRAIN)
    deadline = time.monotonic() + 60
    first: dict[str, Any] | None = None
    while first is None:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the drain never started its wait"
        runs = list((state_dir / "runs").glob("*.jsonl"))
        found = [r for p in runs for r in records(state_dir, p.stem) if r["type"] == "wait"]
        first = found[0] if found else None
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)  # about 0.1 s into the 60 s wait
    child.communicate(timeout=10)
    (run,) = journal.list_runs()
    assert run.outcome == "incomplete"
    assert first["remaining"] == pytest.approx(TTL, abs=0.5)
    another_operator.t = time.time()
    check_resumed_wait(run_cli, another_operator, state_dir, run.run_id, first["since_t"])
