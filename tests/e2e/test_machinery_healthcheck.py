"""End to end: the mutation machinery driven through ``health-check invert|restore``.

The real CLI (in-process CliRunner, or the installed entry point as a child process)
against the sandbox over HTTP. The sandbox's call log says which calls the tool made:
every test marks the log's length before the command, so seeding calls never count.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.commands import _mutation
from mr_failover.engine import journal, lock
from mr_failover.engine.plan import SystemClock
from mr_failover.resources.route53 import observe_health_check
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.seed import seed
from mr_failover.topology import Topology

EAST, WEST = "us-east-1", "us-west-2"
INVERT_EAST = ("health-check", "invert", "--region", EAST, "--yes")

CallLog = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def machinery_calls(e2e_env: dict[str, str], control: SandboxClient) -> CallLog:
    """The calls made since the fixture was set up (after seeding): a fresh view each call."""
    mark = len(control.calls())
    return lambda: control.calls()[mark:]


@pytest.fixture
def machinery_factory(e2e_sandbox: Sandbox, e2e_env: dict[str, str]) -> ClientFactory:
    return ClientFactory(
        None, endpoint_url=e2e_sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
    )


def actions(calls: list[dict[str, Any]], mutating: bool | None = None) -> list[str]:
    return [
        f"{c['service']}:{c['action']}"
        for c in calls
        if mutating is None or c["mutating"] == mutating
    ]


def traffic(run_cli: Any, region: str) -> dict[str, Any]:
    """``status --output json``'s traffic part for ``region`` (health checks' state)."""
    result = run_cli("--output", "json", "status", "--region", region)
    assert result.exit_code in (0, 4), result.output
    (found,) = [r for r in json.loads(result.stdout)["regions"] if r["name"] == region]
    hc: dict[str, Any] = found["traffic"]["health_checks"][0]
    return hc


def test_invert_then_restore_shows_in_status(
    run_cli: Any, machinery_calls: CallLog, e2e_topology: Topology
) -> None:
    before = traffic(run_cli, EAST)
    assert (before["inverted"], before["effective_healthy"]) == (False, True)

    inverted = run_cli(*INVERT_EAST)
    assert inverted.exit_code == 0, inverted.output
    assert "succeeded: 1 applied, 0 already in place" in inverted.stdout
    during = traffic(run_cli, EAST)
    assert (during["inverted"], during["effective_healthy"]) == (True, False)
    assert during["raw_healthy"] is True  # the checkers still see the region up
    assert traffic(run_cli, WEST)["effective_healthy"] is True

    restored = run_cli("health-check", "restore", "--region", EAST, "--yes")
    assert restored.exit_code == 0, restored.output
    after = traffic(run_cli, EAST)
    assert (after["inverted"], after["effective_healthy"]) == (False, True)

    # One UpdateHealthCheck each way, each inside a lock taken and released.
    assert (
        actions(machinery_calls(), mutating=True)
        == [
            "dynamodb:PutItem",
            "route53:UpdateHealthCheck",
            "dynamodb:DeleteItem",
        ]
        * 2
    )


def test_a_dry_run_makes_no_mutating_call(run_cli: Any, machinery_calls: CallLog) -> None:
    result = run_cli("health-check", "invert", "--region", EAST, "--dry-run", "--verbose")
    assert result.exit_code == 0, result.output
    assert "1  route53:UpdateHealthCheck (us-east-1, control plane)" in result.stdout
    assert "dry run: no change made" in result.stdout
    seen = machinery_calls()
    # It did plan from real state: the checks, and their health from Route 53's metrics.
    assert {"route53:GetHealthCheck", "cloudwatch:GetMetricData"} <= set(actions(seen))
    assert "route53:GetHealthCheckStatus" not in actions(seen)  # diagnostic only (issue 15)
    assert actions(seen, mutating=True) == []
    assert traffic(run_cli, EAST)["inverted"] is False
    assert journal.list_runs() == []


def test_a_second_operator_is_refused_while_the_lock_is_held(
    run_cli: Any,
    machinery_calls: CallLog,
    machinery_factory: ClientFactory,
    e2e_topology: Topology,
) -> None:
    arn = "arn:aws:iam::123456789012:user/alice"
    alice = lock.Owner(arn, "alice-laptop", 4242, "20261127T000000Z-a11ce0", "drain")
    lease = lock.acquire(machinery_factory, e2e_topology, alice)
    try:
        result = run_cli(*INVERT_EAST)
    finally:
        assert lease.release()
    assert result.exit_code == 3, result.output
    assert "user/alice on alice-laptop (pid 4242, run 20261127T000000Z-a11ce0" in result.output
    assert "lock break" in result.output
    assert "route53:UpdateHealthCheck" not in actions(machinery_calls())
    assert journal.list_runs() == []  # refused before the run began: nothing to resume


def test_the_account_guard_refuses_before_any_other_call(
    run_cli: Any, machinery_calls: CallLog, e2e_topology_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-account.yaml"
    text = e2e_topology_file.read_text()
    assert "123456789012" in text
    other.write_text(text.replace("123456789012", "210987654321"))
    result = run_cli("--config", str(other), *INVERT_EAST)
    assert result.exit_code == 3, result.output
    assert "210987654321" in result.output and "123456789012" in result.output
    assert actions(machinery_calls()) == ["sts:GetCallerIdentity"]


def test_history_lists_the_runs(run_cli: Any) -> None:
    assert run_cli(*INVERT_EAST).exit_code == 0
    assert run_cli("health-check", "restore", "--region", EAST, "--yes").exit_code == 0
    result = run_cli("--output", "json", "history")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [(r["command"], r["params"], r["outcome"]) for r in runs] == [
        ("health-check restore", {"region": EAST}, "succeeded"),
        ("health-check invert", {"region": EAST}, "succeeded"),
    ]
    table = run_cli("history")
    assert all(r["run_id"] in table.stdout for r in runs)


def test_lock_status_and_break(
    run_cli: Any, machinery_factory: ClientFactory, e2e_topology: Topology
) -> None:
    assert "free" in run_cli("lock", "status").stdout.lower()
    bob = lock.Owner("arn:aws:iam::123456789012:user/bob", "bob-host", 99, "r-bob", "drain")
    lock.acquire(machinery_factory, e2e_topology, bob)
    held = json.loads(run_cli("--output", "json", "lock", "status").stdout)
    assert (held["state"], held["owner"]["host"]) == ("held", "bob-host")

    refused = run_cli("lock", "break", "--yes")
    assert refused.exit_code == 2  # --reason is required
    broken = run_cli("lock", "break", "--reason", "bob's laptop died", "--yes")
    assert broken.exit_code == 0, broken.output
    assert "bob-host" in broken.output
    assert json.loads(run_cli("--output", "json", "lock", "status").stdout)["state"] == "free"
    assert not lock.read(machinery_factory, e2e_topology).held
    (entry,) = journal.list_runs()
    assert entry.command == "lock break"
    assert "bob's laptop died" in json.dumps(entry.to_json()) + _journal_text(entry.run_id)
    # The tool works again afterwards.
    assert run_cli(*INVERT_EAST).exit_code == 0


def _journal_text(run_id: str) -> str:
    return (journal.runs_dir() / f"{run_id}.jsonl").read_text()


TWO_CHECKS = """      health_checks:
        - name: api-us-east-1
          fqdn: api-us-east-1.arc309.example.com
          path: /health
        - name: api-us-east-1-deep
          fqdn: api-us-east-1.arc309.example.com
          path: /health/deep
