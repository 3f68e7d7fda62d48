"""SIGTERM and SIGHUP stop a run like Ctrl-C: journaled, lock released, resume printed.

The installed entry point runs ``drain --region us-east-1 --yes`` against the sandbox and
is left at the test pause after step 1 (its outcome journaled); the test sends it a
signal. It must exit 128 + the signal (130 SIGINT, 143 SIGTERM, 129 SIGHUP), print the
run id and the command that resumes it, journal the run as interrupted, and leave the
lock free (no 120 s wait for the next operator). The resume then finishes the run
without repeating the step already made.
"""

from __future__ import annotations

import re
import signal
from typing import Any

import pytest

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.engine import journal, lock
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from tests.e2e.conftest import SandboxAdvancingClock

DRAIN = ("drain", "--region", "us-east-1", "--yes")


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_a_signal_journals_the_run_releases_the_lock_and_says_how_to_resume(
    signum: int,
    code: int,
    run_cli_subprocess: Any,
    run_cli: Any,
    control: SandboxClient,
    e2e_sandbox: Sandbox,
    e2e_env: dict[str, str],
    clock: SandboxAdvancingClock,
) -> None:
    child = run_cli_subprocess.paused(*DRAIN, step=1)
    child.send_signal(signum)
    _, err = child.communicate(timeout=30)
    assert child.returncode == code, err
    (run,) = journal.list_runs()
    name = signal.Signals(signum).name
    assert (
        f"interrupted ({name}): run {run.run_id} is journaled as interrupted and the lock "
        f"released; resume with `mr-failover drain --resume {run.run_id}`"
    ) in err
    assert "Traceback" not in err
    assert run.outcome == "interrupted"
    assert [s.split(":")[0] for s in run.completed] == ["ecs"]  # step 1: the ECS scale-up
    assert run.detail == f"{name}; resume with --resume {run.run_id}"
    factory = ClientFactory(
        None, endpoint_url=e2e_sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
    )
    config = topo.load(e2e_env["MR_FAILOVER_CONFIG"])
    assert not lock.read(factory, config).held  # released, not left for 120 s

    before = len(control.calls(action="UpdateService"))
    resumed = run_cli("drain", "--resume", run.run_id, "--yes")
    assert resumed.exit_code == 0, resumed.output
    # The re-plan from real state no longer needs the ECS scale-up: 4 steps remain. The
    # DNS confirmation finds the answers already changed, or waits for the calculated
    # check the record carries to follow the inverted one at the next health round.
    assert re.search(
        rf"run {run.run_id} succeeded: (3 applied, 1 already in place|4 applied, 0 already)",
        resumed.stdout,
    ), resumed.stdout
    assert len(control.calls(action="UpdateService")) == before  # step 1 not repeated
