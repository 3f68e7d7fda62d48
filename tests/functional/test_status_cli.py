"""``mr-failover status`` through click's CliRunner, against moto in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import yaml
from click.testing import CliRunner, Result

from mr_failover.cli import cli
from mr_failover.commands import status as status_command
from tests.columns import assert_fits, identifiers
from tests.functional.conftest import EXAMPLE as CORE_EXAMPLE

if TYPE_CHECKING:
    from conftest import Seeded

EXAMPLE = CORE_EXAMPLE


def _config(tmp_path: Path, drop_tables: bool) -> str:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    if drop_tables:  # moto has no DynamoDB replicas: without tables every region is ready
        for region in data["regions"].values():
            region.pop("dynamodb_tables")
    path = tmp_path / "regions.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _status(config: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", config, "--no-color", "status", *args])


def _lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines()]


def test_all_ready_exit_0_exact_table(seeded: Seeded, tmp_path: Path) -> None:
    config = _config(tmp_path, drop_tables=True)
    result = _status(config)
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert lines[0] == "arc309: could each region take over?"
    # Piped, width unknown: 80 columns. Compute does not fit: it goes under the table.
    assert lines[1:7] == [
        "Region     Verdict  Takeover  Traffic      Aurora  DynamoDB  S3",
        "─" * 72,
        "us-east-1  SERVING  yes       ok, latency  writer  -         1/1 on, RTC",
        "us-west-2  SERVING  yes       ok, latency  lag ?   -         1/1 on, RTC",
        "us-east-1: Compute ecs 0/0 asg 2/2 fn 1/1",
        "us-west-2: Compute ecs 0/0 asg 2/2 fn 1/1",
    ]
    # Reasons and warnings wrap at spaces, later lines indented.
    assert lines[7:13] == [
        "us-east-1: warning: compute: ecs arc309/api is scaled to 0 (takeover scales it",
        "  to 4)",
        "us-west-2: warning: aurora: no replication lag datapoint for arc309-usw2 in 15",
        "  min",
        "us-west-2: warning: compute: ecs arc309/api is scaled to 0 (takeover scales it",
        "  to 4)",
    ]
    assert lines[13].startswith("all regions ready (observed in ")
    assert len(lines) == 14
    # A wider terminal: Compute is a column, each region on one line, nothing under it.
    wide = _lines(
        CliRunner()
        .invoke(cli, ["--config", config, "--no-color", "status"], env={"COLUMNS": "120"})
        .output
    )
    assert wide[1].split()[-1] == "Compute"
    assert wide[3].endswith("1/1 on, RTC  ecs 0/0 asg 2/2 fn 1/1")
    assert not any(line.startswith("us-east-1: Compute") for line in wide)


def test_not_ready_exit_4_with_reasons(seeded: Seeded, tmp_path: Path) -> None:
    boto3.client("s3", region_name="us-west-2").put_bucket_versioning(
        Bucket="arc309-assets-usw2", VersioningConfiguration={"Status": "Suspended"}
    )
    result = _status(_config(tmp_path, drop_tables=True), "--region", "us-west-2")
    assert result.exit_code == 4, result.output
    lines = assert_fits(result.output, 80, identifiers(yaml.safe_load(EXAMPLE.read_text())))
    assert lines[3].startswith("us-west-2  DEGRADED  no        ok, latency  lag ?")
    assert not any(line.startswith("us-east-1  ") for line in lines)
    # The S3 cell grew too wide for a column: under the table, with its problem count.
    assert lines[4] == "us-west-2: S3 1/1 on, unversioned, RTC, 1 problem;"
    assert lines[5].startswith("  Compute ")
    assert lines[6:8] == [
        "us-west-2: s3: versioning is Suspended on arc309-assets-usw2 (replication needs",
        "  it)",
    ]
    assert lines[-1].startswith("NOT READY (observed in ")


def test_json_output_schema(seeded: Seeded, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(EXAMPLE), "--output", "json", "status", "--deadline", "20"]
    )
    assert result.exit_code == 4, result.output  # moto: no DynamoDB replicas
    doc = json.loads(result.output)
    assert (doc["schema"], doc["version"], doc["application"]) == (
        "mr-failover/status",
        2,
        "arc309",
    )
    assert doc["account"] == {
        "expected": "123456789012",
        "actual": "123456789012",
        "arn": "arn:aws:sts::123456789012:user/moto",
        "matches": True,
        "error": None,
    }
    assert [
        (r["name"], r["verdict"], r["can_take_over"], r["is_writer"]) for r in doc["regions"]
    ] == [
        ("us-east-1", "degraded", False, True),
        ("us-west-2", "degraded", False, False),
    ]
    west = doc["regions"][1]
    assert set(west) == {
        "name", "verdict", "can_take_over", "is_writer", "reasons", "warnings", "errors",
        "traffic", "aurora", "dynamodb", "s3", "compute", "accelerator", "elasticache",
        "api", "readiness", "split_brain", "drift", "parity", "capacity",
    }  # fmt: skip
    assert west["parity"] is None and west["capacity"] is None  # opt-in: topology parity:
    hc = west["traffic"]["health_checks"][0]
    assert (hc["name"], hc["raw_healthy"], hc["effective_healthy"]) == ("api-us-west-2", True, True)
    assert west["aurora"]["global_cluster"]["writer_region"] == "us-east-1"
    assert west["dynamodb"]["incoming"] == [
        {"table": "arc309-orders", "source_region": "us-east-1", "milliseconds": None},
        {"table": "arc309-sessions", "source_region": "us-east-1", "milliseconds": None},
    ]


def test_unknown_region_is_exit_2(seeded: Seeded) -> None:
    result = _status(str(EXAMPLE), "--region", "eu-west-1")
    assert result.exit_code == 2
    assert result.output == (
        "Error: unknown region eu-west-1: the topology declares us-east-1, us-west-2\n"
    )


def test_bad_topology_is_exit_2(tmp_path: Path, fake_credentials: None) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("application: x\n")
    result = _status(str(bad))
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {bad}: ")


def test_watch_refreshes_until_ctrl_c(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_command, "sleep", fake_sleep)
    config = _config(tmp_path, drop_tables=True)
    result = CliRunner().invoke(
        cli, ["--config", config, "-o", "json", "status", "--watch", "--interval", "5"]
    )
    assert result.exit_code == 0, result.output
    assert sleeps == [5.0, 5.0]
    docs = [json.loads(line) for line in result.output.splitlines()]
    assert len(docs) == 2  # one compact document per refresh
    assert all(d["healthy"] for d in docs)
