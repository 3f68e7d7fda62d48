"""discover's pure parts: ARNs and stack resources filed, the commented file, the merge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mr_failover import topology as topo
from mr_failover.errors import UsageError
from mr_failover.operations.discover import (
    DiscoverRequest,
    Discovery,
    Inventory,
    Note,
    add_arn,
    add_stack_resource,
    parameter_names,
    secret_name,
)
from mr_failover.operations.discover_yaml import merge, render, todo_comments

REQUEST = DiscoverRequest(regions=("us-east-1", "us-west-2"), tags=(("app", "shop"),))


def test_arns_are_filed_by_service_and_region() -> None:
    inv, notes = Inventory(), []
    for arn in (
        "arn:aws:rds:us-east-1:123456789012:cluster:shop-use1",
        "arn:aws:rds:us-east-1:123456789012:db:shop-use1-1",
        "arn:aws:dynamodb:us-west-2:123456789012:table/orders",
        "arn:aws:dynamodb:us-west-2:123456789012:table/orders/stream/2024",
        "arn:aws:s3:::shop-assets",
        "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:cache-use1",
        "arn:aws:ecs:us-east-1:123456789012:service/shop/api",
        "arn:aws:ecs:us-east-1:123456789012:service/legacy",
        "arn:aws:lambda:us-west-2:123456789012:function:stream:3",
        "arn:aws:globalaccelerator::123456789012:accelerator/abc",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/1",
    ):
        add_arn(inv, arn, notes)
    assert inv.clusters == {"us-east-1": {"shop-use1"}}
    assert inv.tables == {"us-west-2": {"orders"}}
    assert inv.buckets == {"shop-assets": "us-east-1"}
    assert inv.cache_groups == {"us-east-1": {"cache-use1"}}
    assert inv.ecs_services == {"us-east-1": {("shop", "api")}}
    assert inv.functions == {"us-west-2": {"stream"}}
    assert inv.accelerators == {"arn:aws:globalaccelerator::123456789012:accelerator/abc"}
    # Kept for Global Accelerator: endpoints are load balancers, instances, addresses.
    assert "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/1" in (
        inv.others
    )
    # The old ECS ARN has no cluster: said, not guessed.
    assert [n.where for n in notes] == [("regions", "us-east-1", "compute", "ecs_services")]


def test_stack_resources_are_filed_by_type() -> None:
    inv = Inventory()
    add_stack_resource(
        inv, "us-east-1", {"ResourceType": "AWS::RDS::DBCluster", "PhysicalResourceId": "db"}
    )
    add_stack_resource(
        inv, "us-east-1", {"ResourceType": "AWS::S3::Bucket", "PhysicalResourceId": "b"}
    )
    add_stack_resource(
        inv,
        "us-east-1",
        {
            "ResourceType": "AWS::ECS::Service",
            "PhysicalResourceId": "arn:aws:ecs:us-east-1:123456789012:service/c/s",
        },
    )
    add_stack_resource(
        inv, "us-east-1", {"ResourceType": "AWS::SQS::Queue", "PhysicalResourceId": "q"}
    )
    assert inv.clusters == {"us-east-1": {"db"}}
    assert inv.buckets == {"b": "us-east-1"}
    assert inv.ecs_services == {"us-east-1": {("c", "s")}}
    assert not inv.empty()


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (DiscoverRequest(regions=("us-east-1",), tags=(("a", "b"),)), "two or more"),
        (DiscoverRequest(regions=("us-east-1", "us-west-2")), "--tag"),
        (DiscoverRequest(regions=("us-east-1", "mars-1")), "not an AWS region"),
        (
            DiscoverRequest(regions=("us-east-1", "us-west-2"), domains=("x",), takeover_factor=0),
            "more than 0",
        ),
    ],
)
def test_requests_that_cannot_be_answered(request_: DiscoverRequest, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        request_.check()


def _discovery() -> Discovery:
    data = {
        "application": "shop",
        "account_id": "123456789012",
        "primary_region": "us-east-1",
        "policy": {"rpo_seconds": 60, "rto_seconds": 900},
        "regions": {
            "us-east-1": {
                "aurora": {
                    "mode": "global",
                    "global_cluster": "g",
                    "cluster": "a",
                    "role": "writer",
                },
                "dynamodb_tables": ["orders"],
                "compute": {"ecs_services": [{"cluster": "shop", "service": "api"}]},
            },
            "us-west-2": {
                "aurora": {
                    "mode": "global",
                    "global_cluster": "g",
                    "cluster": "b",
                    "role": "secondary",
                },
                "dynamodb_tables": ["orders"],
            },
        },
    }
    notes = [
        Note(("policy", "rpo_seconds"), "your objective", "todo"),
        Note(
            ("regions", "us-east-1", "compute", "ecs_services", 0),
            "takeover_desired: yours",
            "todo",
        ),
        Note((), "something at the top"),
    ]
    return Discovery(data, notes, REQUEST)


def test_the_rendered_file_validates_and_validate_finds_its_comments(tmp_path: Path) -> None:
    text = render(_discovery())
    path = tmp_path / "t.yaml"
    path.write_text(text)
    loaded = topo.load(path)
    assert loaded.writer_region() == "us-east-1"
    assert "dynamodb_tables: [orders]" in text
    found = todo_comments(text)
    assert [w for _, _, w in found] == [
        "PROBLEM: something at the top",
        "TODO: your objective",
        "TODO: takeover_desired: yours",
    ]
    lines = text.splitlines()
    line, col, _ = found[2]
    # The comment sits right above the ECS service it is about, at its dash.
    assert lines[line - 1][col - 1 :].startswith("# TODO")
    assert lines[line].strip().startswith("- cluster: shop")


def test_todo_comments_ignore_hashes_in_values() -> None:
    assert todo_comments("name: 'a # TODO not a comment'\nx: 1  # TODO: yes\n") == [
        (2, 7, "TODO: yes")
    ]


def test_merge_keeps_the_users_comments_and_values_adds_and_reports(tmp_path: Path) -> None:
    existing = render(_discovery())
    existing = existing.replace("application: shop", "application: shop  # mine")
    existing = existing.replace("rpo_seconds: 60", "rpo_seconds: 5")
    existing = existing.replace("dynamodb_tables: [orders]", "dynamodb_tables: [orders, gone]")
    new = _discovery()
    new.data["regions"]["us-west-2"]["s3_buckets"] = [{"name": "new-bucket"}]
    new.data["regions"]["us-east-1"]["aurora"]["role"] = "secondary"
    new.data["regions"]["us-west-2"]["aurora"]["role"] = "writer"
    text, report = merge(existing, new)
    assert "application: shop  # mine" in text
    assert "rpo_seconds: 5" in text
    assert "regions.us-west-2.s3_buckets" in report.added
    assert any("gone" in g for g in report.gone)
    assert any("role: kept 'writer'" in k for k in report.kept)
    path = tmp_path / "m.yaml"
    path.write_text(text)
    assert topo.load(path).regions["us-west-2"].s3_buckets[0].name == "new-bucket"


def test_readiness_arns_are_filed_with_their_names() -> None:
    inv, notes = Inventory(), []
    for arn in (
        "arn:aws:codecommit:us-west-2:123456789012:shop-app",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-credentials-a1B2c3",
        "arn:aws:secretsmanager:us-west-2:123456789012:secret:shop/db-credentials-a1B2c3",
        "arn:aws:secretsmanager:us-west-2:123456789012:secret:short",
        "arn:aws:ssm:us-east-1:123456789012:parameter/shop/config/flags",
        "arn:aws:ssm:us-east-1:123456789012:parameter/flat",
        "arn:aws:ssm:us-east-1:123456789012:document/shop-runbook",
    ):
        add_arn(inv, arn, notes)
    assert inv.repositories == {"us-west-2": {"shop-app"}}
    # A secret's ARN ends in "-" and six random characters after its name; a replica is
    # listed in its own region. An ARN without that suffix names no secret: left out.
    assert inv.secrets == {
        "us-east-1": {"shop/db-credentials"},
        "us-west-2": {"shop/db-credentials"},
    }
    assert inv.parameters == {"us-east-1": {"shop/config/flags", "flat"}}
    assert secret_name("a-b-123456") == "a-b" and secret_name("abc") is None
    assert not notes and not inv.empty()


def test_parameter_names_are_asked_of_ssm_with_and_without_the_leading_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        for name in ("/shop/config/flags", "/flat", "plain", "/shop/other"):
            ssm.put_parameter(Name=name, Value="v", Type="String")
        # 119 candidate names: DescribeParameters is asked in batches of at most 50.
        tails = ["shop/config/flags", "flat", "plain", *[f"missing{i}" for i in range(57)]]
        assert parameter_names(ssm, tails) == ["/flat", "/shop/config/flags", "plain"]


def test_merge_keeps_the_users_readiness_choices_without_calling_them_gone() -> None:
    found = _discovery()
    found.data["regions"]["us-west-2"]["readiness"] = {
        "code_repository": {"name": "app"},
        "secrets": ["db", "api-key"],
    }
    existing = render(found).replace(
        "      code_repository:\n        name: app\n",
        "      templates: {bucket: t-usw2, source_bucket: t-use1, source_region: us-east-1}\n"
        "      code_repository:\n        name: app\n        mirror: {name: app-mirror}\n",
    )
    assert "app-mirror" in existing
    again = _discovery()
    again.data["regions"]["us-west-2"]["readiness"] = {
        "code_repository": {"name": "app"},
        "secrets": ["db"],
    }
    text, report = merge(existing, again)
    assert "templates: {bucket: t-usw2" in text and "mirror: {name: app-mirror}" in text
    assert report.gone == [
        "regions.us-west-2.readiness.secrets: api-key: not found in AWS (kept; remove it if "
        "it is gone)"
    ]


def test_a_records_calculated_check_leads_to_its_endpoint_check_and_routing_control() -> None:
    from mr_failover.operations.discover import DomainRecords, _Builder

    control = "arn:aws:route53-recovery-control::123456789012:controlpanel/p/routingcontrol/use1"
    cluster = "arn:aws:route53-recovery-control::123456789012:cluster/c"

    def built(threshold: int) -> tuple[dict[str, Any], list[Note]]:
        checks = {
            "calc": {
                "HealthCheckConfig": {
                    "Type": "CALCULATED",
                    "ChildHealthChecks": ["ep", "rc"],
                    "HealthThreshold": threshold,
                }
            },
            "ep": {
                "HealthCheckConfig": {
                    "Type": "HTTPS",
                    "FullyQualifiedDomainName": "api-us-east-1.example.com",
                    "Port": 443,
                    "ResourcePath": "/health",
                }
            },
            "rc": {"HealthCheckConfig": {"Type": "RECOVERY_CONTROL", "RoutingControlArn": control}},
        }
        d = DomainRecords(
            domain="api.example.com.",
            zone="example.com.",
            zone_id="Z1",
            records=(
                {
                    "Name": "api.example.com.",
                    "Type": "CNAME",
                    "SetIdentifier": "us-east-1",
                    "Region": "us-east-1",
                    "TTL": 60,
                    "ResourceRecords": [{"Value": "api-us-east-1.example.com"}],
                    "HealthCheckId": "calc",
                },
            ),
            checks=checks,
            check_names={"ep": "api-us-east-1"},
        )
        notes: list[Note] = []
        b = _Builder(REQUEST, notes, "123456789012")
        b._traffic([d], {}, {control: cluster})
        assert b.arc_clusters == {cluster}
        return b.regions["us-east-1"]["traffic"], notes

    traffic, notes = built(2)
    assert traffic["drain_lever"] == "health_check_inversion"
    assert traffic["routing_controls"] == [control]
    assert [c["name"] for c in traffic["health_checks"]] == ["api-us-east-1"]
    assert traffic["records"][0]["health_check"] == "api-us-east-1"
    assert not notes
    # One healthy child is enough: turning one off moves nothing, and it is said.
    _, notes = built(1)
    assert [n.where for n in notes] == [("regions", "us-east-1", "traffic")]
    assert "healthy with 1 of its 2 children" in notes[0].text
