"""``mr-failover status`` when nothing answers: bounded, every region UNREACHABLE, exit 4."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mr_failover.cli import cli
from tests.columns import assert_fits

REGIONS = ("us-east-1", "us-west-2")
EXAMPLE = Path(__file__).resolve().parents[2] / "mr_failover" / "data" / "regions.yaml"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_black_holed_endpoint_every_region_unreachable_within_the_deadline(
    black_hole: str, credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    started = time.monotonic()
    result = CliRunner().invoke(
        cli,
        ["--config", str(EXAMPLE), "--no-color", "--endpoint-url", black_hole, "status",
         "--deadline", "1.5"],
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.exit_code == 4, result.output
    assert elapsed < 3.0
    # Piped without COLUMNS: 80 columns, one line per region, no id cut in two.
    lines = assert_fits(result.output, 80, [*REGIONS, "arc309-use1", "arc309-usw2"])
    assert lines[1].split() == [
        "Region",
        "Verdict",
        "Takeover",
        "Traffic",
        "Aurora",
        "DynamoDB",
        "S3",
    ]
    assert lines[3:5] == [
        "us-east-1  UNREACHABLE  no        no answer  no answer  no answer  no answer",
        "us-west-2  UNREACHABLE  no        no answer  no answer  no answer  no answer",
    ]
    # The sections that did not fit: under the table, one paragraph per region.
    assert lines[5] == "us-east-1: Compute no answer; Accelerator no answer; Cache no answer;"
    # Whether the call's own timeout or the deadline ended it, the region is named.
    assert any(
        line.startswith("us-west-2: aurora: ") and "in us-west-2 failed: no answer" in line
        for line in lines
    )
    assert any(line.startswith("warning: account not verified: ") for line in lines)


def test_no_credentials_is_exit_5_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    # No instance metadata lookups: they would leave loopback.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    result = CliRunner().invoke(
        cli, ["--config", str(EXAMPLE), "--endpoint-url", "http://127.0.0.1:9", "status"]
    )
    assert result.exit_code == 5, result.output
    assert len(result.output.splitlines()) == 1
    assert result.output.startswith("Error: ")
    assert "in us-east-1: no AWS credentials found (set AWS_PROFILE, run `aws sso login`" in (
        result.output
    )
