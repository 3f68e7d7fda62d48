"""``check replication`` end to end: the real CLI against the seeded sandbox over HTTP.

Canaries that must take seconds of replication lag are timed on the sandbox's own clock
(``SandboxDrivenClock``): each poll interval advances the sandbox instead of sleeping,
so a 3 s lag is measured in well under a second of real time.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from mr_failover.commands import check as check_command
from mr_failover.operations.replication import CANARY_PREFIX
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.topology import Topology

E, W = "us-east-1", "us-west-2"
TABLES = ("arc309-orders", "arc309-sessions")
BUCKETS = {E: "arc309-assets-use1", W: "arc309-assets-usw2"}
# Poll interval of the canary loop plus the real time a test run takes on a slow machine.
MARGIN = 1.5


class SandboxDrivenClock:
    """The canary's clock is the sandbox's; sleeping advances the sandbox (no real wait)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def monotonic(self) -> float:
        return self.sandbox.now()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        self.sandbox.advance(seconds)


def _json(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["schema"] == "mr-failover/replication-check"
    return data


def _pair(data: dict[str, Any], source: str, destination: str) -> dict[str, Any]:
    return next(
        p for p in data["pairs"] if (p["source"], p["destination"]) == (source, destination)
    )


def test_healthy_topology_is_go(e2e_topology: Topology, run_cli: Any) -> None:
    result = run_cli("--output", "json", "check", "replication")
    assert result.exit_code == 0, result.output
    data = _json(result)
    assert data["go"] is True
    assert [(p["source"], p["destination"]) for p in data["pairs"]] == [(E, W), (W, E)]
    east_west = _pair(data, E, W)
    kinds = sorted((link["kind"], link["name"]) for link in east_west["links"])
    assert kinds == [
        ("aurora", "arc309-usw2"),
        ("dynamodb", "arc309-orders"),
        ("dynamodb", "arc309-sessions"),
        ("s3", "arc309-assets-use1 -> arc309-assets-usw2"),
    ]
    # The writer is us-east-1: Aurora replicates one way only.
    assert all(link["kind"] != "aurora" for link in _pair(data, W, E)["links"])
    # The sandbox publishes AuroraGlobalDB*Lag for the secondary (80 ms by default).
    aurora = next(link for link in east_west["links"] if link["kind"] == "aurora")
    assert aurora["metric_lag_seconds"] == pytest.approx(0.08)
    assert all(p["go"] and not p["reasons"] for p in data["pairs"])


def test_table_output_says_go(e2e_topology: Topology, run_cli: Any) -> None:
    result = run_cli("check", "replication")
    assert result.exit_code == 0, result.output
    assert "GO: every pair within RPO" in result.stdout
    assert "us-east-1 -> us-west-2" in result.stdout


def test_canary_measures_the_sandbox_lag_and_cleans_up(
    e2e_topology: Topology,
    e2e_sandbox: Sandbox,
    control: SandboxClient,
    run_cli: Any,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ddb_lag, s3_lag = 3.0, 4.0
    control.settings(dynamodb_replication_lag=ddb_lag, s3_replication_lag=s3_lag)
    monkeypatch.setattr(check_command, "clock", SandboxDrivenClock(e2e_sandbox))

    def s3_put_regions() -> list[str]:
        calls = control.calls(service="s3")
        return [c["region"] for c in calls if c["action"] in ("PutObject", "CopyObject")]

    seeded_puts = s3_put_regions()  # the seeder writes deployment templates
    result = run_cli("--output", "json", "check", "replication", "--canary")

    assert result.exit_code == 0, result.output
    data = _json(result)
    assert data["canary"] is True and data["run_id"]
    measured = 0
    for pair in data["pairs"]:
        for link in pair["links"]:
            if link["kind"] == "aurora":
                assert link["canary"] is None  # no database connection: metric only
                continue
            lag = ddb_lag if link["kind"] == "dynamodb" else s3_lag
            assert link["canary"]["state"] == "seen", link
            assert lag <= link["canary"]["lag_seconds"] < lag + MARGIN, link
            assert pair["rpo_estimate_seconds"] >= link["canary"]["lag_seconds"]
            measured += 1
    assert measured == 6  # two tables and one bucket, both ways
    # The canaries were really written (and only there): one per table / bucket and region.
    puts = control.calls(action="PutItem")
    assert sorted(c["region"] for c in puts) == sorted([E, E, W, W])
    # The sandbox's call log names a PutObject "CopyObject" (both are PUT /bucket/key).
    assert sorted(s3_put_regions()) == sorted([*seeded_puts, E, W])
    assert all(c["removed"] for c in data["cleanup"]), data["cleanup"]

    # Nothing is left once every delete has replicated.
    control.advance(max(ddb_lag, s3_lag) + 1)
    run_id = data["run_id"]
    for region in (E, W):
        ddb = aws("dynamodb", region)
        for table in TABLES:
            for source in (E, W):
                key = {"pk": {"S": f"{CANARY_PREFIX}#{run_id}#{source}"}}
                got = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
                assert "Item" not in got, (region, table, source)
            assert ddb.scan(TableName=table)["Count"] == 0
        versions = aws("s3", region).list_object_versions(Bucket=BUCKETS[region])
        assert versions.get("Versions", []) == []
        assert versions.get("DeleteMarkers", []) == []


def test_canary_slower_than_the_rpo_is_no_go_and_still_cleans_up(
    e2e_topology: Topology,
    e2e_sandbox: Sandbox,
    control: SandboxClient,
    run_cli: Any,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # RPO is 60 s in the example topology; the canary waits at most 30 s here.
    control.settings(dynamodb_replication_lag=90.0)
    monkeypatch.setattr(check_command, "clock", SandboxDrivenClock(e2e_sandbox))

    result = run_cli(
        "--output", "json", "check", "replication", "--canary", "--canary-timeout", "30"
    )

    assert result.exit_code == 4, result.output
    data = _json(result)
    for pair in data["pairs"]:
        assert pair["go"] is False
        ddb = [link for link in pair["links"] if link["kind"] == "dynamodb"]
        assert all(link["canary"]["state"] == "timeout" for link in ddb)
        assert pair["rpo_estimate_is_lower_bound"] is True
        assert any("canary not seen" in r for r in pair["reasons"])
        s3 = next(link for link in pair["links"] if link["kind"] == "s3")
        assert s3["canary"]["state"] == "seen"
    assert all(c["removed"] for c in data["cleanup"])
    control.advance(91)  # the queued canary puts and deletes all arrive
    for region in (E, W):
        for table in TABLES:
            assert aws("dynamodb", region).scan(TableName=table)["Count"] == 0


def test_region_in_outage_makes_its_pairs_no_go(
    e2e_topology: Topology, control: SandboxClient, run_cli: Any
) -> None:
    control.fail_region(W)
    started = time.monotonic()
    result = run_cli("--output", "json", "check", "replication", "--deadline", "3")
    elapsed = time.monotonic() - started

    assert result.exit_code == 4, result.output
    data = _json(result)
    regions = {r["name"]: r for r in data["regions"]}
    assert regions[W]["answering"] is False and regions[E]["answering"] is True
    for source, destination in ((E, W), (W, E)):
        pair = _pair(data, source, destination)
        assert pair["go"] is False
        assert pair["reasons"][0].startswith(f"{W} is not answering"), pair["reasons"]
    assert elapsed < 10


def test_region_in_outage_with_canary_writes_nothing_there(
    e2e_topology: Topology, control: SandboxClient, run_cli: Any
) -> None:
    control.fail_region(W)
    since = control.state()["now"]  # the call log also holds the seeding
    result = run_cli("check", "replication", "--canary", "--deadline", "3")
    assert result.exit_code == 4, result.output
    assert "us-west-2 is not answering" in result.stdout
    assert "NO-GO" in result.stdout
    # Every pair involves the dead region: no canary is written anywhere.
    writes = [c for c in control.calls(mutating=True) if c["time"] >= since]
    assert writes == []
    assert any(c["time"] >= since for c in control.calls(service="dynamodb"))


def test_metric_lag_above_rpo_is_no_go_for_that_pair_only(
    e2e_topology: Topology, control: SandboxClient, run_cli: Any, aws: Any
) -> None:
    # A write replicated 90 s late: the sandbox publishes ReplicationLatency 90000 ms in
    # the sending region, as AWS does.
    control.settings(dynamodb_replication_lag=90.0)
    aws("dynamodb", E).put_item(TableName="arc309-orders", Item={"pk": {"S": "order-1"}})
    control.advance(91)

    result = run_cli("--output", "json", "check", "replication")

    assert result.exit_code == 4, result.output
    data = _json(result)
    east_west = _pair(data, E, W)
    assert east_west["go"] is False
    assert east_west["rpo_estimate_seconds"] >= 90
    assert any(
        r.startswith("dynamodb arc309-orders: lag") and "exceeds RPO 60 s" in r
        for r in east_west["reasons"]
    ), east_west["reasons"]
    assert _pair(data, W, E)["go"] is True


def test_installed_entry_point_runs_canaries_in_real_time(
    e2e_topology: Topology, control: SandboxClient, run_cli_subprocess: Any
) -> None:
    # The e2e sandbox replicates in 50 ms of real time.
    proc = run_cli_subprocess("--output", "json", "check", "replication", "--canary")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    lags = [
        link["canary"]["lag_seconds"]
        for p in data["pairs"]
        for link in p["links"]
        if link["canary"] is not None
    ]
    assert len(lags) == 6
    assert all(0.05 <= lag < 2.0 for lag in lags), lags
    assert all(c["removed"] for c in data["cleanup"])


def test_s3_canary_matches_the_rules_prefix_and_tag_filter(
    e2e_topology: Topology,
    e2e_sandbox: Sandbox,
    control: SandboxClient,
    run_cli: Any,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A rule that replicates only tagged objects under a prefix: a canary written
    # elsewhere would never arrive, and the pair would be a false no-go.
    control.settings(s3_replication_lag=1.0)
    monkeypatch.setattr(check_command, "clock", SandboxDrivenClock(e2e_sandbox))
    east = aws("s3", E)
    config = east.get_bucket_replication(Bucket=BUCKETS[E])["ReplicationConfiguration"]
    for rule in config["Rules"]:
        rule.pop("Prefix", None)
        rule["Filter"] = {
            "And": {"Prefix": "critical/", "Tags": [{"Key": "dr", "Value": "replicate"}]}
        }
        rule.setdefault("DeleteMarkerReplication", {"Status": "Disabled"})
    east.put_bucket_replication(Bucket=BUCKETS[E], ReplicationConfiguration=config)

    result = run_cli("--output", "json", "check", "replication", "--canary")

    data = _json(result)
    [link] = [lk for lk in _pair(data, E, W)["links"] if lk["kind"] == "s3"]
    assert link["canary"]["state"] == "seen", link
    assert link["canary"]["key"].startswith(f"critical/{CANARY_PREFIX}/")
    assert result.exit_code == 0, result.output
    written = [c for c in control.calls(service="s3", region=E) if c["action"] == "PutObject"]
    assert written  # the canary itself, tagged in its write (Tagging on PutObject)
