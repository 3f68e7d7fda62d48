"""The lock with fallback regions (moto in-process, conditional writes enforced).

moto keeps each region's table apart (it does not replicate global tables), which is
exactly the split-brain case: two regions holding different leases. A region "down" is
a client whose every request fails to connect before it is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from mr_failover import topology
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.cli import cli
from mr_failover.commands import _mutation
from mr_failover.engine import lock
from mr_failover.errors import RefusedError, RegionUnreachableError
from mr_failover.topology import LockLocation, Topology
from tests.clocks import FakeClock

CONFIG = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
EAST, WEST = "us-east-1", "us-west-2"
TABLE = "mr-failover-lock"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ALICE = lock.Owner("arn:aws:iam::123456789012:user/alice", "laptop-a", 4242, "run-a", "promote")


class RegionsDown(ClientFactory):
    """A factory whose clients for ``down`` regions never reach AWS (connection refused)."""

    def __init__(self, down: set[str]) -> None:
        super().__init__()
        self.down = down

    def with_timeouts(self, timeouts: Timeouts) -> ClientFactory:
        return self

    def client(self, service: str, region: str) -> Any:
        client = super().client(service, region)
        if region in self.down and not getattr(client, "_outage", False):

            def refuse(**_: Any) -> None:
                raise botocore.exceptions.EndpointConnectionError(endpoint_url=region)

            # First, ahead of moto's own before-send hook, so nothing is answered.
            client.meta.events.register_first("before-send", refuse)
            client._outage = True
        return client


def with_fallback(base: Topology) -> Topology:
    assert base.lock is not None
    loc = LockLocation(table=base.lock.table, region=EAST, fallback_regions=[WEST])
    return base.model_copy(update={"lock": loc})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[FakeClock, Path]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path / "state"))
    clock = FakeClock(T0)
    monkeypatch.setattr(_mutation, "CLOCK", clock)
    config = tmp_path / "regions.yaml"
    config.write_text(topology.dump(with_fallback(topology.load(CONFIG))))
    with mock_aws():
        for region in (EAST, WEST):  # two separate tables: no replication in moto
            boto3.client("dynamodb", region_name=region).create_table(
                TableName=TABLE,
                AttributeDefinitions=[{"AttributeName": "application", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "application", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield clock, config


@pytest.fixture
def topo(env: tuple[FakeClock, Path]) -> Topology:
    return topology.load(env[1])


def item(region: str) -> dict[str, Any] | None:
    out = boto3.client("dynamodb", region_name=region).get_item(
        TableName=TABLE, Key={"application": {"S": "arc309"}}
    )
    return out.get("Item")


def plant(region: str, *, token: str, taken_in: str, run_id: str, expires_at: float) -> None:
    """A lease as another operator's run (or replication) would have left it."""
    boto3.client("dynamodb", region_name=region).put_item(
        TableName=TABLE,
        Item={
            "application": {"S": "arc309"},
            "owner_arn": {"S": "arn:aws:iam::123456789012:user/bob"},
            "host": {"S": "laptop-b"},
            "pid": {"N": "777"},
            "run_id": {"S": run_id},
            "command": {"S": "promote"},
            "acquired_at": {"N": f"{T0:.3f}"},
            "heartbeat_at": {"N": f"{T0:.3f}"},
            "expires_at": {"N": f"{expires_at:.3f}"},
            "token": {"S": token},
            "lock_region": {"S": taken_in},
        },
    )


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--no-color", *args])


def test_the_lock_is_taken_in_the_first_region_and_records_it(
    env: tuple[FakeClock, Path], topo: Topology
) -> None:
    clock, _ = env
    lease = lock.acquire(ClientFactory(), topo, ALICE, time_fn=clock.time)
    assert (lease.region, lease.skipped) == (EAST, ())
    east = item(EAST)
    assert east is not None and east["lock_region"] == {"S": EAST}
    assert item(WEST) is None  # moto does not replicate; the fallback is not written
    assert lease.release()
    assert item(EAST) is None


