"""DNS answers as the tool reads them from the sandbox's name server.

A drain whose records stop carrying the lever between the plan and the run is caught by
the DNS answers (the health check does turn unhealthy, the answers do not move); status
says when a drained region is still answered; a name server that does not answer is a
bounded warning, never a hang.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.engine.executor import StepFailedError, execute
from mr_failover.operations.drain import plan_drain
from mr_failover.resources.dns import ENV_DNS_SERVER
from mr_failover.sandbox.core import Sandbox
from tests.e2e.conftest import SandboxAdvancingClock

RECORD = "api.arc309.example.com."


def detach_check(aws: Any, t: topo.Topology, region: str) -> None:
    """Upsert ``region``'s record without its HealthCheckId: the lever no longer moves it."""
    rec = t.regions[region].traffic.records[0]
    r53 = aws("route53", "us-east-1")
    sets = r53.list_resource_record_sets(HostedZoneId=rec.hosted_zone_id)["ResourceRecordSets"]
    (found,) = [s for s in sets if s.get("SetIdentifier") == rec.set_identifier]
    found.pop("HealthCheckId")
    r53.change_resource_record_sets(
        HostedZoneId=rec.hosted_zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": found}]},
    )


def test_a_drain_whose_record_lost_the_lever_fails_on_the_dns_answers(
    e2e_env: dict[str, str],
    e2e_sandbox: Sandbox,
    e2e_topology: topo.Topology,
    aws: Any,
    clock: SandboxAdvancingClock,
) -> None:
    factory = ClientFactory(
        e2e_topology, endpoint_url=e2e_sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
    )
    plan = plan_drain(e2e_topology, factory, "us-east-1", scale_up=False, clock=clock)
    assert [s.call for s in plan.steps] == ["UpdateHealthCheck", "Query", "WaitTTL"]
    detach_check(aws, e2e_topology, "us-east-1")  # someone edits the record meanwhile
    with pytest.raises(StepFailedError) as failed:
        execute(plan, clock=clock)
    # The check is inverted (its step succeeded); DNS still sends clients to us-east-1.
    assert failed.value.step.id == "dns:answers:us-east-1"
    assert "did not take hold within" in failed.value.detail
    assert (
        f"waiting for us-east-1 to leave the DNS answers: {RECORD} -> us-east-1, us-west-2"
        in failed.value.detail
    )


def test_status_warns_when_a_drained_region_is_still_answered(
    run_cli: Any, e2e_topology: topo.Topology, aws: Any, control: Any
) -> None:
    detach_check(aws, e2e_topology, "us-east-1")
    check = e2e_topology.regions["us-east-1"].traffic.health_checks[0].id
    aws("route53", "us-east-1").update_health_check(HealthCheckId=check, Inverted=True)
    control.advance(2)
    out = json.loads(run_cli("--output", "json", "status").stdout)
    east = next(r for r in out["regions"] if r["name"] == "us-east-1")
    assert east["verdict"] == "drained"
    assert any(
        w.startswith(f"dns: {RECORD} still answers with us-east-1 although it is drained")
        for w in east["warnings"]
    ), east["warnings"]
    (found,) = out["dns"]
    assert [a["regions"] for a in found["answers"]] == [["us-east-1"], ["us-west-2"]]
    text = " ".join(run_cli("status").stdout.split())  # the line may wrap at 80 columns
    assert f"dns {RECORD} CNAME (TTL 60): from us-east-1 -> us-east-1; from us-west-2 -> " in text


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback UDP port that receives and never answers (a black-holed name server)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_an_unreachable_name_server_is_a_bounded_warning_in_status(
    run_cli: Any, silent_server: str, monkeypatch: pytest.MonkeyPatch, e2e_env: dict[str, str]
) -> None:
    env = {**e2e_env, ENV_DNS_SERVER: silent_server}
    monkeypatch.setenv(ENV_DNS_SERVER, silent_server)
    from click.testing import CliRunner

    from mr_failover.cli import cli

    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--output", "json", "status"], env=env)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    (warning,) = [w for w in out["warnings"] if w.startswith("dns:")]
    assert warning == (
        f"dns: {RECORD} not checked: name server {silent_server} did not answer within 2 s"
    )
    assert out["dns"][0]["error"] and out["dns"][0]["answers"] == []
    assert elapsed < 30  # one query deadline, not a hang
    assert "Traceback" not in result.output