"""


@pytest.fixture
def machinery_two_checks(
    e2e_topology_file: Path, machinery_factory: ClientFactory, tmp_path: Path
) -> Path:
    """The seeded topology with a second us-east-1 check (so an invert has two steps)."""
    text = e2e_topology_file.read_text()
    start = text.index("health_checks:")
    start = text.rindex("\n", 0, start) + 1
    end = text.index("records:", start)
    end = text.rindex("\n", 0, end) + 1
    source = tmp_path / "two-checks-source.yaml"
    source.write_text(text[:start] + TWO_CHECKS + text[end:])
    seeded = seed(topo.load(source), machinery_factory)  # creates only the new check
    path = tmp_path / "two-checks.yaml"
    path.write_text(topo.dump(seeded))
    assert len(seeded.regions[EAST].traffic.health_checks) == 2
    return path


def _wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sigkill_between_steps_then_resume_does_not_repeat_the_mutation(
    run_cli_subprocess: Any,
    machinery_two_checks: Path,
    machinery_calls: CallLog,
    machinery_factory: ClientFactory,
) -> None:
    config = ("--config", str(machinery_two_checks))
    # The pause comes once step 1's outcome is in the journal.
    run_cli_subprocess.kill_after_step(*config, *INVERT_EAST, step=1)

    (crashed,) = journal.list_runs()
    assert crashed.outcome == "incomplete"
    assert crashed.completed == {"route53:invert:api-us-east-1"}
    assert actions(machinery_calls()).count("route53:UpdateHealthCheck") == 1
    left = lock.read(machinery_factory, topo.load(machinery_two_checks))
    assert left.held and not left.stale  # the dead run's lease is still live
    assert left.owner is not None and left.owner.run_id == crashed.run_id

    resumed = run_cli_subprocess(
        *config, "health-check", "invert", "--resume", crashed.run_id, "-y"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {crashed.run_id} succeeded: 1 applied, 1 already in place" in resumed.stdout
    assert f"took over the lock left by an earlier attempt of run {crashed.run_id}" in (
        resumed.stderr
    )
    # Exactly one UpdateHealthCheck per check over both attempts: nothing repeated.
    assert actions(machinery_calls()).count("route53:UpdateHealthCheck") == 2
    (done,) = journal.list_runs()
    assert (done.run_id, done.outcome, done.attempts) == (crashed.run_id, "succeeded", 2)
    assert '"reason": "this run\'s own lease' in _journal_text(crashed.run_id)
    assert not lock.read(machinery_factory, topo.load(machinery_two_checks)).held


def test_resume_is_refused_while_the_same_run_is_still_alive(
    run_cli_subprocess: Any, machinery_two_checks: Path, machinery_calls: CallLog
) -> None:
    config = ("--config", str(machinery_two_checks))
    child = run_cli_subprocess.paused(*config, *INVERT_EAST, step=1)
    (running,) = journal.list_runs()
    second = run_cli_subprocess(*config, "health-check", "invert", "--resume", running.run_id, "-y")
    child.kill()
    child.wait(timeout=10)
    assert second.returncode == 3, second.stderr
    assert f"is still running as pid {child.pid}" in second.stderr
    assert actions(machinery_calls()).count("route53:UpdateHealthCheck") == 1


class _QuickSleepClock(SystemClock):
    """Real time, but polls come quickly: the step's deadline stays real and far away."""

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, 0.05))


