"""Route 53 observation: raw versus effective health, id and zone look-ups, records."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover.errors import AwsCallError
from mr_failover.resources import route53
from mr_failover.topology import HealthCheck, Record


@pytest.fixture
def r53() -> Any:
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    ).client("route53", region_name="us-east-1")


@pytest.mark.parametrize(
    ("raw", "inverted", "disabled", "effective"),
    [
        (True, False, False, True),
        (False, False, False, False),
        (True, True, False, False),  # inversion: the manual failover lever
        (False, True, False, True),
        (False, False, True, True),  # disabled counts as healthy, whatever checkers see
        # ... and Inverted flips that: disabled + inverted is unhealthy (UpdateHealthCheck:
        # to stop routing traffic to a disabled check's resource, change Inverted).
        (True, True, True, False),
        (None, False, False, None),
        (None, True, False, None),
        (None, False, True, True),
    ],
)
def test_effective_health_as_route53_applies_it(
    raw: bool | None, inverted: bool, disabled: bool, effective: bool | None
) -> None:
    assert route53.effective_health(raw, inverted=inverted, disabled=disabled) is effective


def _config(inverted: bool = False, disabled: bool = False) -> dict[str, Any]:
    return {
        "Id": "hc-1",
        "CallerReference": "ref",
        "HealthCheckVersion": 7,
        "HealthCheckConfig": {
            "Type": "HTTPS",
            "FullyQualifiedDomainName": "api.example.com",
            "Inverted": inverted,
            "Disabled": disabled,
        },
    }


def _observations(ok: int, failing: int) -> dict[str, Any]:
    obs = [
        {"Region": "us-east-1", "IPAddress": "192.0.2.1", "StatusReport": {"Status": s}}
        for s in ["Success: HTTP Status Code 200, OK"] * ok
        + ["Failure: Connection timed out."] * failing
    ]
    return {"HealthCheckObservations": obs}


def test_failing_observations_with_inversion(r53: Any) -> None:
    with Stubber(r53) as stub:
        stub.add_response(
            "get_health_check", {"HealthCheck": _config(inverted=True)}, {"HealthCheckId": "hc-1"}
        )
        stub.add_response("get_health_check_status", _observations(1, 7), {"HealthCheckId": "hc-1"})
        finding = route53.observe_health_check(r53, HealthCheck(name="api", id="hc-1"))
        stub.assert_no_pending_responses()
    assert (finding.version, finding.inverted, finding.disabled) == (7, True, False)
    assert (finding.checkers_ok, finding.checkers_total) == (1, 8)
    # 1 of 8 checkers (12.5%) is under Route 53's 18% threshold: raw unhealthy, and
    # inverted, Route 53 would send traffic to this failing endpoint.
    assert finding.raw_healthy is False
    assert finding.effective_healthy is True


def test_two_of_eight_checkers_is_enough_for_healthy(r53: Any) -> None:
    with Stubber(r53) as stub:
        stub.add_response("get_health_check", {"HealthCheck": _config()}, {"HealthCheckId": "hc-1"})
        stub.add_response("get_health_check_status", _observations(2, 6), {"HealthCheckId": "hc-1"})
        finding = route53.observe_health_check(r53, HealthCheck(name="api", id="hc-1"))
    assert finding.raw_healthy is True


def test_health_check_id_is_looked_up_by_name_tag(r53: Any) -> None:
    ids = [f"hc-{i}" for i in range(12)]
    checks = [_config() | {"Id": i} for i in ids]
    with Stubber(r53) as stub:
        stub.add_response(
            "list_health_checks",
            {
                "HealthChecks": checks[:11],
                "IsTruncated": True,
                "NextMarker": "m",
                "Marker": "",
                "MaxItems": "11",
            },
            {},
        )
        stub.add_response(
            "list_health_checks",
            {"HealthChecks": checks[11:], "IsTruncated": False, "Marker": "m", "MaxItems": "11"},
            {"Marker": "m"},
        )
        # ListTagsForResources takes ten ids at a time.
        stub.add_response(
            "list_tags_for_resources",
            {
                "ResourceTagSets": [
                    {
                        "ResourceType": "healthcheck",
                        "ResourceId": i,
                        "Tags": [{"Key": "Name", "Value": f"other-{i}"}],
                    }
                    for i in ids[:10]
                ]
            },
            {"ResourceType": "healthcheck", "ResourceIds": ids[:10]},
        )
        stub.add_response(
            "list_tags_for_resources",
            {
                "ResourceTagSets": [
                    {
                        "ResourceType": "healthcheck",
                        "ResourceId": "hc-11",
                        "Tags": [{"Key": "Name", "Value": "api-west"}],
                    },
                    {
                        "ResourceType": "healthcheck",
                        "ResourceId": "hc-10",
                        "Tags": [{"Key": "team", "Value": "sre"}],
                    },
                ]
            },
            {"ResourceType": "healthcheck", "ResourceIds": ids[10:]},
        )
        assert route53.find_health_check_id(r53, "api-west") == "hc-11"
        stub.assert_no_pending_responses()


def test_missing_name_tag_says_how_to_fix(r53: Any) -> None:
    with Stubber(r53) as stub:
        stub.add_response(
            "list_health_checks",
            {"HealthChecks": [], "IsTruncated": False, "Marker": "", "MaxItems": "100"},
            {},
        )
        with pytest.raises(AwsCallError) as info:
            route53.find_health_check_id(r53, "api-west")
    assert str(info.value) == (
        "route53:ListTagsForResources in us-east-1 failed: no health check is tagged "
        "Name=api-west (tag it, put its id in the topology, or name it in a record's health_check)"
    )


def test_records_found_by_zone_name_and_set_identifier(r53: Any) -> None:
    specs = [
        Record(
            zone="example.com.",
            name="api.example.com.",
            set_identifier=sid,
            routing_policy="weighted",
            weight=1,
            value="x",
        )
        for sid in ("us-east-1", "us-west-2", "eu-west-1")
    ]
    rrs = [
        {
            "Name": "api.example.com.",
            "Type": "CNAME",
            "SetIdentifier": "us-east-1",
            "Weight": 100,
            "TTL": 60,
            "ResourceRecords": [{"Value": "e.example.com"}],
            "HealthCheckId": "hc-e",
        },
        {
            "Name": "api.example.com.",
            "Type": "CNAME",
            "SetIdentifier": "us-west-2",
            "Weight": 0,
            "TTL": 60,
            "ResourceRecords": [{"Value": "w.example.com"}],
        },
        {
            "Name": "www.example.com.",
            "Type": "CNAME",
            "TTL": 60,
            "ResourceRecords": [{"Value": "api.example.com"}],
        },
    ]
    page = {"ResourceRecordSets": rrs, "IsTruncated": False, "MaxItems": "100"}
    with Stubber(r53) as stub:
        stub.add_response(
            "list_hosted_zones_by_name",
            {
                "HostedZones": [
                    {"Id": "/hostedzone/Z1", "Name": "example.com.", "CallerReference": "r"}
                ],
                "IsTruncated": False,
                "MaxItems": "100",
            },
            {"DNSName": "example.com."},
        )
        for _ in specs:
            stub.add_response(
                "list_resource_record_sets",
                page,
                {
                    "HostedZoneId": "Z1",
                    "StartRecordName": "api.example.com.",
                    "StartRecordType": "CNAME",
                },
            )
        found = route53.observe_records(r53, specs)
        stub.assert_no_pending_responses()
    assert [(f.set_identifier, f.found, f.weight, f.health_check_id) for f in found] == [
        ("us-east-1", True, 100, "hc-e"),
        ("us-west-2", True, 0, None),
        ("eu-west-1", False, None, None),
    ]
    assert found[0].values == ("e.example.com",)
