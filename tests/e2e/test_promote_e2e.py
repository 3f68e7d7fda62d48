"""``mr-failover promote`` end to end: the CLI against the sandbox over HTTP.

The sandbox simulates what moto lacks: ``SwitchoverGlobalCluster`` / ``FailoverGlobalCluster``
with ``FailoverState`` moving over ``aurora_failover_seconds``, lag metrics, outages.
The example topology has an ElastiCache global datastore too, so a promotion is two
steps: the Aurora move, then ``elasticache:FailoverGlobalReplicationGroup`` (the cache
follows the database). In-process runs get a clock whose ``sleep`` advances the sandbox
clock instead of sleeping, so the CLI's waits cost no real time; the kill-and-resume test
runs the installed entry point as a child process and kills it for real.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mr_failover.sandbox.client import SandboxClient
from mr_failover.topology import Topology
from tests.e2e.conftest import E2E_SETTINGS, SandboxAdvancingClock

EAST, WEST = "us-east-1", "us-west-2"
GLOBAL = "arc309-global"
CACHE = "arc309-cache"


@pytest.fixture
def seeded(e2e_topology: Topology, e2e_env: dict[str, str], control: SandboxClient) -> Topology:
    # One round of lag metrics, so that the plan has a datapoint to judge.
    control.advance(1.1)
    return e2e_topology


def writer_region(aws: Any) -> str:
    gc = aws("rds", WEST).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)
    (g,) = gc["GlobalClusters"]
    writers = [m["DBClusterArn"].split(":")[3] for m in g["GlobalClusterMembers"] if m["IsWriter"]]
    assert len(writers) == 1
    return writers[0]


def cache_primary(aws: Any) -> str:
    """The region of the ElastiCache global datastore's PRIMARY member (asked of WEST)."""
    (g,) = aws("elasticache", WEST).describe_global_replication_groups(ShowMemberInfo=True)[
        "GlobalReplicationGroups"
    ]
    assert g["GlobalReplicationGroupId"].endswith(CACHE)
    primaries = [m["ReplicationGroupRegion"] for m in g["Members"] if m["Role"] == "PRIMARY"]
    assert len(primaries) == 1
    return str(primaries[0])


def mutating(control: SandboxClient, since: int) -> list[str]:
    """Mutating AWS calls after the first ``since`` ones, as ``region service:Action``."""
    return [
        f"{c['region']} {c['service']}:{c['action']}" for c in control.calls(mutating=True)[since:]
    ]


