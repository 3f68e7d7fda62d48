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
        carried = route53._carried_checks(route53._Seen(client), (_check("hc-api"),), records)
    stub.assert_no_pending_responses()
    assert [(c.id, c.type, c.children, c.health_threshold) for c in carried] == [
        ("hc-calc", "CALCULATED", ("hc-api", "hc-rc"), 2),
        ("hc-rc", "RECOVERY_CONTROL", (), None),
    ]


def _client() -> Any:
    import boto3

    return boto3.client(
        "route53", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _hc(check_id: str, config: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {
        "Id": check_id,
        "CallerReference": check_id,
        "HealthCheckConfig": config,
        "HealthCheckVersion": version,
    }


_ENDPOINT = {"Type": "HTTPS", "FullyQualifiedDomainName": "api.example.com", "Inverted": True}
_CALCULATED = {"Type": "CALCULATED", "ChildHealthChecks": ["hc-api", "hc-rc"], "HealthThreshold": 2}
_CONTROL = {"Type": "RECOVERY_CONTROL", "RoutingControlArn": CONTROL}


def _traffic(check: dict[str, Any]) -> Any:
    region = _region("health_check_inversion").model_dump()
    region["traffic"]["health_checks"] = [check]
    region["traffic"]["records"][0]["hosted_zone_id"] = "Z1"
    return Region.model_validate(region).traffic


def _stub_records(stub: Stubber) -> None:
    stub.add_response(
        "list_resource_record_sets",
        {
            "ResourceRecordSets": [
                {
                    "Name": "api.example.com.",
                    "Type": "CNAME",
                    "SetIdentifier": "use1",
                    "Region": "us-east-1",
                    "TTL": 60,
                    "ResourceRecords": [{"Value": "api-use1.example.com"}],
                    "HealthCheckId": "hc-calc",
                }
            ],
            "IsTruncated": False,
            "MaxItems": "100",
        },
        {"HostedZoneId": "Z1", "StartRecordName": "api.example.com.", "StartRecordType": "CNAME"},
    )


def _carried(t: TrafficStatus) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(c.id, c.type, c.children) for c in t.carried_checks]


def test_a_read_that_lists_the_checks_takes_every_configuration_from_the_listing() -> None:
    client = _client()
    stub = Stubber(client)
    stub.add_response(
        "list_health_checks",
        {
            "HealthChecks": [
                _hc("hc-api", _ENDPOINT, version=7),
                _hc("hc-calc", _CALCULATED),
                _hc("hc-rc", _CONTROL),
            ],
            "Marker": "",
            "IsTruncated": False,
            "MaxItems": "100",
        },
        {},
    )
    stub.add_response(
        "list_tags_for_resources",
        {
            "ResourceTagSets": [
                {
                    "ResourceType": "healthcheck",
                    "ResourceId": "hc-api",
                    "Tags": [{"Key": "Name", "Value": "api"}],
                },
            ]
        },
        {"ResourceType": "healthcheck", "ResourceIds": ["hc-api", "hc-calc", "hc-rc"]},
    )
    _stub_records(stub)
    # No GetHealthCheck: the Stubber fails on any call not queued above.
    with stub:
        t = route53.read_traffic(client, _traffic({"name": "api", "fqdn": "api.example.com"}))
    stub.assert_no_pending_responses()
    (hc,) = t.health_checks
    assert (hc.id, hc.version, hc.inverted, hc.type) == ("hc-api", 7, True, "HTTPS")
    assert [r.health_check_id for r in t.records] == ["hc-calc"]
    assert _carried(t) == [
        ("hc-calc", "CALCULATED", ("hc-api", "hc-rc")),
        ("hc-rc", "RECOVERY_CONTROL", ()),
    ]


def test_a_read_of_checks_declared_by_id_lists_one_page_then_gets_what_is_not_in_it() -> None:
    client = _client()
    stub = Stubber(client)
    # One page, truncated: hc-rc is past it, so it is got on its own.
    stub.add_response(
        "list_health_checks",
        {
            "HealthChecks": [_hc("hc-api", _ENDPOINT, version=3), _hc("hc-calc", _CALCULATED)],
            "Marker": "",
            "IsTruncated": True,
            "NextMarker": "hc-rc",
            "MaxItems": "1000",
        },
        {"MaxItems": "1000"},
    )
    _stub_records(stub)
    stub.add_response(
        "get_health_check", {"HealthCheck": _hc("hc-rc", _CONTROL)}, {"HealthCheckId": "hc-rc"}
    )
    with stub:
        t = route53.read_traffic(client, _traffic({"name": "api", "id": "hc-api"}))
    stub.assert_no_pending_responses()
    assert [(c.id, c.version, c.inverted) for c in t.health_checks] == [("hc-api", 3, True)]
    assert _carried(t) == [
        ("hc-calc", "CALCULATED", ("hc-api", "hc-rc")),
        ("hc-rc", "RECOVERY_CONTROL", ()),
    ]


def test_the_guard_of_a_change_gets_the_carried_checks_afresh() -> None:
    client = _client()
    stub = Stubber(client)
    _stub_records(stub)
    for check_id, config in (("hc-calc", _CALCULATED), ("hc-rc", _CONTROL)):
        stub.add_response(
            "get_health_check", {"HealthCheck": _hc(check_id, config)}, {"HealthCheckId": check_id}
        )
    region = _region("routing_control").model_dump()
    region["traffic"]["records"][0]["hosted_zone_id"] = "Z1"
    with stub:
        route53.require_lever_moves_traffic(
            client, "us-east-1", Region.model_validate(region), (_check("hc-api"),)
        )
    stub.assert_no_pending_responses()
