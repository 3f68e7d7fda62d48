"""The lock's takeover rules for a resumed run, against the sandbox's DynamoDB.

A live lease is taken over only by the same run id (a resume), never while that run's
process is alive on this host; the replaced attempt finds out at its next renewal.
"""

from __future__ import annotations

import pytest

from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.engine import lock
from mr_failover.errors import RefusedError
from mr_failover.sandbox.core import Sandbox
from mr_failover.topology import Topology

RUN = "20261127T090000Z-0a0b0c"
ARN = "arn:aws:iam::123456789012:user/carol"


@pytest.fixture
def lock_factory(e2e_sandbox: Sandbox, e2e_env: dict[str, str]) -> ClientFactory:
    return ClientFactory(
        None, endpoint_url=e2e_sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
    )


def owner(host: str, pid: int, run_id: str = RUN) -> lock.Owner:
    return lock.Owner(ARN, host, pid, run_id, "health-check invert")


def test_a_dead_attempt_of_the_same_run_is_taken_over(
    lock_factory: ClientFactory, e2e_topology: Topology
) -> None:
    first = lock.acquire(lock_factory, e2e_topology, owner("ops-1", 100))
    second = lock.acquire(
        lock_factory, e2e_topology, owner("ops-1", 200), alive=lambda pid: pid != 100
    )
    assert second.taken_over is not None and second.taken_over.owner is not None
    assert (second.taken_over.owner.pid, second.taken_over.stale) == (100, False)
    state = lock.read(lock_factory, e2e_topology)
    assert state.owner is not None and (state.owner.pid, state.token) == (200, second.token)
    with pytest.raises(RefusedError, match="lost the lock"):
        first.renew()  # the replaced attempt, were it alive, stops at its next renewal
    assert not first.release() and second.release()


def test_the_same_run_still_alive_on_this_host_is_refused(
    lock_factory: ClientFactory, e2e_topology: Topology
) -> None:
    first = lock.acquire(lock_factory, e2e_topology, owner("ops-1", 100))
    with pytest.raises(RefusedError, match="still running as pid 100 on ops-1"):
        lock.acquire(lock_factory, e2e_topology, owner("ops-1", 200), alive=lambda pid: True)
    assert first.release()


def test_the_same_run_on_another_host_is_taken_over(
    lock_factory: ClientFactory, e2e_topology: Topology
) -> None:
    # Its pid means nothing here; if it lives, its heartbeat finds the lease gone.
    lock.acquire(lock_factory, e2e_topology, owner("ops-1", 100))
    second = lock.acquire(lock_factory, e2e_topology, owner("ops-2", 100), alive=lambda pid: True)
    assert second.taken_over is not None and second.release()


def test_another_run_is_refused_even_when_its_process_is_dead(
    lock_factory: ClientFactory, e2e_topology: Topology
) -> None:
    first = lock.acquire(lock_factory, e2e_topology, owner("ops-1", 100))
    other = owner("ops-1", 200, run_id="20261127T090500Z-ffffff")
    with pytest.raises(RefusedError, match="another operation is running"):
        lock.acquire(lock_factory, e2e_topology, other, alive=lambda pid: False)
    assert first.release()


def test_pid_alive() -> None:
    import os

    assert lock.pid_alive(os.getpid())
    assert not lock.pid_alive(0)
