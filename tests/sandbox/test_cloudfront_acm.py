"""The sandbox's CloudFront origin-group targets and ACM issuance/expiry, over HTTP."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import botocore.exceptions
import pytest

from mr_failover.sandbox import acm as sandbox_acm
from mr_failover.sandbox import cloudfront as sandbox_cloudfront
from mr_failover.sandbox.core import Sandbox


def config(codes: list[int], members: list[str], target: str = "g") -> dict[str, Any]:
    return {
        "CallerReference": f"ref-{target}-{len(members)}-{codes}",
        "Comment": "t",
        "Enabled": True,
        "Origins": {
            "Quantity": 2,
            "Items": [
                {
                    "Id": oid,
                    "DomainName": f"b-{oid}.s3.us-east-1.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
                for oid in ("p", "s")
            ],
        },
        "OriginGroups": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "g",
                    "FailoverCriteria": {"StatusCodes": {"Quantity": len(codes), "Items": codes}},
                    "Members": {
                        "Quantity": len(members),
                        "Items": [{"OriginId": m} for m in members],
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": target,
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
    }


def test_a_cache_behaviour_may_target_an_origin_group(aws: Any) -> None:
    cf = aws("cloudfront", "us-east-1")
    dist = cf.create_distribution(DistributionConfig=config([500, 503], ["p", "s"]))
    got = cf.get_distribution(Id=dist["Distribution"]["Id"])["Distribution"]
    assert got["DistributionConfig"]["DefaultCacheBehavior"]["TargetOriginId"] == "g"
    assert got["DistributionConfig"]["OriginGroups"]["Items"][0]["Id"] == "g"


@pytest.mark.parametrize(
    ("codes", "members", "target", "code", "words"),
    [
        ([500], ["p", "s"], "nowhere", "NoSuchOrigin", "do not exist"),
        ([500], ["p", "x"], "g", "InvalidArgument", "names origins that do not exist: x"),
        ([200, 500], ["p", "s"], "g", "InvalidArgument", "status codes [200] cannot"),
    ],
)
def test_invalid_targets_and_groups_are_refused(
    aws: Any, codes: list[int], members: list[str], target: str, code: str, words: str
) -> None:
    cf = aws("cloudfront", "us-east-1")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        cf.create_distribution(DistributionConfig=config(codes, members, target))
    assert info.value.response["Error"]["Code"] == code
    assert words in info.value.response["Error"]["Message"]


def test_requested_certificate_is_issued_and_expiry_can_be_chosen(
    aws: Any, sandbox: Sandbox
) -> None:
    acm = aws("acm", "eu-west-1")
    arn = acm.request_certificate(DomainName="api.example.com", ValidationMethod="DNS")[
        "CertificateArn"
    ]
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED"
    soon = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    sandbox_acm.set_expiry(sandbox, arn, soon)
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert (cert["Status"], cert["NotAfter"]) == ("ISSUED", soon)
    sandbox_acm.set_expiry(sandbox, arn, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "EXPIRED"


@pytest.mark.parametrize("hook", [*sandbox_cloudfront.HOOKS, *sandbox_acm.HOOKS])
def test_patched_moto_attributes_exist(hook: str) -> None:
    module_name, cls_name, attr = hook.rsplit(".", 2)
    assert hasattr(getattr(importlib.import_module(module_name), cls_name), attr)
