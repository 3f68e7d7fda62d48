"""rule: route53-recovery-control-check (mr_failover/sandbox/route53_recovery.py)."""

from __future__ import annotations

from typing import Any

CONTROL = "arn:aws:route53-recovery-control::123456789012:controlpanel/0a1b/routingcontrol/9f8e"


def test_a_recovery_control_check_names_its_routing_control(aws: Any) -> None:
    r53 = aws("route53", "us-east-1")
    made = r53.create_health_check(
        CallerReference="rc-1",
        HealthCheckConfig={"Type": "RECOVERY_CONTROL", "RoutingControlArn": CONTROL},
    )["HealthCheck"]
    assert made["HealthCheckConfig"]["RoutingControlArn"] == CONTROL
    got = r53.get_health_check(HealthCheckId=made["Id"])["HealthCheck"]["HealthCheckConfig"]
    assert (got["Type"], got["RoutingControlArn"]) == ("RECOVERY_CONTROL", CONTROL)
    listed = {c["Id"]: c for c in r53.list_health_checks()["HealthChecks"]}
    assert listed[made["Id"]]["HealthCheckConfig"]["RoutingControlArn"] == CONTROL
    # An ordinary check is unchanged: no RoutingControlArn.
    https = r53.create_health_check(
        CallerReference="https-1",
        HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "a.example.com"},
    )["HealthCheck"]
    assert "RoutingControlArn" not in https["HealthCheckConfig"]
