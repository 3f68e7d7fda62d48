"""``mr-failover check replication`` through click against moto (in-process ``mock_aws``).

moto stores no DynamoDB replicas and replicates nothing (AWS-FACTS.md), so the seeded
example topology is exactly the misconfigured case: tables without replicas.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mr_failover.cli import AppContext, cli
from tests.functional.conftest import EXAMPLE, Seeded


@pytest.fixture
def patched_context(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    # The root group builds its own AppContext: hand it the seeded factory instead.
    monkeypatch.setattr(AppContext, "factory", lambda self: seeded.factory)
    return seeded


def test_tables_without_replicas_are_no_go(patched_context: Seeded) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(EXAMPLE), "--output", "json", "check", "replication"]
    )
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["go"] is False
    east_west = next(p for p in data["pairs"] if p["source"] == "us-east-1")
    assert (
        "dynamodb arc309-orders: arc309-orders has no replica in us-west-2" in east_west["reasons"]
    )
    # The S3 side is sound in moto: versioned buckets, enabled rules, a role.
    s3 = next(link for link in east_west["links"] if link["kind"] == "s3")
    assert s3["state"] == "Enabled" and s3["reasons"] == []


def test_table_output_lists_pairs_and_reasons(patched_context: Seeded) -> None:
    result = CliRunner().invoke(cli, ["--config", str(EXAMPLE), "check", "replication"])
    assert result.exit_code == 4
    assert "us-east-1  us-west-2" in result.stdout
    assert "NO-GO" in result.stdout
    assert "us-east-1 -> us-west-2: dynamodb arc309-orders: arc309-orders has no replica" in (
        " ".join(result.stdout.split())
    )


def test_help_says_canaries_are_writes() -> None:
    result = CliRunner().invoke(cli, ["check", "replication", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "data-plane writes" in text and "mr-failover check replication --canary" in text
