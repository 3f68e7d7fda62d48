"""Concurrent operators: N conflicting promotions at once, and a stale lock.

Each round starts ``OPERATORS`` promotions to the same region as child processes at
the same moment (the installed entry point, each its own process like separate
operators' laptops). Exactly one may move the writer: the sandbox must serve exactly one
``SwitchoverGlobalCluster`` per round and one journal must record a succeeded run that
applied it. Every other operator is refused (exit 3: the lock is held, or a move is
already under way) or, if it planned after the move ended, finds nothing to do (exit 0,
nothing applied). The rounds alternate the target, so each round has real work.

A run killed (SIGKILL) while holding the lock leaves it behind: ``lock status`` names
the dead run's owner (pid, run id, command); ``lock break`` without a reason is a usage
error (exit 2) and changes nothing; with a reason it breaks the lock, the reason and the
broken owner go to the journal, and the next promotion proceeds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient

EAST, WEST = "us-east-1", "us-west-2"
GLOBAL = "arc309-global"
OPERATORS = 4


def writer_region(aws: Any) -> str:
    gc = aws("rds", WEST).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)
    members = gc["GlobalClusters"][0]["GlobalClusterMembers"]
    (writer,) = [m["DBClusterArn"].split(":")[3] for m in members if m["IsWriter"]]
    return writer


def race(run_cli_subprocess: Any, target: str) -> list[subprocess.CompletedProcess[str]]:
    children = [
        run_cli_subprocess.popen("--output", "json", "promote", "--region", target, "--yes")
        for _ in range(OPERATORS)
    ]
    done = []
    for child in children:
        out, err = child.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(child.args, child.returncode, out, err))
    return done


def rounds(
    n: int, control: SandboxClient, run_cli_subprocess: Any, aws: Any, state_dir: Path
) -> None:
    for i in range(n):
        target = (WEST, EAST)[i % 2]
        control.advance(1.1)  # fresh lag metrics for the plans
        before = len(control.calls(action="SwitchoverGlobalCluster"))
        results = race(run_cli_subprocess, target)
        for r in results:
            assert "Traceback" not in r.stderr, r.stderr
        codes = sorted(r.returncode for r in results)
        winners = [r for r in results if r.returncode == 0 and '"applied"' in r.stdout]
        assert len(winners) == 1, [
            (r.returncode, r.stdout[-300:], r.stderr[-300:]) for r in results
        ]
        assert set(codes) <= {0, 3}, codes
        for r in results:
            if r.returncode == 3:
                # Refused by the lock: held, or taken by the other operator between our
                # read and our conditional write (engine/lock.py says so and asks to retry).
                assert any(
                    why in r.stderr for why in ("lock held", "under way", "changed while taking it")
                ), r.stderr
            elif r is not winners[0]:
                assert "nothing to do" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
        served = [
            c
            for c in control.calls(action="SwitchoverGlobalCluster")[before:]
            if c["status"] == 200
        ]
        # Sent to the region that held the writer: the Aurora guide's switchover procedure
        # runs in the current primary's region (issue 15 item 2).
        source = (EAST, WEST)[i % 2]
        assert [c["region"] for c in served] == [source]
        assert writer_region(aws) == target
        succeeded = [
            run for run in journal.list_runs() if run.outcome == "succeeded" and run.completed
        ]
        assert len(succeeded) == i + 1  # one more run moved the writer, this round
    assert len(list((state_dir / "runs").glob("*.jsonl"))) >= n


@pytest.fixture
def fast_moves(control: SandboxClient) -> None:
    control.settings(aurora_failover_seconds=0.5)


def test_conflicting_promotions_exactly_one_proceeds_each_round(
    e2e_env: dict[str, str],
    fast_moves: None,
    control: SandboxClient,
    run_cli_subprocess: Any,
    aws: Any,
) -> None:
    rounds(2, control, run_cli_subprocess, aws, Path(e2e_env["MR_FAILOVER_STATE_DIR"]))


@pytest.mark.heavy
def test_conflicting_promotions_many_rounds(
    e2e_env: dict[str, str],
    fast_moves: None,
    control: SandboxClient,
    run_cli_subprocess: Any,
    aws: Any,
) -> None:
    rounds(3, control, run_cli_subprocess, aws, Path(e2e_env["MR_FAILOVER_STATE_DIR"]))


def test_a_killed_runs_lock_is_reported_and_broken_only_with_a_reason(
    e2e_env: dict[str, str], control: SandboxClient, run_cli_subprocess: Any, run_cli: Any
) -> None:
    control.advance(1.1)
    child = run_cli_subprocess.kill_after_step("promote", "--region", WEST, "--yes", step=1)
    (dead,) = journal.list_runs()

    shown = run_cli("--output", "json", "lock", "status")
    assert shown.exit_code == 0, shown.output
    owner = json.loads(shown.stdout)["owner"]
    assert (owner["pid"], owner["run_id"], owner["command"]) == (child.pid, dead.run_id, "promote")
    text = run_cli("lock", "status").stdout
    assert str(child.pid) in text and dead.run_id in text

    blocked = run_cli("promote", "--region", EAST, "--yes")
    assert blocked.exit_code == 3 and dead.run_id in blocked.output

    no_reason = run_cli("lock", "break", "--yes")
    assert no_reason.exit_code == 2
    blank = run_cli("lock", "break", "--reason", "  ", "--yes")
    assert blank.exit_code == 2
    assert json.loads(run_cli("--output", "json", "lock", "status").stdout)["owner"] is not None

    broke = run_cli("lock", "break", "--reason", "promote killed by the harness", "--yes")
    assert broke.exit_code == 0, broke.output
    notes = [
        line
        for path in (Path(e2e_env["MR_FAILOVER_STATE_DIR"]) / "runs").glob("*.jsonl")
        for line in path.read_text().splitlines()
        if '"lock-break"' in line
    ]
    assert len(notes) == 1
    assert "promote killed by the harness" in notes[0] and dead.run_id in notes[0]
    control.advance(5.0)  # the dead run's switchover ends
    after = run_cli("promote", "--region", EAST, "--yes")
    assert after.exit_code == 0, after.output
