"""A full outage of the primary region: promote still works end to end.

us-east-1 is down for every service (STS, DynamoDB, RDS, Route 53's control plane, ...).
The topology names a lock fallback region (the lock table is a global table with a
replica in us-west-2). ``promote --region us-west-2 --mode failover --allow-data-loss``
must check the account through us-west-2's STS, take the lock in us-west-2, send
FailoverGlobalCluster to us-west-2 and see IsWriter move; without --allow-data-loss it
is refused (exit 3) before any change. The CLI's waits advance the sandbox clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.seed import seed
from mr_failover.topology import LockLocation, Topology
from tests.e2e.conftest import EXAMPLE, SandboxAdvancingClock, _dummy_credentials
from tests.e2e.test_promote_e2e import writer_region

EAST, WEST = "us-east-1", "us-west-2"
LOCK_TABLE = "mr-failover-lock"


@pytest.fixture
def e2e_topology(e2e_sandbox: Sandbox, control: SandboxClient) -> Topology:
    """The example topology with ``lock.fallback_regions: [us-west-2]``, seeded.

    Overrides conftest's fixture of the same name, so e2e_topology_file, e2e_env and
    run_cli use this topology.
    """
    base = topo.load(EXAMPLE)
    assert base.lock is not None
    lock = LockLocation(table=base.lock.table, region=EAST, fallback_regions=[WEST])
    factory = ClientFactory(
        None, endpoint_url=e2e_sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
    )
    with pytest.MonkeyPatch.context() as mp:
        _dummy_credentials(mp)
        seeded = seed(base.model_copy(update={"lock": lock}), factory)
    control.advance(1.1)  # one round of lag metrics, so the plan has a datapoint
    return seeded


def answered(control: SandboxClient, since: int, **match: Any) -> list[str]:
    """Calls after the first ``since`` that got an HTTP answer, as ``region service:Action``."""
    return [
        f"{c['region']} {c['service']}:{c['action']}"
        for c in control.calls(**match)[since:]
        if 200 <= int(c["status"]) < 300
    ]


def test_promote_fails_over_while_the_primary_region_is_fully_down(
    e2e_topology: Topology,
    e2e_env: dict[str, str],
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    clock: SandboxAdvancingClock,
) -> None:
    assert writer_region(aws) == EAST
    # The seeder made the lock table a global table with a replica in the fallback region.
    replicas = aws("dynamodb", EAST).describe_table(TableName=LOCK_TABLE)["Table"]["Replicas"]
    assert WEST in {r["RegionName"] for r in replicas if r["ReplicaStatus"] == "ACTIVE"}
    control.fail_region(EAST)  # every service of the region: connections dropped
    before = len(control.calls())

    refused = run_cli("promote", "--region", WEST, "--mode", "failover", "--yes")
    assert refused.exit_code == 3, refused.output
    assert "a failover to us-west-2 loses the writes us-east-1 had not replicated" in (
        refused.stderr
    )
    assert "--allow-data-loss" in refused.stderr
    assert "Traceback" not in refused.output
    assert answered(control, before, mutating=True) == []
    assert writer_region(aws) == EAST

    before_mut = len(control.calls(mutating=True))
    before_all = len(control.calls())
    result = run_cli(
        "promote", "--region", WEST, "--mode", "failover", "--allow-data-loss", "--yes"
    )
    assert result.exit_code == 0, result.output
    # Account check: us-west-2's STS answered (the target region is asked first).
    assert f"{WEST} sts:GetCallerIdentity" in answered(control, before_all)
    # The lock in the fallback region, the failover sent to the target's endpoint.
    assert answered(control, before_mut, mutating=True) == [
        f"{WEST} dynamodb:PutItem",
        f"{WEST} rds:FailoverGlobalCluster",
        # The cache's secondary is promoted too, although the primary's region is down: the
        # ElastiCache guide documents it (issue 15 item 10; it used to be skipped).
        f"{WEST} elasticache:FailoverGlobalReplicationGroup",
        f"{WEST} dynamodb:DeleteItem",
    ]
    assert writer_region(aws) == WEST
    # Route 53's API (us-east-1) could not be read: said in the plan, not a refusal.
    said = " ".join(result.stdout.split())  # notes wrap at spaces at 80 columns
    assert "not verified: Route 53 API in us-east-1 unreachable" in said
    assert f"lock taken in {WEST}: {EAST} did not answer" in result.stderr
    assert "writer: arc309-usw2 in us-west-2" in result.stdout

    (journal_file,) = [
        f
        for f in (Path(e2e_env["MR_FAILOVER_STATE_DIR"]) / "runs").glob("*.jsonl")
        if '"allow_data_loss": true' in f.read_text()
    ]
    notes = [json.loads(line) for line in journal_file.read_text().splitlines()]
    (lock_note,) = [n for n in notes if n.get("kind") == "lock"]
    assert lock_note["region"] == WEST
    assert EAST in lock_note["not_answering"]
    assert notes[-1]["type"] == "end" and notes[-1]["outcome"] == "succeeded"


def test_lock_status_reads_every_lock_region_during_the_outage(
    e2e_topology: Topology, run_cli: Any, control: SandboxClient
) -> None:
    control.fail_region(EAST, service="dynamodb")
    result = run_cli("lock", "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"lock {LOCK_TABLE} ({WEST}) for arc309: free"
    assert lines[1].startswith(f"lock {LOCK_TABLE} ({EAST}): no answer (")
    data = json.loads(run_cli("--output", "json", "lock", "status").stdout)
    assert data["region"] == WEST and data["state"] == "free"
    assert list(data["unreachable"]) == [EAST]
    assert data["conflict"] is False
