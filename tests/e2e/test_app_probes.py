"""The sandbox's application and the topology's probes, end to end.

A server per region names itself in ``x-served-by`` and reads and writes its region's
table; the front sends each request where Route 53's answer says. Status probes the global
URL and each region's; a region whose application fails cannot take over, and a drained
region leaves the front's answers.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover.sandbox.client import SandboxClient
from mr_failover.topology import Topology

NAME = "api.arc309.example.com"


def get(url: str, data: bytes | None = None) -> tuple[int, str | None, dict[str, Any]]:
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.headers.get("x-served-by"), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-served-by"), json.loads(exc.read())


@pytest.fixture
def app(control: SandboxClient, e2e_topology: Topology) -> dict[str, Any]:
    tables = {r: spec.dynamodb_tables[0] for r, spec in e2e_topology.regions.items()}
    return control.app(name=NAME, tables=tables)


@pytest.fixture
def probed(e2e_topology_file: Path, app: dict[str, Any]) -> Path:
    data = yaml.safe_load(e2e_topology_file.read_text())
    data["probes"] = {
        "global_url": f"{app['front']}/health",
        "regions": {r: f"{app['regions'][r]}/health" for r in data["regions"]},
        "region_header": "x-served-by",
        "timeout_seconds": 2,
    }
    e2e_topology_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return e2e_topology_file


def test_each_region_serves_and_writes_its_own_table(app: dict[str, Any], aws: Any) -> None:
    for region in ("us-east-1", "us-west-2"):
        status, served, body = get(f"{app['regions'][region]}/health")
        assert (status, served, body["region"]) == (200, region, region)
        status, served, order = get(f"{app['regions'][region]}/orders", b'{"sku": 1}')
        assert (status, served) == (201, region)
        assert get(f"{app['regions'][region]}/orders/{order['id']}")[0] == 200
        items = aws("dynamodb", region).scan(TableName=app["tables"][region])["Items"]
        assert any(json.loads(i["body"]["S"]) == {"sku": 1} for i in items)
    status, served, _ = get(f"{app['front']}/health")
    assert status == 200 and served in ("us-east-1", "us-west-2")


def test_a_failed_application_cannot_take_over_and_a_drain_moves_the_clients(
    run_cli: Any, control: SandboxClient, probed: Path, clock: Any
) -> None:
    out = json.loads(run_cli("--output", "json", "status").stdout)
    probes = {p["target"]: p for p in out["probes"]}
    assert set(probes) == {"global", "us-east-1", "us-west-2"}
    assert all(p["ok"] for p in probes.values()), probes
    assert probes["us-west-2"]["served_by"] == "us-west-2"
    assert "probe global: HTTP 200 from " in run_cli("status").stdout

    control.app(fail=["us-west-2"])
    out = json.loads(run_cli("--output", "json", "status").stdout)
    west = next(r for r in out["regions"] if r["name"] == "us-west-2")
    assert west["can_take_over"] is False
    assert any(r.startswith("probes: ") and "HTTP 503" in r for r in west["reasons"])
    control.app(fail=[])
    control.advance(5)  # its health checks see the application again

    drained = run_cli("drain", "--region", "us-east-1", "--yes")
    assert drained.exit_code == 0, drained.output
    for _ in range(5):  # every request now goes to us-west-2
        assert get(f"{control.app()['front']}/health")[1] == "us-west-2"
    out = json.loads(run_cli("--output", "json", "status").stdout)
    probes = {p["target"]: p for p in out["probes"]}
    assert probes["global"]["served_by"] == "us-west-2"


def test_a_probe_that_hangs_is_bounded(run_cli: Any, probed: Path, black_hole_url: str) -> None:
    data = yaml.safe_load(probed.read_text())
    data["probes"]["regions"]["us-east-1"] = f"{black_hole_url}/health"
    data["probes"]["timeout_seconds"] = 1
    probed.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("--output", "json", "status")
    assert "Traceback" not in result.output
    out = json.loads(result.stdout)
    east = next(p for p in out["probes"] if p["target"] == "us-east-1")
    assert east["ok"] is False and east["error"] == "no answer within 1 s"
    assert east["latency_ms"] < 3000


@pytest.fixture
def black_hole_url() -> Any:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_the_health_checkers_probe_the_application_over_http(
    app: dict[str, Any], control: SandboxClient, e2e_topology: Topology, aws: Any
) -> None:
    """rule: route53-http-health. The application fails in us-west-2 (its region is up):
    the checkers' GET /health gets 503, the check turns unhealthy after its threshold, and
    Route 53 stops answering with us-west-2: the front sends every client to us-east-1."""
    check = e2e_topology.regions["us-west-2"].traffic.health_checks[0].id
    control.app(fail=["us-west-2"])
    control.advance(5)
    status = aws("route53", "us-east-1").get_health_check_status(HealthCheckId=check)
    assert all(
        o["StatusReport"]["Status"].startswith("Failure") for o in status["HealthCheckObservations"]
    )
    for _ in range(5):
        assert get(f"{app['front']}/health")[1] == "us-east-1"
    control.app(fail=[])
    control.advance(5)
    served = {get(f"{app['front']}/health")[1] for _ in range(1)}
    assert served <= {"us-east-1", "us-west-2"}
    status = aws("route53", "us-east-1").get_health_check_status(HealthCheckId=check)
    assert all(
        o["StatusReport"]["Status"].startswith("Success") for o in status["HealthCheckObservations"]
    )


def test_a_drill_measures_what_the_synthetic_client_got(
    run_cli: Any, app: dict[str, Any], e2e_topology_file: Path, clock: Any, tmp_path: Path
) -> None:
    from tests.e2e.test_drill import UNSEEDED

    data = yaml.safe_load(e2e_topology_file.read_text())
    for key in UNSEEDED:
        data.pop(key, None)
        for region in data["regions"].values():
            region.pop(key, None)
    data["probes"] = {
        "global_url": f"{app['front']}/health",
        "region_header": "x-served-by",
        "timeout_seconds": 2,
        "client_rate": 20,
    }
    config = tmp_path / "drill.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli(
        "--config",
        str(config),
        "--output",
        "json",
        "drill",
        "evacuate",
        "-r",
        "us-east-1",
        "--hold",
        "5",
        "--yes",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    client = report["client"]
    assert client["requests"] > 0 and client["error_rate"] is not None
    served = {r for b in client["per_region"] for r in b["regions"]}
    assert "us-west-2" in served  # the client followed the evacuation
    assert client["recovered"] is True
    text = run_cli("--config", str(config), "history").stdout
    assert "drill" in text
