"""End to end: split brain seen by ``status`` after a hand-made detach, and ``fence``.

The test detaches us-west-2's cluster from the global database itself (RemoveFromGlobalCluster
sent to us-west-2, as an operator would), which leaves a standalone, writable cluster: a
split brain. ``fence`` then stops it, or renames it and rejoins the region as a new
secondary; a fence killed between steps and resumed repeats no mutation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient
from mr_failover.topology import Topology

EAST, WEST = "us-east-1", "us-west-2"
GLOBAL = "arc309-global"


def cluster(aws: Any, region: str, cluster_id: str) -> dict[str, Any]:
    (found,) = aws("rds", region).describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    return dict(found)


def members(aws: Any) -> dict[str, dict[str, Any]]:
    (g,) = aws("rds", EAST).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)[
        "GlobalClusters"
    ]
    return {m["DBClusterArn"]: m for m in g["GlobalClusterMembers"]}


@pytest.fixture
def west_id(e2e_topology: Topology) -> str:
    spec = e2e_topology.regions[WEST].aurora
    assert spec is not None
    return spec.cluster


@pytest.fixture
def detached(aws: Any, e2e_env: dict[str, str], west_id: str) -> str:
    """us-west-2's cluster detached by hand; returns its identifier."""
    arn = cluster(aws, WEST, west_id)["DBClusterArn"]
    aws("rds", WEST).remove_from_global_cluster(
        GlobalClusterIdentifier=GLOBAL, DbClusterIdentifier=arn
    )
    return west_id


def status_json(run_cli: Any) -> tuple[int, dict[str, Any]]:
    result = run_cli("--output", "json", "status")
    return result.exit_code, json.loads(result.stdout)


def mutations(control: SandboxClient, mark: int) -> list[str]:
    return [c["action"] for c in control.calls()[mark:] if c["mutating"] and c["service"] == "rds"]


def test_status_flags_a_hand_made_detach_as_split_brain(
    e2e_env: dict[str, str], run_cli: Any, aws: Any, west_id: str
) -> None:
    _, before = status_json(run_cli)
    assert before["split_brain"] == []
    arn = cluster(aws, WEST, west_id)["DBClusterArn"]
    aws("rds", WEST).remove_from_global_cluster(
        GlobalClusterIdentifier=GLOBAL, DbClusterIdentifier=arn
    )
    # What the detach leaves: standalone (no GlobalClusterIdentifier), available, writable.
    found = cluster(aws, WEST, west_id)
    assert found["Status"] == "available" and not found.get("GlobalClusterIdentifier")

    code, after = status_json(run_cli)
    assert code == 4
    assert after["split_brain"] == [WEST]
    west, east = (next(r for r in after["regions"] if r["name"] == n) for n in (WEST, EAST))
    assert west["split_brain"] is True and east["split_brain"] is False
    assert west["can_take_over"] is False
    (reason,) = [r for r in west["reasons"] if "SPLIT BRAIN" in r]
    assert "mr-failover fence --region us-west-2" in reason
    table = run_cli("status")
    assert table.exit_code == 4
    assert "SPLIT BRAIN in us-west-2" in table.stdout
    row = next(line for line in table.stdout.splitlines() if line.startswith(f"{WEST}  "))
    assert "SPLIT" in row  # the Aurora cell (it wraps in a narrow table)


def test_fence_stop_end_to_end_then_again_changes_nothing(
    detached: str, run_cli: Any, aws: Any, control: SandboxClient, clock: Any
) -> None:
    mark = len(control.calls())
    result = run_cli("fence", "--region", WEST, "--yes")
    assert result.exit_code == 0, result.output
    assert "other option: --database rejoin" in result.stdout
    assert cluster(aws, WEST, detached)["Status"] == "stopped"
    assert mutations(control, mark) == ["StopDBCluster"]
    _, after = status_json(run_cli)
    assert after["split_brain"] == []
    (run,) = journal.list_runs()
    assert (run.command, run.outcome) == ("fence", "succeeded")

    mark = len(control.calls())
    again = run_cli("fence", "--region", WEST, "--yes")
    assert again.exit_code == 0, again.output
    assert "database already fenced" in again.stdout
    assert mutations(control, mark) == []


