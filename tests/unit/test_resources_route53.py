"""Route 53 observation: raw versus effective health, id and zone look-ups, records."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover.errors import AwsCallError
from mr_failover.resources import route53
from mr_failover.topology import HealthCheck, Record, Traffic
from tests.route53_health import endpoint, share, stub_health


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


@pytest.fixture
def cw() -> Any:
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    ).client("cloudwatch", region_name="us-east-1")


def test_failing_checkers_with_inversion(r53: Any, cw: Any) -> None:
    with Stubber(r53) as stub, Stubber(cw) as metrics:
        stub.add_response(
            "get_health_check", {"HealthCheck": _config(inverted=True)}, {"HealthCheckId": "hc-1"}
        )
        stub_health(metrics, {"hc-1": endpoint(share(1, 7), inverted=True)})
        finding = route53.observe_health_check(
            r53, HealthCheck(name="api", id="hc-1"), cloudwatch=cw
        )
        stub.assert_no_pending_responses()
        metrics.assert_no_pending_responses()
    assert (finding.version, finding.inverted, finding.disabled) == (7, True, False)
    assert finding.healthy_percent == 12.5
    # 1 of 8 checkers (12.5%) is under Route 53's 18% threshold: raw unhealthy, and
    # inverted, Route 53 would send traffic to this failing endpoint.
    assert finding.raw_healthy is False
    assert finding.effective_healthy is True


def test_two_of_eight_checkers_is_enough_for_healthy(r53: Any, cw: Any) -> None:
    with Stubber(r53) as stub, Stubber(cw) as metrics:
        stub.add_response("get_health_check", {"HealthCheck": _config()}, {"HealthCheckId": "hc-1"})
        stub_health(metrics, {"hc-1": endpoint(share(2, 6))})
        finding = route53.observe_health_check(
            r53, HealthCheck(name="api", id="hc-1"), cloudwatch=cw
        )
    assert finding.raw_healthy is True
    assert finding.health_words == "checkers: 25% report healthy"


def test_without_cloudwatch_only_the_configuration_is_read(r53: Any) -> None:
    with Stubber(r53) as stub:
        stub.add_response("get_health_check", {"HealthCheck": _config()}, {"HealthCheckId": "hc-1"})
        finding = route53.observe_health_check(r53, HealthCheck(name="api", id="hc-1"))
    assert (finding.health_read, finding.raw_healthy, finding.health_words) == (
        False,
        None,
        "health not read",
    )


def _calculated(check_id: str, *, inverted: bool = False) -> dict[str, Any]:
    return {
        "Id": check_id,
        "CallerReference": "ref",
        "HealthCheckVersion": 1,
        "HealthCheckConfig": {
            "Type": "CALCULATED",
            "ChildHealthChecks": ["hc-a", "hc-b"],
            "HealthThreshold": 1,
            "Inverted": inverted,
        },
    }


@pytest.mark.parametrize(
    ("status", "inverted", "raw", "effective"),
    [(1.0, False, True, True), (0.0, False, False, False), (0.0, True, True, False)],
)
def test_a_calculated_check_reads_route53s_status_metric(
    r53: Any, cw: Any, status: float, inverted: bool, raw: bool, effective: bool
) -> None:
    # GetHealthCheckStatus cannot read a calculated check; CloudWatch's HealthCheckStatus
    # can (there is no checkers' share). Inversion is taken back out for the raw health.
    with Stubber(r53) as stub, Stubber(cw) as metrics:
        stub.add_response(
            "get_health_check",
            {"HealthCheck": _calculated("hc-calc", inverted=inverted)},
            {"HealthCheckId": "hc-calc"},
        )
        stub_health(metrics, {"hc-calc": (None, status)})
        finding = route53.observe_health_check(
            r53, HealthCheck(name="calc", id="hc-calc"), cloudwatch=cw
        )
    assert (finding.raw_healthy, finding.effective_healthy) == (raw, effective)
    assert finding.health_words == f"Route 53 status {status:.0f}"


def test_no_datapoint_is_unknown_not_healthy(r53: Any, cw: Any) -> None:
    # A check created in the last minute has no datapoint yet: unknown, and it says why.
    with Stubber(r53) as stub, Stubber(cw) as metrics:
        stub.add_response("get_health_check", {"HealthCheck": _config()}, {"HealthCheckId": "hc-1"})
        stub_health(metrics, {"hc-1": (None, None)})
        finding = route53.observe_health_check(
            r53, HealthCheck(name="api", id="hc-1"), cloudwatch=cw
        )
    assert (finding.raw_healthy, finding.effective_healthy) == (None, None)
    assert finding.health_words.startswith("no AWS/Route53 datapoint in CloudWatch (us-east-1)")


def test_every_regions_checks_are_read_in_one_metric_call(r53: Any, cw: Any) -> None:
    traffics = {
        r: Traffic.model_validate(
            {"drain_lever": "health_check_inversion", "health_checks": [{"name": r, "id": r}]}
        )
        for r in ("hc-e", "hc-w")
    }
    with Stubber(r53) as stub, Stubber(cw) as metrics:
        for check_id in traffics:
            stub.add_response(
                "get_health_check",
                {"HealthCheck": _config() | {"Id": check_id}},
                {"HealthCheckId": check_id},
            )
        stub_health(metrics, {"hc-e": endpoint(100.0), "hc-w": endpoint(0.0)})
        found = route53.observe_checks_of(r53, traffics, cloudwatch=cw)
        metrics.assert_no_pending_responses()  # one GetMetricData answered both
    assert [c.raw_healthy for c in found["hc-e"]] == [True]
    assert [c.raw_healthy for c in found["hc-w"]] == [False]


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
