"""Crash at every step boundary of a multi-step run, resume, and compare with a clean run.

``drain --region us-east-1`` has five steps on the example topology: scale up the ECS
service and the Auto Scaling group in us-west-2, invert us-east-1's health check, confirm
by the DNS answers (the sandbox's name server), wait one record TTL. For each step k the
installed entry point runs the drain with ``MR_FAILOVER_TEST_PAUSE_AFTER_STEP=k`` (it
pauses once step k is journaled as done), gets SIGKILL there, and is resumed with
``--resume RUN_ID``. The final state (desired counts, inversion flags) and the multiset
of mutating calls the sandbox served must equal those of an uninterrupted run: nothing
lost, nothing repeated.

The records' TTL is cut to 1 s in this topology, so that the real-time TTL wait of the
child processes stays short.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover.commands import _mutation
from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from tests.e2e.conftest import SandboxAdvancingClock
from tests.reliability.conftest import Mutations, reseed

EAST, WEST = "us-east-1", "us-west-2"
STEPS = 5
Snapshot = dict[str, Any]
_REFERENCE: list[Snapshot] = []


def short_ttl(path: Path) -> Path:
    data = yaml.safe_load(path.read_text())
    for region in data["regions"].values():
        for record in region["traffic"]["records"]:
            record["ttl"] = 1
    out = path.with_name("short-ttl.yaml")
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def snapshot(aws: Any, mutations: Mutations, since: int) -> Snapshot:
    state: Snapshot = {}
    for region, suffix in ((EAST, "use1"), (WEST, "usw2")):
        svc = aws("ecs", region).describe_services(cluster="arc309", services=["api"])
        state[f"ecs {region}"] = svc["services"][0]["desiredCount"]
        asg = aws("autoscaling", region).describe_auto_scaling_groups(
            AutoScalingGroupNames=[f"arc309-web-{suffix}"]
        )
        state[f"asg {region}"] = asg["AutoScalingGroups"][0]["DesiredCapacity"]
    checks = aws("route53", EAST).list_health_checks()["HealthChecks"]
    state["inverted"] = {
        c["HealthCheckConfig"]["FullyQualifiedDomainName"]: c["HealthCheckConfig"]["Inverted"]
        for c in checks
    }
    # The lock's writes differ by design (a resume takes over the dead run's lease).
    state["mutations"] = Counter(m for m in mutations(since) if "/dynamodb:" not in m)
    return state


@pytest.fixture
def reference(
    e2e_env: dict[str, str],
    e2e_sandbox: Sandbox,
    control: SandboxClient,
    run_cli: Any,
    aws: Any,
    mutations: Mutations,
    monkeypatch: pytest.MonkeyPatch,
) -> Snapshot:
    """The state after an uninterrupted drain (computed once, in-process, then re-seeded)."""
    if not _REFERENCE:
        with monkeypatch.context() as mp:
            mp.setattr(_mutation, "CLOCK", SandboxAdvancingClock(e2e_sandbox))
            since = len(control.calls())
            done = run_cli("drain", "--region", EAST, "--yes")
            assert done.exit_code == 0, done.output
            ref = snapshot(aws, mutations, since)
            assert ref["ecs us-west-2"] == 4 and ref["mutations"], ref  # it did something
            _REFERENCE.append(ref)
        # Back to the freshly seeded state the test expects (new ids: rewrite its file).
        reseed(control, Path(e2e_env["MR_FAILOVER_CONFIG"]))
        for run in (Path(e2e_env["MR_FAILOVER_STATE_DIR"]) / "runs").glob("*"):
            run.unlink()
    return _REFERENCE[0]


@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_sigkill_after_each_step_then_resume_equals_an_uninterrupted_run(
    step: int,
    reference: Snapshot,
    e2e_env: dict[str, str],
    control: SandboxClient,
    run_cli_subprocess: Any,
    aws: Any,
    mutations: Mutations,
) -> None:
    config = ("--config", str(short_ttl(Path(e2e_env["MR_FAILOVER_CONFIG"]))))
    since = len(control.calls())
    run_cli_subprocess.kill_after_step(*config, "drain", "--region", EAST, "--yes", step=step)

    (crashed,) = journal.list_runs()
    assert crashed.outcome == "incomplete"
    assert len(crashed.completed) == step

    resumed = run_cli_subprocess(*config, "drain", "--resume", crashed.run_id, "--yes")
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    (done,) = journal.list_runs()
    assert (done.run_id, done.outcome, done.attempts) == (crashed.run_id, "succeeded", 2)
    assert snapshot(aws, mutations, since) == reference
