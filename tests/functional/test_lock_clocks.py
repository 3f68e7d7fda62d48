"""The lease lock does not trust clocks (moto in-process; conditional writes enforced).

Staleness is judged as the Amazon DynamoDB Lock Client judges it: the record version
(``rvn``), renewed by each heartbeat, must stay the same for the lease period measured
on the observer's own monotonic clock. An operator whose clock runs 300 s ahead sees a
live lease as expired, watches it, sees the heartbeat, and is refused; one whose clock
runs behind refuses at once. A holder whose pid is dead on this very host needs no
watch, and ``lock status`` says so.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from mr_failover import topology
from mr_failover.aws import ClientFactory
from mr_failover.cli import cli
from mr_failover.commands import _mutation
from mr_failover.engine import lock
from mr_failover.errors import RefusedError
from tests.clocks import FakeClock

CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "regions.yaml")
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ARN = "arn:aws:iam::123456789012:user/"
ALICE = lock.Owner(ARN + "alice", "laptop-a", 4242, "run-a", "drain")
BOB = lock.Owner(ARN + "bob", "laptop-b", 777, "run-b", "promote")


class Skewed(FakeClock):
    """An operator's clock: wall time ``skew`` seconds off; each sleep runs ``meanwhile``."""

    def __init__(self, skew: float, meanwhile: Callable[[float], None] | None = None) -> None:
        super().__init__(0.0)
        self.skew = skew
        self.meanwhile = meanwhile
        self.base = T0

    def time(self) -> float:
        return self.base + self.t + self.skew

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.meanwhile is not None:
            self.meanwhile(seconds)


@pytest.fixture
def topo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[topology.Topology]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path / "state"))
    with mock_aws():
        loaded = topology.load(CONFIG)
        lock.create_table(ClientFactory(), loaded)
        yield loaded


def item() -> dict[str, Any]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    out = ddb.get_item(TableName="mr-failover-lock", Key={"application": {"S": "arc309"}})
    return dict(out["Item"])


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("skew", [300.0, -300.0, 600.0, -600.0])
def test_a_skewed_clock_never_takes_a_live_lease(topo: topology.Topology, skew: float) -> None:
    alice_clock = Skewed(0.0)
    alice = lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=alice_clock.time)
    heard: list[str] = []

    def alice_keeps_beating(seconds: float) -> None:
        # Real time passes for both: Alice's heartbeat renews every ttl/3.
        alice_clock.t += seconds
        if alice_clock.t >= 40 * (alice.renewals + 1):
            alice.renew()

    bob_clock = Skewed(skew, alice_keeps_beating)
    with pytest.raises(RefusedError) as err:
        lock.acquire(
            ClientFactory(),
            topo,
            BOB,
            ttl=120,
            time_fn=bob_clock.time,
            clock=bob_clock,
            on_wait=heard.append,
        )
    assert err.value.exit_code == 3
    assert item()["token"] == {"S": alice.token}  # Alice still holds it
    alice.ensure_held()
    if skew > 120:  # the lease looks expired to Bob: he watched, and saw the heartbeat
        assert "looks expired by this machine's clock" in heard[0]
        assert "its holder renewed it while we watched (the clocks disagree)" in str(err.value)
        assert 40 <= bob_clock.slept <= 60  # until the first renewal, not the whole period
    else:  # it looks live: refused at once
        assert heard == [] and bob_clock.slept == 0
        assert "another operation is running on arc309: lock held by" in str(err.value)


def test_a_lease_whose_version_stays_the_same_for_its_period_is_taken_over(
    topo: topology.Topology,
) -> None:
    alice = lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=Skewed(0.0).time)
    seen = item()["rvn"]["S"]
    bob_clock = Skewed(300.0)  # ahead, and Alice is dead: nobody renews
    heard: list[str] = []
    bob = lock.acquire(
        ClientFactory(),
        topo,
        BOB,
        ttl=120,
        time_fn=bob_clock.time,
        clock=bob_clock,
        on_wait=heard.append,
    )
    assert 120 <= bob_clock.slept < 121  # the whole lease period, on Bob's monotonic clock
    assert heard == [
        "the lease of run run-a (laptop-a, pid 4242) looks expired by this machine's clock; "
        "watching its heartbeat for 120s before taking it over"
    ]
    assert bob.taken_over is not None and bob.taken_over.rvn == seen
    assert item()["owner_arn"] == {"S": BOB.caller_arn}
    with pytest.raises(RefusedError, match="lost the lock on arc309"):
        alice.renew()
    assert alice.release() is False


