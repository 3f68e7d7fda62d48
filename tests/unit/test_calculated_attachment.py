"""A record carrying a CALCULATED check over the endpoint check and a routing control's
check (the seeded example's ARC setup): which levers move it, by HealthThreshold."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from mr_failover.resources import route53
from mr_failover.resources.route53 import HealthCheckFinding, RecordFinding, TrafficStatus
from mr_failover.topology import Region

CONTROL = "arn:aws:route53-recovery-control::123456789012:controlpanel/p/routingcontrol/use1"


def _region(lever: str) -> Region:
    return Region.model_validate(
        {
            "traffic": {
                "drain_lever": lever,
                "routing_controls": [CONTROL],
                "health_checks": [{"name": "api", "id": "hc-api", "fqdn": "api.example.com"}],
                "records": [
                    {
                        "zone": "example.com.",
                        "name": "api.example.com.",
                        "set_identifier": "use1",
                        "routing_policy": "latency",
                        "value": "api-use1.example.com",
                        "health_check": "api",
                    }
                ],
            }
        }
    )


def _check(check_id: str, **kw: Any) -> HealthCheckFinding:
    return HealthCheckFinding(check_id, check_id, 1, False, False, None, **kw)


def _status(threshold: int) -> TrafficStatus:
    return TrafficStatus(
        health_checks=(HealthCheckFinding("api", "hc-api", 1, False, False, 100.0, type="HTTPS"),),
        records=(
            RecordFinding("api.example.com.", "use1", "CNAME", True, health_check_id="hc-calc"),
        ),
        carried_checks=(
            _check(
                "hc-calc",
                type="CALCULATED",
                children=("hc-api", "hc-rc"),
                health_threshold=threshold,
            ),
            _check("hc-rc", type="RECOVERY_CONTROL", routing_control_arn=CONTROL),
        ),
    )


@pytest.mark.parametrize("lever", ["health_check_inversion", "routing_control"])
def test_both_levers_move_a_record_whose_calculated_check_needs_every_child(lever: str) -> None:
    (a,) = route53.attachments(_region(lever), _status(threshold=2))
    assert a.lever_moves_it is True
    assert a.carries == (
        f"calculated health check hc-calc (2 of 2 healthy: health check api, "
        f"routing control {CONTROL})"
    )
    assert route53.lever_problems(_region(lever), _status(threshold=2)) == []


@pytest.mark.parametrize("lever", ["health_check_inversion", "routing_control"])
def test_no_lever_moves_it_when_one_healthy_child_is_enough(lever: str) -> None:
    (a,) = route53.attachments(_region(lever), _status(threshold=1))
    assert a.lever_moves_it is False
    (problem,) = route53.lever_problems(_region(lever), _status(threshold=1))
    assert "1 of 2 healthy" in problem and "does not move its traffic" in problem


def test_a_calculated_checks_undeclared_children_are_read_with_it() -> None:
    import boto3

    client = boto3.client(
        "route53", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    config = {
        "Type": "CALCULATED",
        "ChildHealthChecks": ["hc-api", "hc-rc"],
        "HealthThreshold": 2,
    }
    for check_id, cfg in (
        ("hc-calc", config),
        ("hc-rc", {"Type": "RECOVERY_CONTROL", "RoutingControlArn": CONTROL}),
    ):
        stub.add_response(
            "get_health_check",
            {
                "HealthCheck": {
                    "Id": check_id,
                    "CallerReference": check_id,
                    "HealthCheckConfig": cfg,
                    "HealthCheckVersion": 1,
                }
            },
            {"HealthCheckId": check_id},
        )
    records = (RecordFinding("api.example.com.", "use1", "CNAME", True, health_check_id="hc-calc"),)
    with stub:
        carried = route53._carried_checks(client, (_check("hc-api"),), records)
    stub.assert_no_pending_responses()
    assert [(c.id, c.type, c.children, c.health_threshold) for c in carried] == [
        ("hc-calc", "CALCULATED", ("hc-api", "hc-rc"), 2),
        ("hc-rc", "RECOVERY_CONTROL", (), None),
    ]
