"""The lease lock against DynamoDB (moto in-process): conditional writes really enforced."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from mr_failover import topology
from mr_failover.aws import ClientFactory
from mr_failover.cli import cli
from mr_failover.commands import _mutation
from mr_failover.engine import journal, lock
from mr_failover.errors import AwsCallError, RefusedError
from tests.clocks import FakeClock

CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "regions.yaml")
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ALICE = lock.Owner("arn:aws:iam::123456789012:user/alice", "laptop-a", 4242, "run-a", "drain")
BOB = lock.Owner("arn:aws:iam::123456789012:user/bob", "laptop-b", 777, "run-b", "promote")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeClock]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path / "state"))
    clock = FakeClock(T0)
    monkeypatch.setattr(_mutation, "CLOCK", clock)
    with mock_aws():
        lock.create_table(ClientFactory(), topology.load(CONFIG))
        yield clock


@pytest.fixture
def topo() -> topology.Topology:
    return topology.load(CONFIG)


def item() -> dict[str, Any] | None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    out = ddb.get_item(TableName="mr-failover-lock", Key={"application": {"S": "arc309"}})
    return out.get("Item")


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", CONFIG, "--no-color", *args], input=input)


def test_acquire_writes_owner_and_lease(env: FakeClock, topo: topology.Topology) -> None:
    lease = lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=env.time)
    got = item()
    assert got is not None
    assert got["owner_arn"] == {"S": ALICE.caller_arn}
    assert (got["host"], got["pid"], got["run_id"], got["command"]) == (
        {"S": "laptop-a"},
        {"N": "4242"},
        {"S": "run-a"},
        {"S": "drain"},
    )
    assert float(got["expires_at"]["N"]) == T0 + 120
    assert lease.taken_over is None
    assert lease.release() is True
    assert item() is None


def test_a_second_owner_is_refused_with_who_and_since_when(
    env: FakeClock, topo: topology.Topology
) -> None:
    lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=env.time)
    env.t += 30
    with pytest.raises(RefusedError) as err:
        lock.acquire(ClientFactory(), topo, BOB, ttl=120, time_fn=env.time)
    assert err.value.exit_code == 3
    assert str(err.value) == (
        "another operation is running on arc309: lock held by "
        "arn:aws:iam::123456789012:user/alice on laptop-a (pid 4242, run run-a, drain) since "
        "2026-01-01T00:00:00Z, lease expires in 90s; wait for it, or if that run is dead, "
        "`mr-failover lock break --reason TEXT`"
    )
    assert item()["owner_arn"] == {"S": ALICE.caller_arn}  # type: ignore[index]


def test_an_expired_lease_is_taken_over_and_the_old_holder_finds_out(
    env: FakeClock, topo: topology.Topology
) -> None:
    old = lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=env.time)
    env.t += 121  # Alice's process died: nobody renewed
    state = lock.read(ClientFactory(), topo, time_fn=env.time)
    assert state.stale and state.owner == ALICE
    # Bob watches the lease's record version for its period (on his clock) before.
    new = lock.acquire(ClientFactory(), topo, BOB, ttl=120, time_fn=env.time, clock=env)
    assert new.taken_over is not None and new.taken_over.owner == ALICE
    assert item()["owner_arn"] == {"S": BOB.caller_arn}  # type: ignore[index]
    with pytest.raises(RefusedError, match="lost the lock on arc309"):
        old.renew()
    assert old.release() is False  # must not delete Bob's lock
    assert item() is not None


def test_heartbeat_renews_the_lease_from_a_thread(env: FakeClock, topo: topology.Topology) -> None:
    lease = lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=env.time)
    beats: list[float] = []
    three = threading.Event()

    def wait(stop: threading.Event, seconds: float) -> bool:
        if len(beats) < 3:
            beats.append(seconds)
            env.t += seconds
            return False
        three.set()
        return stop.wait()  # until the block below exits

    with lease.heartbeat(wait=wait):
        assert three.wait(10)
        got = item()
    assert beats == [40.0, 40.0, 40.0]  # ttl / 3
    assert got is not None
    assert float(got["heartbeat_at"]["N"]) == T0 + 120
    assert float(got["expires_at"]["N"]) == T0 + 240
    assert lease.renewals == 3
    lease.ensure_held()  # still ours


def test_heartbeat_notices_a_broken_lock_and_the_run_stops(
    env: FakeClock, topo: topology.Topology
) -> None:
    lease = lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=env.time)
    lock.break_lock(ClientFactory(), topo, time_fn=env.time)
    once = threading.Event()

    def wait(stop: threading.Event, seconds: float) -> bool:
        if once.is_set():
            return stop.wait()
        once.set()
        return False

    with lease.heartbeat(wait=wait):
        for _ in range(1000):
            if lease.lost:
                break
            threading.Event().wait(0.01)
    with pytest.raises(RefusedError, match="broken or taken over"):
        lease.ensure_held()


def test_a_missing_table_says_how_to_create_it(env: FakeClock) -> None:
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName="mr-failover-lock")
    with pytest.raises(AwsCallError) as err:
        lock.read(ClientFactory(), topology.load(CONFIG))
    assert str(err.value).startswith(
        "dynamodb:GetItem in us-east-1 failed: lock table mr-failover-lock not found (create it: "
        "aws dynamodb create-table --region us-east-1 --table-name mr-failover-lock"
    )


# --- CLI ------------------------------------------------------------------------------


def test_lock_status_free_held_stale(env: FakeClock, topo: topology.Topology) -> None:
    result = run("lock", "status")
    assert (result.exit_code, result.output) == (
        0,
        "lock mr-failover-lock (us-east-1) for arc309: free\n",
    )
    lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=env.time)
    env.t += 20
    result = run("lock", "status")
    assert result.output == (
        "lock mr-failover-lock (us-east-1) for arc309: held by "
        "arn:aws:iam::123456789012:user/alice on laptop-a (pid 4242, run run-a, drain) since "
        "2026-01-01T00:00:00Z, last heartbeat 2026-01-01T00:00:00Z; expires in 100s\n"
    )
    env.t += 200
    result = run("lock", "status")
    assert result.exit_code == 0
    assert result.output == (
        "lock mr-failover-lock (us-east-1) for arc309: STALE, held by "
        "arn:aws:iam::123456789012:user/alice on laptop-a (pid 4242, run run-a, drain) since "
        "2026-01-01T00:00:00Z, last heartbeat 2026-01-01T00:00:00Z; expired 100s ago "
        "(crashed run?): the next mutation takes it over\n"
    )
    data = json.loads(run("--output", "json", "lock", "status").output)
    assert data["state"] == "stale"
    assert data["owner"]["run_id"] == "run-a"
    assert data["expires_in_seconds"] == -100.0


def test_lock_break_needs_a_reason_and_journals_it(env: FakeClock, topo: topology.Topology) -> None:
    lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=env.time)
    result = run("lock", "break")
    assert result.exit_code == 2
    assert "Missing option '--reason'" in result.output

    result = run("lock", "break", "--reason", "alice's laptop died mid-drain", input="n\n")
    assert result.exit_code == 1  # declined: nothing broken
    assert item() is not None

    result = run("lock", "break", "--reason", "alice's laptop died mid-drain", "--yes")
    assert result.exit_code == 0, result.output
    assert item() is None
    (run_record,) = journal.list_runs()
    assert result.output.endswith(f"lock broken (journal run {run_record.run_id})\n")
    assert run_record.command == "lock break"
    assert run_record.params == {"reason": "alice's laptop died mid-drain"}
    notes = [
        json.loads(line)
        for line in (journal.runs_dir() / f"{run_record.run_id}.jsonl").read_text().splitlines()
    ]
    (note,) = [n for n in notes if n["type"] == "note"]
    assert note["reason"] == "alice's laptop died mid-drain"
    assert note["broken"]["owner"]["caller_arn"] == ALICE.caller_arn

    result = run("lock", "break", "--reason", "again", "--yes")
    assert result.output == "lock mr-failover-lock (us-east-1) for arc309: free; nothing to break\n"