def test_switchover_moves_the_writer_and_prints_its_endpoint(
    seeded: Topology, run_cli: Any, control: SandboxClient, aws: Any, clock: SandboxAdvancingClock
) -> None:
    assert (writer_region(aws), cache_primary(aws)) == (EAST, EAST)
    before = len(control.calls(mutating=True))
    result = run_cli("promote", "--region", WEST, "--yes")
    assert result.exit_code == 0, result.output
    assert (writer_region(aws), cache_primary(aws)) == (WEST, WEST)
    # The lock around it, one switchover sent to the TARGET region's endpoint, and only
    # then (the cache follows the database) one datastore failover, also sent to the target.
    assert mutating(control, before) == [
        "us-east-1 dynamodb:PutItem",
        "us-east-1 rds:SwitchoverGlobalCluster",  # the primary's region (aurora-move-region)
        "us-west-2 elasticache:FailoverGlobalReplicationGroup",
        "us-east-1 dynamodb:DeleteItem",
    ]
    # The datastore failover was sent after the Aurora move had ended, not beside it.
    (switch,) = control.calls(action="SwitchoverGlobalCluster")
    (cache_move,) = control.calls(action="FailoverGlobalReplicationGroup")
    assert cache_move["time"] - switch["time"] >= E2E_SETTINGS.aurora_failover_seconds
    assert clock.sleeps, "the run waited for FailoverState to go away"
    assert "[1/2] switch over arc309-global to arc309-usw2 (us-west-2): applied" in result.stderr
    assert (
        "[2/2] promote ElastiCache arc309-cache-usw2 (us-west-2) to primary of global datastore"
        in " ".join(result.stderr.split())  # progress lines wrap at spaces at 80 columns
    )
    assert "run " in result.stdout and "succeeded: 2 applied, 0 already in place" in result.stdout
    endpoint = aws("rds", WEST).describe_db_clusters(DBClusterIdentifier="arc309-usw2")[
        "DBClusters"
    ][0]["Endpoint"]
    said = " ".join(result.stdout.split())  # wrapped at spaces: the endpoint is never cut
    assert f"writer: arc309-usw2 in us-west-2 (available), endpoint {endpoint}" in said
    assert endpoint in result.stdout.split()
    assert "parameter groups and alarms are not inherited" in said

    # Promoting the writer again: nothing to do, exit 0, no change.
    before = len(control.calls(mutating=True))
    again = run_cli("promote", "--region", WEST, "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to do: arc309-usw2 (us-west-2) is already the writer of arc309-global" in (
        again.stdout
    )
    assert mutating(control, before) == []

    # And back: the plan's undo.
    before = len(control.calls(mutating=True))
    back = run_cli("promote", "--region", EAST, "--yes")
    assert back.exit_code == 0, back.output
    assert (writer_region(aws), cache_primary(aws)) == (EAST, EAST)
    assert mutating(control, before) == [
        "us-east-1 dynamodb:PutItem",
        "us-west-2 rds:SwitchoverGlobalCluster",  # the primary's region (aurora-move-region)
        "us-east-1 elasticache:FailoverGlobalReplicationGroup",
        "us-east-1 dynamodb:DeleteItem",
    ]


def test_a_cache_left_behind_by_a_database_move_is_promoted_alone(
    seeded: Topology, run_cli: Any, control: SandboxClient, aws: Any, clock: SandboxAdvancingClock
) -> None:
    # The database moved (by hand, or a run stopped in between); its cache did not.
    target = aws("rds", WEST).describe_db_clusters(DBClusterIdentifier="arc309-usw2")["DBClusters"][
        0
    ]
    aws("rds", EAST).switchover_global_cluster(
        GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=target["DBClusterArn"]
    )
    clock.sleep(E2E_SETTINGS.aurora_failover_seconds + 1)
    assert (writer_region(aws), cache_primary(aws)) == (WEST, EAST)
    before = len(control.calls(mutating=True))
    result = run_cli("promote", "--region", WEST, "--yes")
    assert result.exit_code == 0, result.output
    assert "nothing to do" not in result.output
    assert (writer_region(aws), cache_primary(aws)) == (WEST, WEST)
    assert mutating(control, before) == [
        "us-east-1 dynamodb:PutItem",
        "us-west-2 elasticache:FailoverGlobalReplicationGroup",
        "us-east-1 dynamodb:DeleteItem",
    ]
    assert "succeeded: 1 applied, 1 already in place" in result.stdout
    # Both in place now: a second run has nothing to do.
    again = run_cli("promote", "--region", WEST, "--yes")
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_dry_run_makes_no_mutating_call(
    seeded: Topology, run_cli: Any, control: SandboxClient, aws: Any
) -> None:
    before = len(control.calls(mutating=True))
    result = run_cli("promote", "--region", WEST, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "rds:SwitchoverGlobalCluster" in result.stdout
    assert "undo: mr-failover promote --region us-east-1 --mode switchover" in result.stdout
    assert "dry run: no change made" in result.stdout
    assert control.calls(mutating=True)[before:] == []
    assert len(control.calls(action="DescribeGlobalClusters")) >= 1  # it did read
    assert writer_region(aws) == EAST


def test_lag_above_the_rpo_refuses_a_failover_but_not_a_switchover(
    seeded: Topology, run_cli: Any, control: SandboxClient, aws: Any, clock: SandboxAdvancingClock
) -> None:
    """rules: aurora-failover-rpo, aurora-switchover-rpo-zero (the old tool refused the
    switchover for its lag and never judged the failover against the RPO)."""
    rpo = seeded.policy.rpo_seconds
    control.settings(aurora_replication_lag_ms=(rpo + 30) * 1000.0)
    control.advance(1.1)  # the lag metric is published with the new value
    control.fail_region(EAST, service="rds")
    before = len(control.calls(mutating=True))
    refused = run_cli("promote", "--region", WEST, "--allow-data-loss", "--yes")
    assert refused.exit_code == 3, refused.output
    assert "a failover to us-west-2 would break the RPO: replication lag into us-west-2 is" in (
        refused.stderr
    )
    assert f"above the RPO of {rpo} s" in refused.stderr
    assert "--beyond-rpo" in refused.stderr
    assert "Traceback" not in refused.output
    assert mutating(control, before) == []  # refused at planning: nothing changed
    control.heal_region(EAST)

    allowed = run_cli("promote", "--region", WEST, "--yes")  # a switchover loses nothing
    assert allowed.exit_code == 0, allowed.output
    assert writer_region(aws) == WEST
    assert [c["action"] for c in control.calls(service="rds", mutating=True)[-1:]] == [
        "SwitchoverGlobalCluster"
    ]


def test_failover_while_the_writer_region_is_down(
    seeded: Topology, run_cli: Any, control: SandboxClient, aws: Any, clock: SandboxAdvancingClock
) -> None:
    control.fail_region(EAST, service="rds")
    before = len(control.calls(mutating=True))

    switchover = run_cli("promote", "--region", WEST, "--mode", "switchover", "--yes")
    assert switchover.exit_code == 3, switchover.output
    assert "a switchover needs every region, but the writer's region us-east-1 does not answer" in (
        switchover.stderr
    )
    # The default mode is then a failover, which still needs --allow-data-loss, and says
    # what the lag means in lost writes.
    default = run_cli("promote", "--region", WEST, "--yes")
    assert default.exit_code == 3, default.output
    assert re.search(
        r"a failover to us-west-2 loses the writes us-east-1 had not replicated: measured "
        r"lag \d+\.\d\d s \(AuroraGlobalDBRPOLag\); no write rate is published",
        default.stderr,
    ), default.stderr
    assert mutating(control, before) == []

    result = run_cli("promote", "--region", WEST, "--allow-data-loss", "--yes", "--verbose")
    assert result.exit_code == 0, result.output
    assert "rds:FailoverGlobalCluster" in result.stdout
    assert "AllowDataLoss: True" in result.stdout
    assert mutating(control, before) == [
        "us-east-1 dynamodb:PutItem",
        "us-west-2 rds:FailoverGlobalCluster",
        # The cache's secondary is promoted too, although the primary's region is down: the
        # ElastiCache guide documents it (issue 15 item 10; it used to be skipped).
        "us-west-2 elasticache:FailoverGlobalReplicationGroup",
        "us-east-1 dynamodb:DeleteItem",
    ]
    assert writer_region(aws) == WEST
    g = aws("rds", WEST).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)
    sync = {
        m["DBClusterArn"].split(":")[3]: m["SynchronizationStatus"]
        for m in g["GlobalClusters"][0]["GlobalClusterMembers"]
    }
    assert sync == {EAST: "pending-resync", WEST: "connected"}


@pytest.fixture
def slow_move(control: SandboxClient) -> Iterator[None]:
    # Long enough that the killed run's move is still under way when the resume starts.
    control.settings(aurora_failover_seconds=600.0)
    yield


def test_a_killed_run_is_resumed_without_repeating_the_switchover(
    seeded: Topology,
    slow_move: None,
    run_cli: Any,
    run_cli_subprocess: Any,
    control: SandboxClient,
    aws: Any,
    e2e_env: dict[str, str],
    clock: SandboxAdvancingClock,
) -> None:
    child = run_cli_subprocess.popen("promote", "--region", WEST, "--yes")
    deadline = time.monotonic() + 30
    while not control.calls(action="SwitchoverGlobalCluster"):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the switchover was never sent"
        time.sleep(0.05)  # another process: nothing to inject
    child.send_signal(signal.SIGKILL)  # dies in its wait, with the lock held
    child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    (journal_file,) = (Path(e2e_env["MR_FAILOVER_STATE_DIR"]) / "runs").glob("*.jsonl")
    run_id = journal_file.stem
    history = run_cli("history")
    assert "incomplete" in history.stdout

    status = aws("rds", WEST).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)
    assert status["GlobalClusters"][0]["FailoverState"]["Status"] in ("pending", "switching-over")

    # The dead run's lease would refuse the resume until it expires: break it, as an
    # operator would after checking the run is dead.
    broke = run_cli("lock", "break", "--reason", "promote run killed in a test", "--yes")
    assert broke.exit_code == 0, broke.output

    # The killed run never reached the cache step: it waits for the Aurora move it had
    # started (not sent again), then fails the datastore over, once.
    assert control.calls(action="FailoverGlobalReplicationGroup") == []
    before = len(control.calls(mutating=True))
    resumed = run_cli("promote", "--resume", run_id, "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert "already under way" in resumed.stdout
    assert f"run {run_id} succeeded: 1 applied, 1 already in place" in resumed.stdout
    assert mutating(control, before) == [
        "us-east-1 dynamodb:PutItem",
        "us-west-2 elasticache:FailoverGlobalReplicationGroup",
        "us-east-1 dynamodb:DeleteItem",
    ]
    assert len(control.calls(action="SwitchoverGlobalCluster")) == 1
    assert (writer_region(aws), cache_primary(aws)) == (WEST, WEST)
    assert sum(clock.sleeps) >= 500  # it waited through the move, on the sandbox clock
