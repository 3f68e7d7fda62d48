"""A confirmed plan is checked again under the lock (issue: "a confirmed plan is not re-checked").

Operator B runs a command without ``--yes`` and reads the plan; while the prompt waits,
operator A changes the state (here: inside B's confirmation, A runs the CLI to the end);
B answers yes. B must then take the lock, build the plan again from fresh reads, see that
it no longer holds, change nothing (the sandbox serves no mutating call of B's but its
lock's own write and release), name what changed, and exit 3. For drain, undrain,
promote and fence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import pytest

from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient
from mr_failover.topology import Topology
from tests.e2e.conftest import SandboxAdvancingClock

EAST, WEST = "us-east-1", "us-west-2"
GLOBAL = "arc309-global"
LOCK_ONLY = ["us-east-1 dynamodb:PutItem", "us-east-1 dynamodb:DeleteItem"]


def served_mutations(control: SandboxClient, since: int) -> list[str]:
    return [
        f"{c['region']} {c['service']}:{c['action']}"
        for c in control.calls()[since:]
        if c["mutating"] and 200 <= int(c["status"]) < 300
    ]


def meanwhile(
    monkeypatch: pytest.MonkeyPatch, control: SandboxClient, operator_a: Callable[[], None]
) -> dict[str, Any]:
    """At B's confirmation prompt: operator A acts, then B answers yes."""
    seen: dict[str, Any] = {"asked": []}

    def confirm(text: str, **_: Any) -> bool:
        seen["asked"].append(text)
        operator_a()
        seen["after_a"] = len(control.calls())
        return True

    monkeypatch.setattr(click, "confirm", confirm)
    return seen


def refused_without_change(result: Any, seen: dict[str, Any], control: SandboxClient) -> None:
    assert len(seen["asked"]) == 1, seen["asked"]
    assert result.exit_code == 3, result.output
    assert "refused: the state changed after the plan was shown, so nothing was changed" in (
        result.stderr
    )
    # B took the lock and released it; nothing else was changed.
    assert served_mutations(control, seen["after_a"]) == LOCK_ONLY
    assert "Traceback" not in result.output


def test_drain_refused_when_the_other_region_was_drained_meanwhile(
    run_cli: Any,
    control: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
    clock: SandboxAdvancingClock,
) -> None:
    def operator_a() -> None:
        assert run_cli("drain", "--region", EAST, "--yes").exit_code == 0

    seen = meanwhile(monkeypatch, control, operator_a)
    result = run_cli("drain", "--region", WEST)
    refused_without_change(result, seen, control)
    assert f"refused: draining {WEST} would leave no region able to serve" in result.stderr
    runs = journal.list_runs()
    assert [(r.command, r.params["region"], r.outcome) for r in runs] == [
        ("drain", EAST, "succeeded")  # A's; B's refused run left no journal: nothing ran
    ]


def test_undrain_refused_when_it_was_undrained_meanwhile(
    run_cli: Any,
    control: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
    clock: SandboxAdvancingClock,
) -> None:
    assert run_cli("drain", "--region", EAST, "--yes").exit_code == 0

    def operator_a() -> None:
        assert run_cli("undrain", "--region", EAST, "--yes").exit_code == 0

    seen = meanwhile(monkeypatch, control, operator_a)
    result = run_cli("undrain", "--region", EAST)
    refused_without_change(result, seen, control)
    # B's plan scaled us-west-2 back to what the drain recorded; A did that already.
    assert "no longer planned: scale" in result.stderr


def test_promote_refused_when_the_writer_moved_meanwhile(
    e2e_topology: Topology,
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
    clock: SandboxAdvancingClock,
) -> None:
    control.advance(1.1)  # one round of lag metrics for the plans

    def operator_a() -> None:
        assert run_cli("promote", "--region", WEST, "--yes").exit_code == 0

    seen = meanwhile(monkeypatch, control, operator_a)
    result = run_cli("promote", "--region", WEST)
    refused_without_change(result, seen, control)
    assert "nothing to do: arc309-usw2 (us-west-2) is already the writer" in result.stderr
    assert len(control.calls(action="SwitchoverGlobalCluster")) == 1  # A's only


def test_fence_refused_when_the_region_was_fenced_meanwhile(
    e2e_topology: Topology,
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
    clock: SandboxAdvancingClock,
) -> None:
    spec = e2e_topology.regions[WEST].aurora
    assert spec is not None
    (found,) = aws("rds", WEST).describe_db_clusters(DBClusterIdentifier=spec.cluster)["DBClusters"]
    aws("rds", WEST).remove_from_global_cluster(
        GlobalClusterIdentifier=GLOBAL, DbClusterIdentifier=found["DBClusterArn"]
    )  # a split brain, as tests/e2e/test_fence.py makes it

    def operator_a() -> None:
        assert run_cli("fence", "--region", WEST, "--yes").exit_code == 0

    seen = meanwhile(monkeypatch, control, operator_a)
    result = run_cli("fence", "--region", WEST)
    refused_without_change(result, seen, control)
    assert "no longer planned: stop" in result.stderr
    assert len(control.calls(action="StopDBCluster")) == 1  # A's only
