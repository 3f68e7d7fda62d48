"""``status --publish`` and ``alarms apply`` through the CLI against moto in-process: the
PutMetricData, DescribeAlarms and PutMetricAlarm requests pass botocore's validation and
moto's handling, and what they wrote reads back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from click.testing import CliRunner

from mr_failover.cli import cli
from mr_failover.commands import _mutation
from mr_failover.engine import lock
from mr_failover.operations import metrics
from mr_failover.resources.cloudwatch import MetricQuery, latest_values
from tests.clocks import FakeClock
from tests.functional.test_status_cli import _config

if TYPE_CHECKING:
    from conftest import Seeded


def test_status_publish_writes_what_get_metric_data_reads(seeded: Seeded, tmp_path: Path) -> None:
    config = _config(tmp_path, drop_tables=True)
    result = CliRunner().invoke(cli, ["--config", config, "-o", "json", "status", "--publish"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["publish"]["error"] is None and doc["publish"]["calls"] == 1
    region = doc["publish"]["region"]
    cw = boto3.client("cloudwatch", region_name=region)
    queries = [
        MetricQuery(
            r, metrics.NAMESPACE, metrics.VERDICT, (("Application", "arc309"), ("Region", r))
        )
        for r in ("us-east-1", "us-west-2")
    ]
    got = latest_values(cw, queries, now=datetime.now(UTC))
    assert got == {"us-east-1": 0.0, "us-west-2": 0.0}


def test_alarms_apply_against_moto_is_idempotent(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(_mutation, "CLOCK", FakeClock(1_800_000_000.0))
    lock.create_table(seeded.factory, seeded.topology)
    config = _config(tmp_path, drop_tables=True)
    first = CliRunner().invoke(cli, ["--config", config, "alarms", "apply", "--yes"])
    assert first.exit_code == 0, first.output
    assert "4 alarm(s) created or updated" in first.output
    second = CliRunner().invoke(cli, ["--config", config, "alarms", "apply", "--yes"])
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    alarms = boto3.client("cloudwatch", region_name="us-east-1").describe_alarms(
        AlarmNamePrefix="mr-failover-arc309-"
    )["MetricAlarms"]
    assert len(alarms) == 4