def test_fence_rejoin_end_to_end(
    detached: str, run_cli: Any, aws: Any, control: SandboxClient, clock: Any
) -> None:
    mark = len(control.calls())
    result = run_cli("--output", "json", "fence", "--region", WEST, "--database", "rejoin", "--yes")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [s["id"].split(":")[1] for s in out["steps"] if s["id"].startswith("fence:")] == [
        "rename",
        "stop",
        "create-secondary",
        "create-reader",
        "rejoined",
    ]
    assert mutations(control, mark) == [
        "ModifyDBCluster",
        "StopDBCluster",
        "CreateDBCluster",
        "CreateDBInstance",
    ]
    new = cluster(aws, WEST, detached)
    member = members(aws)[new["DBClusterArn"]]
    assert (member["IsWriter"], member["SynchronizationStatus"]) == (False, "connected")
    (fenced,) = [
        c
        for c in aws("rds", WEST).describe_db_clusters()["DBClusters"]
        if c["DBClusterIdentifier"].startswith(f"{detached}-fenced-")
    ]
    assert fenced["Status"] == "stopped" and fenced["DBClusterMembers"]
    code, after = status_json(run_cli)
    assert after["split_brain"] == []
    # Clean: the region is a secondary again, drained by the fence (undrain brings it back).
    assert code == 0, after["regions"]
    assert next(r for r in after["regions"] if r["name"] == WEST)["verdict"] == "drained"
    records = journal.read_records(out["run_id"])
    done = [r["step"] for r in records if r.get("type") == "outcome" and r["status"] == "applied"]
    assert f"fence:rename:{detached}" in done and f"fence:rejoined:{detached}" not in done


def test_fence_refuses_the_writer_region(
    e2e_env: dict[str, str], run_cli: Any, control: SandboxClient
) -> None:
    mark = len(control.calls())
    result = run_cli("fence", "--region", EAST, "--yes")
    assert result.exit_code == 3
    assert "is the writer of global cluster" in result.stderr
    assert not [c for c in control.calls()[mark:] if c["mutating"]]


def test_a_fence_killed_after_the_rename_resumes_without_repeating_it(
    detached: str,
    run_cli: Any,
    run_cli_subprocess: Any,
    aws: Any,
    control: SandboxClient,
    clock: Any,
) -> None:
    # Drained first (on the sandbox clock): the child process then finds its traffic steps
    # in place and waits for no TTL in real time.
    assert run_cli("drain", "--region", WEST, "--yes").exit_code == 0
    plan = json.loads(
        run_cli(
            "--output", "json", "fence", "--region", WEST, "--database", "rejoin", "--dry-run"
        ).stdout
    )["plan"]
    rename = 1 + [s["call"] for s in plan["steps"]].index("rds:ModifyDBCluster")
    mark = len(control.calls())
    args = ("fence", "--region", WEST, "--database", "rejoin", "--yes")
    run_cli_subprocess.kill_after_step(*args, step=rename)
    crashed = next(r for r in journal.list_runs() if r.command == "fence")
    assert crashed.outcome == "incomplete"
    assert mutations(control, mark) == ["ModifyDBCluster"]

    resumed = run_cli_subprocess("fence", "--resume", crashed.run_id, "--yes")
    assert resumed.returncode == 0, resumed.stderr
    assert mutations(control, mark) == [
        "ModifyDBCluster",
        "StopDBCluster",
        "CreateDBCluster",
        "CreateDBInstance",
    ]
    assert not members(aws)[cluster(aws, WEST, detached)["DBClusterArn"]]["IsWriter"]
