"""Observe, don't assume: drift from the file, and which lever really routes traffic.

Route 53 is changed behind the tool's back (boto3 straight at the sandbox), then the CLI
runs against the sandbox over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mr_failover.sandbox.client import SandboxClient
from mr_failover.topology import Topology

R53 = ("route53", "us-east-1")


def _record(aws: Any, topology: Topology, region: str) -> tuple[str, dict[str, Any]]:
    """The hosted zone id and the record set of ``region``'s first record, as Route 53 has it."""
    spec = topology.regions[region].traffic.records[0]
    client = aws(*R53)
    zone = spec.hosted_zone_id or client.list_hosted_zones_by_name(DNSName=spec.zone)[
        "HostedZones"
    ][0]["Id"].removeprefix("/hostedzone/")
    sets = client.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    rrs = next(r for r in sets if r.get("SetIdentifier") == spec.set_identifier)
    return zone, rrs


def _upsert(aws: Any, zone: str, rrs: dict[str, Any]) -> None:
    aws(*R53).change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrs}]}
    )


def test_status_reports_drift_of_ttl_value_and_health_check_port(
    run_cli: Any, e2e_topology: Topology, aws: Any
) -> None:
    def drift_of(doc: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
        return {
            r["name"]: {
                (d["resource"], d["field"], d["declared"], d["observed"]) for d in r["drift"]
            }
            for r in doc["regions"]
        }

    zone, rrs = _record(aws, e2e_topology, "us-east-1")
    _upsert(aws, zone, {**rrs, "TTL": 300})
    check = e2e_topology.regions["us-west-2"].traffic.health_checks[0]
    version = aws(*R53).get_health_check(HealthCheckId=check.id)["HealthCheck"][
        "HealthCheckVersion"
    ]
    aws(*R53).update_health_check(HealthCheckId=check.id, HealthCheckVersion=version, Port=8443)

    result = run_cli("--output", "json", "status", "--deadline", "30")
    doc = json.loads(result.stdout)
    record = "record api.arc309.example.com. (us-east-1)"
    assert drift_of(doc) == {
        "us-east-1": {(record, "ttl", "60", "300")},
        "us-west-2": {("health check api-us-west-2", "port", "443", "8443")},
    }
    # Every region still ready: drift alone is exit 6, documented in docs/STATUS.md.
    assert (doc["healthy"], doc["drifted"], result.exit_code, doc["exit_code"]) == (
        True,
        True,
        6,
        6,
    )
    table = run_cli("status", "--deadline", "30")
    said = " ".join(table.stdout.split())  # prose wraps at spaces at 80 columns
    assert "us-east-1: drift: record api.arc309.example.com. (us-east-1): ttl" in said
    assert "is 300 in AWS, 60 in the file" in said
    assert "(drift)" in table.stdout

    # A record that answers with another endpoint: drift, and the API check says why the
    # region cannot take over (exit 4 wins over 6).
    _upsert(aws, zone, {**rrs, "TTL": 300, "ResourceRecords": [{"Value": "elsewhere.example.net"}]})
    result = run_cli("--output", "json", "status", "--deadline", "30")
    doc = json.loads(result.stdout)
    declared = e2e_topology.regions["us-east-1"].traffic.records[0].value
    assert (record, "value", declared, "elsewhere.example.net") in drift_of(doc)["us-east-1"]
    assert result.exit_code == 4


def test_drain_refused_when_the_records_do_not_carry_the_inverted_check(
    run_cli: Any, e2e_topology: Topology, aws: Any, control: SandboxClient
) -> None:
    zone, rrs = _record(aws, e2e_topology, "us-east-1")
    _upsert(aws, zone, {k: v for k, v in rrs.items() if k != "HealthCheckId"})
    before = len(control.calls(mutating=True))

    status = json.loads(run_cli("--output", "json", "status", "--deadline", "30").stdout)
    east = next(r for r in status["regions"] if r["name"] == "us-east-1")
    assert east["traffic"]["attachment"] == [
        {
            "record": "api.arc309.example.com. (us-east-1)",
            "carries": "no health check",
            "lever_moves_it": False,
        }
    ]
    assert any("does not move its traffic" in w for w in east["warnings"])

    for args in (
        ("drain", "--region", "us-east-1"),
        ("health-check", "invert", "--region", "us-east-1"),
    ):
        result = run_cli(*args, "--yes")
        assert result.exit_code == 3, result.output
        assert "record api.arc309.example.com. (us-east-1) carries no health check" in result.output
        assert "nothing was changed" in result.output
    assert len(control.calls(mutating=True)) == before


def test_health_checks_are_found_from_the_records(
    run_cli: Any, e2e_topology: Topology, e2e_topology_file: Path, aws: Any
) -> None:
    # Neither an id in the file nor a Name tag in Route 53: the record names the check.
    data = yaml.safe_load(e2e_topology_file.read_text())
    for name, region in data["regions"].items():
        for hc in region["traffic"]["health_checks"]:
            check_id = hc.pop("id")
            aws(*R53).change_tags_for_resource(
                ResourceType="healthcheck", ResourceId=check_id, RemoveTagKeys=["Name"]
            )
            assert e2e_topology.regions[name].traffic.health_checks[0].id == check_id
    e2e_topology_file.write_text(yaml.safe_dump(data, sort_keys=False))

    result = run_cli("--output", "json", "status", "--deadline", "30")
    doc = json.loads(result.stdout)
    for r in doc["regions"]:
        expected = e2e_topology.regions[r["name"]].traffic.health_checks[0].id
        assert [hc["id"] for hc in r["traffic"]["health_checks"]] == [expected]
        assert r["errors"] == []
    assert result.exit_code == 0, result.stdout