def test_when_the_lock_region_is_down_the_fallback_holds_the_lease(
    env: tuple[FakeClock, Path], topo: Topology
) -> None:
    clock, _ = env
    factory = RegionsDown({EAST})
    lease = lock.acquire(factory, topo, ALICE, time_fn=clock.time)
    assert lease.region == WEST
    ((region, why),) = lease.skipped
    assert region == EAST and "no answer" in why
    west = item(WEST)
    assert west is not None and west["lock_region"] == {"S": WEST}
    assert item(EAST) is None
    # Renewal and release go to the region holding the lease.
    clock.t += 30
    lease.renew()
    renewed = item(WEST)
    assert renewed is not None and float(renewed["expires_at"]["N"]) == T0 + 30 + lock.DEFAULT_TTL
    state = lock.read(factory, topo, time_fn=clock.time)
    assert (state.region, state.lease_region, state.held) == (WEST, WEST, True)
    assert lease.release()
    assert item(WEST) is None


def test_no_lock_region_answering_names_each(env: tuple[FakeClock, Path], topo: Topology) -> None:
    clock, _ = env
    with pytest.raises(RegionUnreachableError) as err:
        lock.acquire(RegionsDown({EAST, WEST}), topo, ALICE, time_fn=clock.time)
    text = str(err.value)
    assert text.startswith("dynamodb:PutItem in us-east-1, us-west-2 failed: no lock region ")
    assert "us-east-1: no answer" in text and "us-west-2: no answer" in text


def test_a_live_lease_taken_in_a_later_region_makes_the_acquirer_back_off(
    env: tuple[FakeClock, Path], topo: Topology
) -> None:
    # Bob saw us-east-1 down and took the lock in us-west-2; not replicated yet.
    clock, _ = env
    plant(WEST, token="bob", taken_in=WEST, run_id="run-b", expires_at=T0 + 120)
    with pytest.raises(RefusedError) as err:
        lock.acquire(ClientFactory(), topo, ALICE, time_fn=clock.time)
    text = str(err.value)
    assert "its lease is in us-west-2 (taken in us-west-2), held by " in text
    assert "released the lease just taken in us-east-1" in text
    assert item(EAST) is None  # Alice's lease is gone again
    west = item(WEST)
    assert west is not None and west["token"] == {"S": "bob"}


def test_a_replica_of_a_lease_from_the_same_region_is_not_a_conflict(
    env: tuple[FakeClock, Path], topo: Topology
) -> None:
    # A lease taken (and since released) in us-east-1 whose deletion has not reached the
    # replica yet: the conditional write in us-east-1 already superseded it.
    clock, _ = env
    plant(WEST, token="old", taken_in=EAST, run_id="run-old", expires_at=T0 + 60)
    lease = lock.acquire(ClientFactory(), topo, ALICE, time_fn=clock.time)
    assert lease.region == EAST


def test_lock_status_reads_every_region_and_flags_two_live_leases(
    env: tuple[FakeClock, Path], topo: Topology
) -> None:
    clock, config = env
    result = run(config, "lock", "status")
    assert (result.exit_code, result.output) == (
        0,
        f"lock {TABLE} ({EAST}) for arc309: free\nlock {TABLE} ({WEST}) for arc309: free\n",
    )
    lock.acquire(ClientFactory(), topo, ALICE, time_fn=clock.time)
    plant(WEST, token="bob", taken_in=WEST, run_id="run-b", expires_at=T0 + 120)
    result = run(config, "lock", "status")
    assert result.exit_code == 4, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"lock {TABLE} ({EAST}) for arc309: held by {ALICE.caller_arn}")
    assert lines[1].startswith(f"lock {TABLE} ({WEST}) for arc309: held by ")
    assert "run run-b" in lines[1]
    assert lines[2] == (
        "Error: CONFLICT: different live leases in more than one lock region (us-east-1: run "
        "run-a (taken in us-east-1); us-west-2: run run-b (taken in us-west-2)): two "
        "operators may both be mutating; stop one of them, then `mr-failover lock break "
        "--reason TEXT` its lease"
    )
    data = json.loads(run(config, "--output", "json", "lock", "status").stdout)
    assert data["conflict"] is True
    assert [r["region"] for r in data["regions"]] == [EAST, WEST]
    assert [r["lease_region"] for r in data["regions"]] == [EAST, WEST]

    broke = run(config, "lock", "break", "--reason", "two leases after an outage", "--yes")
    assert broke.exit_code == 0, broke.output
    assert item(EAST) is None and item(WEST) is None
