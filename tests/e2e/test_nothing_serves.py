"""status when no region serves: every check inverted behind the tool's back."""

from __future__ import annotations

import json
from typing import Any

from mr_failover.topology import Topology


def test_status_is_not_ready_when_every_region_is_drained(
    run_cli: Any, e2e_topology: Topology, aws: Any
) -> None:
    route53 = aws("route53", "us-east-1")
    for region in e2e_topology.regions.values():
        for hc in region.traffic.health_checks:
            assert hc.id is not None
            version = route53.get_health_check(HealthCheckId=hc.id)["HealthCheck"][
                "HealthCheckVersion"
            ]
            route53.update_health_check(
                HealthCheckId=hc.id, HealthCheckVersion=version, Inverted=True
            )
    result = run_cli("--output", "json", "status", "--deadline", "30")
    doc = json.loads(result.stdout)
    assert {r["verdict"] for r in doc["regions"]} == {"drained"}
    assert result.exit_code == 4
    assert doc["healthy"] is False
    assert any("no region is serving" in w for w in doc["warnings"])