def test_a_renewal_racing_the_takeover_wins(topo: topology.Topology) -> None:
    # Alice renews after Bob's last read and before his conditional write: Bob's write,
    # conditional on the version he watched, fails and he is refused.
    alice = lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=Skewed(0.0).time)
    bob_clock = Skewed(300.0)
    real_take_over = lock._take_over

    def late_renewal(*args: Any, **kwargs: Any) -> lock.Lease:
        alice.renew()
        return real_take_over(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lock, "_take_over", late_renewal)
        with pytest.raises(RefusedError, match="changed while taking over a stale lease"):
            lock.acquire(
                ClientFactory(), topo, BOB, ttl=120, time_fn=bob_clock.time, clock=bob_clock
            )
    assert item()["token"] == {"S": alice.token}


def test_a_holder_dead_on_this_host_is_shown_and_needs_no_watch(topo: topology.Topology) -> None:
    here, host_id = socket.gethostname(), lock.this_host_id()
    if not host_id:  # pragma: no cover - Linux has /proc
        pytest.fail("this_host_id() is empty: the test needs /proc")
    pid = dead_pid()
    dead = lock.Owner(ARN + "alice", here, pid, "run-a", "drain", host_id)
    lock.acquire(ClientFactory(), topo, dead, ttl=120, time_fn=Skewed(0.0).time)

    status = CliRunner().invoke(cli, ["--config", CONFIG, "--no-color", "lock", "status"])
    assert status.exit_code == 0
    assert status.output.startswith(
        f"lock mr-failover-lock (us-east-1) for arc309: held (holder pid {pid} dead on this "
        f"host) by {ARN}alice on {here} (pid {pid}, run run-a, drain) since "
    )
    assert status.output.endswith(
        ": resume that run (--resume run-a) or break the lock; once its lease expires, the "
        "next mutation takes it over\n"
    )

    # While the lease looks live, another run is refused: a person decides between
    # resuming the dead run (its journal is incomplete) and breaking the lock.
    me = lock.Owner(ARN + "bob", here, 1, "run-b", "promote", host_id)
    fresh = Skewed(0.0)
    with pytest.raises(RefusedError) as err:
        lock.acquire(ClientFactory(), topo, me, ttl=120, time_fn=fresh.time, clock=fresh)
    assert f"its process (pid {pid}) is dead on this host: resume that run (--resume run-a)" in (
        str(err.value)
    )
    # Once it looks expired, the dead pid is proof enough: no watch of the heartbeat.
    later = Skewed(121.0)
    lease = lock.acquire(ClientFactory(), topo, me, ttl=120, time_fn=later.time, clock=later)
    assert later.slept == 0
    assert lease.taken_over is not None and lease.taken_over.holder_dead


def test_the_same_pid_on_another_host_is_not_judged_dead(topo: topology.Topology) -> None:
    # Same host name, another machine (another boot): its pid means nothing here.
    here = socket.gethostname()
    other = lock.Owner(ARN + "alice", here, dead_pid(), "run-a", "drain", "other-boot/1")
    lock.acquire(ClientFactory(), topo, other, ttl=120, time_fn=Skewed(0.0).time)
    me = lock.Owner(ARN + "bob", here, 1, "run-b", "promote", lock.this_host_id())
    with pytest.raises(RefusedError, match="another operation is running"):
        lock.acquire(ClientFactory(), topo, me, ttl=120, time_fn=Skewed(0.0).time)
    assert not lock.read(ClientFactory(), topo, time_fn=Skewed(0.0).time).holder_dead


def test_a_holder_stops_before_a_change_once_two_thirds_of_its_lease_pass(
    topo: topology.Topology,
) -> None:
    lease = lock.acquire(ClientFactory(), topo, ALICE, ttl=0.3, time_fn=time.time)
    lease.ensure_held()
    time.sleep(0.25)  # real time: more than 2/3 of 0.3 s with no renewal
    with pytest.raises(RefusedError, match="its renewals did not succeed in time"):
        lease.ensure_held()
    lease.renew()  # the table still says it is ours; the holder just may not act on it


def test_lock_status_json_says_whether_the_holder_is_dead(topo: topology.Topology) -> None:
    lock.acquire(ClientFactory(), topo, ALICE, ttl=120, time_fn=time.time)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_mutation, "CLOCK", FakeClock(time.time()))
        result = CliRunner().invoke(cli, ["--config", CONFIG, "--output", "json", "lock", "status"])
    assert result.exit_code == 0, result.output
    assert '"holder_dead": false' in result.output
    assert '"state": "held"' in result.output
