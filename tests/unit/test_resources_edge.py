"""CloudFront origin parsing and judging with shapes the sandbox cannot produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from mr_failover import topology
from mr_failover.resources import cloudfront

EXAMPLE = topology.load(Path(__file__).resolve().parents[2] / "config" / "regions.yaml")


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("b.s3.us-west-2.amazonaws.com", ("us-west-2", "b")),
        ("b.s3-eu-west-1.amazonaws.com", ("eu-west-1", "b")),
        ("arc309-assets-use1.s3.amazonaws.com", ("us-east-1", "arc309-assets-use1")),
        ("unknown.s3.amazonaws.com", (None, "unknown")),
        ("d-abc.execute-api.ap-south-1.amazonaws.com", ("ap-south-1", None)),
        ("lb-1.us-east-2.elb.amazonaws.com", ("us-east-2", None)),
        ("origin.example.com", (None, None)),
    ],
)
def test_origin_region(domain: str, expected: tuple[str | None, str | None]) -> None:
    assert cloudfront.origin_region(domain, {"arc309-assets-use1": "us-east-1"}) == expected


def dist(codes: list[int]) -> dict[str, object]:
    # AWS (and botocore) require a status code; a config read by other means may lack it.
    return {
        "Id": "E1",
        "DomainName": "d.cloudfront.net",
        "Status": "Deployed",
        "DistributionConfig": {
            "Enabled": True,
            "Origins": {
                "Items": [
                    {"Id": "p", "DomainName": "arc309-assets-use1.s3.us-east-1.amazonaws.com"},
                    {"Id": "s", "DomainName": "arc309-assets-usw2.s3.us-west-2.amazonaws.com"},
                ]
            },
            "OriginGroups": {
                "Items": [
                    {
                        "Id": "g",
                        "FailoverCriteria": {"StatusCodes": {"Items": codes}},
                        "Members": {"Items": [{"OriginId": "p"}, {"OriginId": "s"}]},
                    }
                ]
            },
            "DefaultCacheBehavior": {"TargetOriginId": "g"},
        },
    }


def test_a_group_without_failover_criteria_stops_the_secondary_region() -> None:
    spec = EXAMPLE.cloudfront_distributions[0]
    found = cloudfront.distribution_finding(spec, dist([]), {})
    reasons, warnings = cloudfront.cloudfront_problems(
        EXAMPLE, [found], {"us-east-1": "serving", "us-west-2": "drained"}
    )
    assert reasons == {"us-west-2": ["cloudfront: assets origin group g has no failover criteria"]}
    assert warnings == [
        "cloudfront: assets origin group g: secondary origin s is in us-west-2, which is drained"
    ]


def test_a_sound_group_has_no_problem() -> None:
    spec = EXAMPLE.cloudfront_distributions[0]
    found = cloudfront.distribution_finding(spec, dist([502, 503]), {})
    assert found.groups[0].fails_over_on_server_errors
    assert cloudfront.cloudfront_problems(
        EXAMPLE, [found], {"us-east-1": "serving", "us-west-2": "serving"}
    ) == ({}, [])
