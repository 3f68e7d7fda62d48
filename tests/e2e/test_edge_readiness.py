"""Issue 7 end to end: CloudFront origin groups, regional API endpoints (API Gateway +
ACM + the Route 53 record) and the readiness items, seeded from the example topology
into the sandbox and judged by ``mr-failover status`` (in-process CLI, JSON output).

Each test breaks one thing through the AWS API (or the sandbox, for a certificate's
expiry) and checks the region's reasons name it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from mr_failover.sandbox import acm as sandbox_acm
from mr_failover.sandbox.core import Sandbox
from mr_failover.topology import Topology

WEST = "us-west-2"
EAST = "us-east-1"


def status(run_cli: Any) -> dict[str, Any]:
    result = run_cli("--output", "json", "status")
    assert result.exit_code in (0, 4), result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def region(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in doc["regions"] if r["name"] == name)
    return found


def edge_reasons(r: dict[str, Any]) -> list[str]:
    return [x for x in r["reasons"] if x.split(":")[0] in ("api", "readiness", "cloudfront")]


def test_seeded_example_is_ready_and_shows_every_component(run_cli: Any) -> None:
    doc = status(run_cli)
    for name in (EAST, WEST):
        r = region(doc, name)
        assert edge_reasons(r) == [], r["reasons"]
        [api] = r["api"]["endpoints"]
        assert api["endpoint"]["found"] is True
        assert api["endpoint"]["endpoint_type"] == "REGIONAL"
        assert api["endpoint"]["regional_domain_name"].endswith(
            f".execute-api.{name}.amazonaws.com"
        )
        assert api["endpoint"]["certificate"]["status"] == "ISSUED"
        assert api["certificate_days_left"] > 300
    west = region(doc, WEST)["readiness"]
    assert west["templates"]["present"] is True
    assert west["code"]["found"] is True
    assert [(s["name"], s["status"]) for s in west["secrets"]] == [
        ("arc309/db-credentials", "InSync")
    ]
    assert west["parameters"]["missing"] == []
    [dist] = doc["cloudfront"]
    [group] = dist["groups"]
    assert (group["primary"]["region"], group["secondary"]["region"]) == (EAST, WEST)
    assert group["status_codes"] == [500, 502, 503, 504]
    assert group["targeted"] is True


def test_expiring_certificate_stops_the_region(
    run_cli: Any, e2e_sandbox: Sandbox, aws: Any
) -> None:
    acm = aws("acm", WEST)
    [cert] = acm.list_certificates()["CertificateSummaryList"]
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    sandbox_acm.set_expiry(e2e_sandbox, cert["CertificateArn"], soon)
    r = region(status(run_cli), WEST)
    assert r["can_take_over"] is False
    assert edge_reasons(r) == [
        "api: api.arc309.example.com: certificate expires in 10 days (policy: at least 30)"
    ]
    assert region(status(run_cli), EAST)["can_take_over"] is True


def test_expired_certificate_is_reported_expired(
    run_cli: Any, e2e_sandbox: Sandbox, aws: Any
) -> None:
    [cert] = aws("acm", EAST).list_certificates()["CertificateSummaryList"]
    arn = cert["CertificateArn"]
    sandbox_acm.set_expiry(e2e_sandbox, arn, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    r = region(status(run_cli), EAST)
    assert edge_reasons(r) == [f"api: api.arc309.example.com: certificate {arn} is EXPIRED"]


def test_record_pointing_at_the_other_regions_endpoint(
    run_cli: Any, aws: Any, e2e_topology: Topology
) -> None:
    east_domain = aws("apigateway", EAST).get_domain_name(domainName="api.arc309.example.com")[
        "regionalDomainName"
    ]
    rec = next(r for r in e2e_topology.regions[WEST].traffic.records)
    aws("route53", EAST).change_resource_record_sets(
        HostedZoneId=rec.hosted_zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": rec.name,
                        "Type": rec.type,
                        "SetIdentifier": rec.set_identifier,
                        "Region": WEST,
                        "TTL": rec.ttl,
                        "ResourceRecords": [{"Value": east_domain}],
                    },
                }
            ]
        },
    )
    r = region(status(run_cli), WEST)
    [reason] = edge_reasons(r)
    assert reason.startswith(
        f"api: api.arc309.example.com: record {rec.name} (us-west-2) points at {east_domain}, "
        "not this region's d-"
    )
    assert reason.endswith(f".execute-api.{WEST}.amazonaws.com")


def test_missing_base_path_mapping_and_domain(run_cli: Any, aws: Any) -> None:
    aws("apigateway", WEST).delete_base_path_mapping(
        domainName="api.arc309.example.com", basePath="(none)"
    )
    aws("apigateway", EAST).delete_domain_name(domainName="api.arc309.example.com")
    doc = status(run_cli)
    assert edge_reasons(region(doc, WEST)) == [
        "api: api.arc309.example.com: no base path mapping (root)"
    ]
    assert edge_reasons(region(doc, EAST)) == [
        "api: api.arc309.example.com: no API Gateway custom domain in us-east-1"
    ]


def test_secret_not_in_sync(run_cli: Any, aws: Any) -> None:
    # AWS fails replication when the region already holds a secret of that name: stop
    # replicating, let the copy in us-west-2 stand alone, then replicate again.
    name = "arc309/db-credentials"
    east, west = aws("secretsmanager", EAST), aws("secretsmanager", WEST)
    east.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[WEST])
    east.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    if not west.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]:
        west.create_secret(Name=name, SecretString="hand-made")
    east.create_secret(Name=name, SecretString="new", AddReplicaRegions=[{"Region": WEST}])
    r = region(status(run_cli), WEST)
    [reason] = edge_reasons(r)
    assert reason.startswith(
        "readiness: secret arc309/db-credentials replica is Failed (primary us-east-1) "
        "(Replication failed"
    )


def test_missing_parameter_repository_and_template(run_cli: Any, aws: Any) -> None:
    aws("ssm", WEST).delete_parameter(Name="/arc309/config/feature-flags")
    aws("codecommit", WEST).delete_repository(repositoryName="arc309-app")
    aws("codecommit", WEST).delete_repository(repositoryName="arc309-app-mirror")
    # With replication on, the sandbox copies a new template within its lag (50 ms here):
    # turned off, the new template never reaches us-west-2.
    aws("s3", EAST).delete_bucket_replication(Bucket="arc309-templates-use1")
    aws("s3", EAST).put_object(Bucket="arc309-templates-use1", Key="templates/v2.yaml", Body=b"v2")
    r = region(status(run_cli), WEST)
    assert sorted(edge_reasons(r)) == sorted(
        [
            "readiness: newest template templates/v2.yaml of arc309-templates-use1 "
            "(us-east-1) not in arc309-templates-usw2",
            "readiness: no code repository arc309-app in us-west-2 and no mirror "
            "arc309-app-mirror in us-west-2",
            "readiness: SSM parameter /arc309/config/feature-flags missing in us-west-2",
        ]
    )


def test_mirror_is_enough(run_cli: Any, aws: Any) -> None:
    aws("codecommit", WEST).delete_repository(repositoryName="arc309-app")
    r = region(status(run_cli), WEST)
    assert edge_reasons(r) == []
    assert r["readiness"]["code"]["mirror_found"] is True


def _group_config(aws: Any, mutate: Any) -> None:
    cf = aws("cloudfront", EAST)
    [item] = cf.list_distributions()["DistributionList"]["Items"]
    got = cf.get_distribution_config(Id=item["Id"])
    config = got["DistributionConfig"]
    mutate(config)
    cf.update_distribution(Id=item["Id"], IfMatch=got["ETag"], DistributionConfig=config)


def test_origin_group_failing_over_only_on_404_is_flagged(run_cli: Any, aws: Any) -> None:
    def only_404(config: dict[str, Any]) -> None:
        config["OriginGroups"]["Items"][0]["FailoverCriteria"]["StatusCodes"] = {
            "Quantity": 1,
            "Items": [404],
        }

    _group_config(aws, only_404)
    r = region(status(run_cli), WEST)
    assert edge_reasons(r) == [
        "cloudfront: assets origin group assets-failover fails over only on 404, not on 5xx errors"
    ]


def test_origin_group_not_targeted_and_secondary_not_the_replica(run_cli: Any, aws: Any) -> None:
    def break_it(config: dict[str, Any]) -> None:
        config["DefaultCacheBehavior"]["TargetOriginId"] = "primary"
        config["Origins"]["Items"][1]["DomainName"] = "arc309-other.s3.us-west-2.amazonaws.com"

    _group_config(aws, break_it)
    r = region(status(run_cli), WEST)
    assert edge_reasons(r) == [
        "cloudfront: assets origin group assets-failover is not the target of any cache behavior",
        "cloudfront: assets origin group assets-failover: secondary bucket arc309-other is not "
        "the replication destination of arc309-assets-use1",
    ]


def test_secondary_origin_in_an_unreachable_region_is_a_warning(run_cli: Any, control: Any) -> None:
    control.fail_region(WEST)
    doc = status(run_cli)
    assert region(doc, WEST)["verdict"] == "unreachable"
    assert (
        "cloudfront: assets origin group assets-failover: secondary origin secondary is in "
        "us-west-2, which is unreachable"
    ) in doc["warnings"]
