"""``mr-failover sandbox ...`` end to end: a background server, its runtime files, faults."""

from __future__ import annotations

import os
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest
from click.testing import CliRunner

from mr_failover import sandbox as sandbox_pkg
from mr_failover.cli import cli
from mr_failover.sandbox.client import RuntimeFiles, SandboxClient, running


def test_without_moto_every_subcommand_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox_pkg, "moto_available", lambda: False)
    result = CliRunner().invoke(cli, ["sandbox", "status"])
    assert result.exit_code == 2
    assert "install mr-failover[sandbox]" in result.output
    assert "Traceback" not in result.output


def test_up_fail_heal_status_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    runner = CliRunner()
    up = runner.invoke(cli, ["sandbox", "up"])
    assert up.exit_code == 0, up.output
    files = RuntimeFiles(tmp_path / ".sandbox")
    current = running(files)
    assert current is not None
    pid, endpoint = current
    try:
        assert f"export AWS_ENDPOINT_URL={endpoint}" in up.output
        assert "export AWS_ACCESS_KEY_ID=testing" in up.output
        dns_port = SandboxClient(endpoint).state()["dns"]["port"]
        assert f"export MR_FAILOVER_DNS_SERVER=127.0.0.1:{dns_port}" in up.output
        shown = runner.invoke(cli, ["sandbox", "status"])
        assert f"dns: 127.0.0.1:{dns_port} (udp, tcp): dig @127.0.0.1 -p {dns_port}" in shown.output
        # The port answers DNS (no zone holds this name: REFUSED, as Route 53 does).
        query = dns.message.make_query("www.example.org", "A")
        answer = dns.query.udp(query, "127.0.0.1", port=dns_port, timeout=3)
        assert answer.rcode() == dns.rcode.REFUSED
        again = runner.invoke(cli, ["sandbox", "up"])
        assert again.exit_code == 1 and "already running" in again.output

        failed = runner.invoke(cli, ["sandbox", "fail-region", "us-east-1", "--mode", "5xx"])
        assert failed.exit_code == 0, failed.output
        assert "us-east-1: outage (5xx)" in failed.output
        assert SandboxClient(endpoint).state()["down_regions"] == ["us-east-1"]
        status = runner.invoke(cli, ["sandbox", "status"])
        assert "regions down: us-east-1" in status.output

        bad = runner.invoke(cli, ["sandbox", "fail-region", "moon-1"])
        assert bad.exit_code == 2 and "not an AWS region code" in bad.output
        healed = runner.invoke(cli, ["sandbox", "heal-region", "us-east-1"])
        assert healed.output.strip() == "us-east-1: 1 fault(s) healed"
    finally:
        down = runner.invoke(cli, ["sandbox", "down"])
    assert down.output.strip() == f"sandbox stopped (pid {pid})"
    assert running(files) is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0) if not Path(f"/proc/{pid}").exists() else _zombie(pid)
    after = runner.invoke(cli, ["sandbox", "status"])
    assert after.exit_code == 1 and "no sandbox is running" in after.output


def _zombie(pid: int) -> None:
    # The stopped server is our child until reaped: reap it, then it is gone.
    os.waitpid(pid, 0)
    os.kill(pid, 0)
