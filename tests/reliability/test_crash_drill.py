"""Crash ``drill evacuate`` at sampled step boundaries, resume, and compare with a clean run.

``drill evacuate --region us-east-1`` numbers the steps of all its phases in one sequence:
drain us-east-1 (scale up ECS and the ASG in us-west-2, invert us-east-1's check, wait one
TTL), move the Aurora writer (cut-over probe, switchover), verify us-west-2, hold, then fail
back (restore the check, wait one TTL, scale the absorbers back, probe, switch the writer
home), restore what still differs, remove every canary: 23 steps on the harness's topology.
First an uninterrupted drill runs as a child process: its final state
and the mutating calls the sandbox served are the reference, and its journal gives the
number of steps N. Then, for each sampled k (below), the sandbox is re-seeded, the installed
entry point runs the drill with ``MR_FAILOVER_TEST_PAUSE_AFTER_STEP=k``, gets SIGKILL once
step k is journaled as done, and is resumed with ``--resume RUN_ID --yes``. Each resumed
drill must report ``pass`` and end in the reference state: the writer's region, each
check's inversion flag, ECS and ASG desired counts, and the multiset of served mutating
calls. DynamoDB writes are left out: the lock's lease is taken over by design on a
resume, and the drill's canary writes share those tables, so they are not compared;
instead no canary item, object version or delete marker may be left anywhere.

The boundaries are sampled, not all N (23 and more since drills scale back, restore and
remove their canaries; about 10 s each): the first and the last step of every phase, so
that a crash lands inside each phase and between every two phases (the phase notes, the
drain's record that the undrain restores from, the canaries journaled before they are
written, the cleanup's removals). The choice comes from the clean run's journal, so it
follows the plan when steps are added.

Child processes wait in real time, so the run is kept short: the harness's core topology
(traffic, Aurora, DynamoDB, S3, compute, lock; no cache, so there is no cache primary to
compare), records with ``ttl: 1``, ``--hold 0`` (the hold is still a step, of 0 s) and the
e2e sandbox's fast transitions. About 10 s per boundary: one test, because every boundary
needs the reference and re-seeding in a loop is cheaper than a fixture per step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mr_failover import topology as topo
from mr_failover.drill import CANARY_PREFIX
from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient
from tests.e2e.test_drill import writer_region
from tests.reliability.conftest import Mutations, reseed
from tests.reliability.test_crash_resume import Snapshot, short_ttl, snapshot

EAST, WEST = "us-east-1", "us-west-2"
DRILL = ("--output", "json", "drill", "evacuate", "--region", EAST, "--hold", "0", "--yes")


def final_state(aws: Any, mutations: Mutations, since: int) -> Snapshot:
    return {**snapshot(aws, mutations, since), "writer": writer_region(aws)}


def fresh(control: SandboxClient, env: dict[str, str]) -> tuple[str, ...]:
    """Re-seed, forget past runs, and write the short-TTL topology; returns ``--config``."""
    reseed(control, Path(env["MR_FAILOVER_CONFIG"]))
    for run in (Path(env["MR_FAILOVER_STATE_DIR"]) / "runs").glob("*"):
        run.unlink()
    control.advance(1.1)  # one round of replication-lag metrics for the steady-state check
    return ("--config", str(short_ttl(Path(env["MR_FAILOVER_CONFIG"]))))


def canaries_left(aws: Any, config: str) -> list[str]:
    """Every drill canary still anywhere: items in every region's tables, object versions
    and delete markers in every region's buckets."""
    left = []
    for region, spec in topo.load(config).regions.items():
        for table in spec.dynamodb_tables:
            for item in aws("dynamodb", region).scan(TableName=table)["Items"]:
                keys = [v.get("S", "") for v in item.values() if isinstance(v, dict)]
                left += [f"{table} ({region}): {k}" for k in keys if k.startswith(CANARY_PREFIX)]
        for bucket in spec.s3_buckets:
            out = aws("s3", region).list_object_versions(Bucket=bucket.name, Prefix=CANARY_PREFIX)
            found = [*out.get("Versions", []), *out.get("DeleteMarkers", [])]
            left += [f"{bucket.name} ({region}): {v['Key']}" for v in found]
    return left


def verdict(stdout: str) -> str:
    return str(json.loads(stdout)["verdict"])


def sampled_boundaries(run_id: str) -> list[int]:
    """The 1-based step numbers to crash after: the first and the last step of every
    phase, in the order the clean run journaled them."""
    order = list(
        dict.fromkeys(
            r["step"]
            for r in journal.read_records(run_id)
            if r.get("type") == "outcome" and isinstance(r.get("step"), str)
        )
    )
    phase = [sid.split("/", 1)[0] for sid in order]
    return [
        k
        for k in range(1, len(order) + 1)
        if k in (1, len(order)) or phase[k - 1] != phase[k - 2] or phase[k - 1] != phase[k]
    ]


@pytest.mark.heavy(seconds=160)
def test_sigkill_at_sampled_drill_steps_then_resume_equals_an_uninterrupted_drill(
    e2e_env: dict[str, str],
    control: SandboxClient,
    run_cli_subprocess: Any,
    aws: Any,
    mutations: Mutations,
) -> None:
    config = fresh(control, e2e_env)
    since = len(control.calls())
    clean = run_cli_subprocess(*config, *DRILL)
    assert clean.returncode == 0, clean.stderr
    assert verdict(clean.stdout) == "pass"
    (run,) = journal.list_runs()
    steps = len(run.completed)
    reference = final_state(aws, mutations, since)
    # It did something, and put everything back: the writer is home, nothing inverted.
    assert reference["writer"] == EAST, reference
    assert reference["mutations"][f"{WEST}/rds:SwitchoverGlobalCluster"] == 1, reference
    assert reference["mutations"][f"{EAST}/route53:UpdateHealthCheck"] == 2, reference
    assert not any(reference["inverted"].values()), reference
    assert canaries_left(aws, config[1]) == []
    # Drain (4, and its DNS confirmation), probe + switchover, verify, hold; failback:
    # restore + its DNS confirmation + TTL + the scale-back of the two absorbers the drain
    # raised (issue 13), probe + switchover; then the removal of the 7 canaries (each
    # probe: 2 tables + 1 bucket; verify's write). The restore phase finds nothing left to
    # put back: no step.
    assert steps == 23, sorted(run.completed)
    sampled = sampled_boundaries(run.run_id)
    assert 1 in sampled and steps in sampled and len(sampled) < steps, sampled

    for step in sampled:
        config = fresh(control, e2e_env)
        since = len(control.calls())
        run_cli_subprocess.kill_after_step(*config, *DRILL, step=step)

        (crashed,) = journal.list_runs()
        assert crashed.outcome == "incomplete", step
        assert len(crashed.completed) == step

        resumed = run_cli_subprocess(*config, *DRILL[:4], "--resume", crashed.run_id, "--yes")
        assert resumed.returncode == 0, (step, resumed.stderr)
        assert "Traceback" not in resumed.stderr
        assert verdict(resumed.stdout) == "pass", step
        (done,) = journal.list_runs()
        assert (done.run_id, done.outcome, done.attempts) == (crashed.run_id, "succeeded", 2)
        assert final_state(aws, mutations, since) == reference, f"after a crash at step {step}"
        assert canaries_left(aws, config[1]) == [], f"after a crash at step {step}"
