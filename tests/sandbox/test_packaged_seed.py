"""``sandbox up --seed`` without a file: the --config topology, else the packaged example."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mr_failover.cli import cli
from mr_failover.sandbox.client import RuntimeFiles, running


def test_seed_alone_in_an_empty_folder_seeds_the_packaged_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("MR_FAILOVER_CONFIG", raising=False)
    runner = CliRunner()
    refused = runner.invoke(cli, ["sandbox", "up", "--write-topology", "sb.yaml"])
    assert refused.exit_code == 2 and "--write-topology needs --seed FILE" in refused.output
    up = runner.invoke(cli, ["sandbox", "up", "--seed", "--write-topology", "sb.yaml"])
    try:
        assert up.exit_code == 0, up.output
        seeded_line = next(line for line in up.stderr.splitlines() if "# seeded" in line)
        assert seeded_line.endswith("data/regions.yaml; topology with ids: sb.yaml")
        seeded = yaml.safe_load((tmp_path / "sb.yaml").read_text())
        assert seeded["application"] == "arc309"
        assert set(seeded["regions"]) == {"us-east-1", "us-west-2"}
        assert running(RuntimeFiles(tmp_path / ".sandbox")) is not None
    finally:
        runner.invoke(cli, ["sandbox", "down"])
    assert running(RuntimeFiles(tmp_path / ".sandbox")) is None
    assert not (tmp_path / "config").exists()