@pytest.fixture
def machinery_short_lease(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A 0.6 s lease (heartbeat every 0.2 s) and quick polls, for the lock-lost test."""
    real = lock.acquire

    def acquire(*args: Any, **kwargs: Any) -> lock.Lease:
        return real(*args, **{**kwargs, "ttl": 0.6})

    monkeypatch.setattr(lock, "acquire", acquire)
    monkeypatch.setattr(_mutation, "CLOCK", _QuickSleepClock())
    yield


def test_a_lock_broken_mid_wait_stops_the_run_at_once(
    run_cli: Any,
    control: SandboxClient,
    machinery_calls: CallLog,
    machinery_factory: ClientFactory,
    e2e_topology: Topology,
    machinery_short_lease: None,
) -> None:
    # us-west-2 inverted, then down: its restore waits for checkers that keep failing,
    # up to the step's deadline (minutes). Breaking the lock must end that wait.
    assert run_cli("health-check", "invert", "--region", WEST, "--yes").exit_code == 0
    control.fail_region(WEST)
    r53 = machinery_factory.client("route53", EAST)
    cw = machinery_factory.client("cloudwatch", EAST)
    (check,) = e2e_topology.regions[WEST].traffic.health_checks
    _wait_for(lambda: observe_health_check(r53, check, cloudwatch=cw).raw_healthy is False)

    def break_when_held() -> None:
        _wait_for(lambda: lock.read(machinery_factory, e2e_topology).held, timeout=20)
        time.sleep(0.3)  # well inside the restore's wait
        lock.break_lock(machinery_factory, e2e_topology)

    breaker = threading.Thread(target=break_when_held)
    breaker.start()
    started = time.monotonic()
    result = run_cli("health-check", "restore", "--region", WEST, "--yes")
    elapsed = time.monotonic() - started
    breaker.join(timeout=30)

    assert result.exit_code == 1, result.output
    assert "lost the lock on arc309" in result.output
    assert "resume with --resume" in result.output
    assert elapsed < 10, elapsed  # the step's own deadline is 120 s
    runs = journal.list_runs()
    assert runs[0].command == "health-check restore" and runs[0].outcome == "failed"
    # The restore's one mutation was made; the failed run never released someone's lock.
    assert actions(machinery_calls(), mutating=True).count("route53:UpdateHealthCheck") == 2
    assert "warning: the lock was no longer ours" in result.output
