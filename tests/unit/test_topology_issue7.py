"""Validation of the issue-7 keys: accelerator, ElastiCache, CloudFront, API endpoints,
readiness items. Exact problem lines, like tests/unit/test_topology.py."""

from __future__ import annotations

from pathlib import Path

from mr_failover import topology
from tests.unit.test_topology import MINIMAL, edit, problems

EXAMPLE = topology.shipped_example()

# test_topology.py's MINIMAL, with a profile for us-west-2 too (same line numbers).
BASE = edit(MINIMAL, "role_arn: arn:aws:iam::012345678901:role/failover", "profile: shop-west")


def load(tmp_path: Path, text: str) -> topology.Topology:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return topology.load(path)


def region_keys(east: str, west: str = "", top: str = "") -> str:
    """BASE with extra lines under each region (indented 4) and at the top level."""
    text = BASE.replace("    profile: shop-east\n", "    profile: shop-east\n" + east)
    text = text.replace("    profile: shop-west\n", "    profile: shop-west\n" + west)
    return top + text


def test_the_example_declares_every_issue7_component(tmp_path: Path) -> None:
    t = load(tmp_path, EXAMPLE)
    assert t.global_accelerator is not None and t.global_accelerator.name == "arc309"
    assert [d.alias for d in t.cloudfront_distributions] == ["assets.arc309.example.com"]
    east, west = t.regions["us-east-1"], t.regions["us-west-2"]
    assert east.elasticache is not None and east.elasticache.role == "primary"
    assert west.elasticache is not None and west.elasticache.role == "secondary"
    assert east.global_accelerator is not None and east.global_accelerator.traffic_dial == 100
    assert [a.record for a in west.api_endpoints] == ["us-west-2"]
    assert west.readiness.templates is not None
    assert west.readiness.templates.source_region == "us-east-1"
    assert west.readiness.code_repository is not None
    assert west.readiness.code_repository.mirror is not None
    assert west.readiness.secrets == ["arc309/db-credentials"]
    assert t.policy.certificate_min_days == 30


def test_endpoint_group_needs_the_accelerator(tmp_path: Path) -> None:
    text = region_keys("    global_accelerator: {traffic_dial: 100}\n")
    assert problems(tmp_path, text) == [
        "F:10:25: regions.us-east-1.global_accelerator: an endpoint group needs the "
        "top-level 'global_accelerator' (the accelerator)"
    ]
    ok = region_keys(
        "    global_accelerator: {traffic_dial: 100}\n", top="global_accelerator: {name: shop}\n"
    )
    assert load(tmp_path, ok).regions["us-east-1"].global_accelerator is not None


def test_a_broken_accelerator_is_reported_once(tmp_path: Path) -> None:
    # The region's endpoint group must not add "needs the top-level global_accelerator".
    text = region_keys(
        "    global_accelerator: {traffic_dial: 100}\n", top="global_accelerator: {}\n"
    )
    assert problems(tmp_path, text) == [
        "F:1:21: global_accelerator: global_accelerator needs 'arn' or 'name'"
    ]


def test_traffic_dial_lever_needs_an_endpoint_group(tmp_path: Path) -> None:
    text = region_keys("    traffic: {drain_lever: traffic_dial}\n")
    assert problems(tmp_path, text) == [
        "F:10:28: regions.us-east-1.traffic.drain_lever: drain_lever: traffic_dial needs "
        "this region's 'global_accelerator' endpoint group"
    ]


def test_traffic_dial_is_a_percentage(tmp_path: Path) -> None:
    text = region_keys(
        "    global_accelerator: {traffic_dial: 101}\n", top="global_accelerator: {name: a}\n"
    )
    assert problems(tmp_path, text) == [
        "F:11:40: regions.us-east-1.global_accelerator.traffic_dial: "
        "must be at most 100, got 101 (an integer)"
    ]


def test_accelerator_arn_shape(tmp_path: Path) -> None:
    text = region_keys("", top="global_accelerator: {arn: 'arn:aws:ec2::1:x'}\n")
    [line] = problems(tmp_path, text)
    assert line.startswith("F:1:27: global_accelerator.arn: expected an accelerator ARN")


def cache(role: str, datastore: str = "shop-cache", group: str = "g") -> str:
    return (
        f"    elasticache: {{global_datastore: {datastore}, replication_group: {group}, "
        f"role: {role}}}\n"
    )


def test_elasticache_one_primary(tmp_path: Path) -> None:
    assert problems(tmp_path, region_keys(cache("primary"), cache("primary"))) == [
        "F:13:77: regions.us-west-2.elasticache.role: two regions claim the elasticache "
        "primary (us-east-1 and us-west-2)"
    ]
    assert problems(tmp_path, region_keys(cache("secondary"), cache("secondary"))) == [
        "F:8:3: regions: no region has elasticache role: primary"
    ]
    t = load(tmp_path, region_keys(cache("primary"), cache("secondary")))
    assert t.regions["us-west-2"].elasticache is not None


def test_elasticache_same_datastore_everywhere(tmp_path: Path) -> None:
    text = region_keys(cache("primary", "a"), cache("secondary", "b"))
    assert problems(tmp_path, text) == [
        "F:8:3: regions: regions name different global datastores: ['a', 'b']"
    ]


def test_elasticache_role_is_primary_or_secondary(tmp_path: Path) -> None:
    [line] = problems(tmp_path, region_keys(cache("writer"), cache("secondary")))
    assert line == (
        "F:10:77: regions.us-east-1.elasticache.role: expected 'primary' or 'secondary', "
        "got 'writer' (a string)"
    )


def test_distribution_needs_id_or_alias_and_a_unique_name(tmp_path: Path) -> None:
    text = region_keys(
        "",
        top="cloudfront_distributions:\n  - {name: a}\n",
    )
    assert problems(tmp_path, text) == [
        "F:2:5: cloudfront_distributions.0: a distribution needs 'id' or 'alias'",
    ]
    text = region_keys(
        "",
        top="cloudfront_distributions:\n  - {name: b, id: E1}\n"
        "  - {name: b, alias: x.example.com}\n",
    )
    assert problems(tmp_path, text) == [
        "F:3:12: cloudfront_distributions.1.name: duplicate distribution name 'b'",
    ]


API = """\
    traffic:
      health_checks: [{name: hc-east}]
      records:
        - {zone: shop.example.com., name: api.shop.example.com., set_identifier: east,
           routing_policy: latency, value: x, health_check: hc-east}
    api_endpoints:
      - {domain: api.shop.example.com, record: %s}
"""


def test_api_endpoint_record_is_a_set_identifier_of_the_region(tmp_path: Path) -> None:
    t = load(tmp_path, region_keys(API % "east"))
    [api] = t.regions["us-east-1"].api_endpoints
    assert (api.api_type, api.base_path, api.record) == ("rest", "", "east")
    assert problems(tmp_path, region_keys(API % "west")) == [
        "F:16:48: regions.us-east-1.api_endpoints.0.record: 'west' is not the "
        "set_identifier of a traffic record of us-east-1"
    ]


def test_api_endpoint_duplicate_domain_and_certificate_arn(tmp_path: Path) -> None:
    text = region_keys(
        "    api_endpoints:\n      - {domain: a.example.com}\n      - {domain: a.example.com,"
        " api_type: grpc, certificate_arn: 'arn:aws:acm:us-east-1:1:cert'}\n"
    )
    assert problems(tmp_path, text) == [
        "F:12:43: regions.us-east-1.api_endpoints.1.api_type: expected 'rest' or 'http', "
        "got 'grpc' (a string)",
        "F:12:66: regions.us-east-1.api_endpoints.1.certificate_arn: expected an ACM "
        "certificate ARN, like arn:aws:acm:us-east-1:012345678901:certificate/ID, "
        "got 'arn:aws:acm:us-east-1:1:cert' (a string)",
    ]
    text = region_keys(
        "    api_endpoints:\n      - {domain: a.example.com}\n      - {domain: a.example.com}\n"
    )
    assert problems(tmp_path, text) == [
        "F:12:18: regions.us-east-1.api_endpoints.1.domain: duplicate api endpoint domain "
        "'a.example.com'"
    ]


def test_templates_source_must_be_another_declared_region(tmp_path: Path) -> None:
    tpl = "    readiness:\n      templates: {bucket: t2, source_bucket: t1, source_region: %s}\n"
    t = load(tmp_path, region_keys("", tpl % "us-east-1"))
    assert t.regions["us-west-2"].readiness.templates is not None
    assert problems(tmp_path, region_keys("", tpl % "us-west-2")) == [
        "F:13:65: regions.us-west-2.readiness.templates.source_region: the templates "
        "source must be another region"
    ]
    assert problems(tmp_path, region_keys("", tpl % "eu-west-1")) == [
        "F:13:65: regions.us-west-2.readiness.templates.source_region: eu-west-1 is not "
        "a declared region"
    ]


def test_readiness_lists_refuse_duplicates_and_unknown_keys(tmp_path: Path) -> None:
    text = region_keys(
        "    readiness:\n      secrets: [a, a]\n      ssm_parameters: [/p, /q, /p]\n"
    )
    assert problems(tmp_path, text) == [
        "F:11:20: regions.us-east-1.readiness.secrets.1: duplicate 'a'",
        "F:12:32: regions.us-east-1.readiness.ssm_parameters.2: duplicate '/p'",
    ]
    text = region_keys("    readiness:\n      code_repository: {name: app, mirrors: x}\n")
    assert problems(tmp_path, text) == [
        "F:11:36: regions.us-east-1.readiness.code_repository.mirrors: unknown key "
        "'mirrors' (did you mean 'mirror'?)",
    ]


def test_certificate_min_days_bounds(tmp_path: Path) -> None:
    text = BASE.replace("  rto_seconds: 900\n", "  rto_seconds: 900\n  certificate_min_days: -1\n")
    assert problems(tmp_path, text) == [
        "F:7:25: policy.certificate_min_days: must be at least 0, got -1 (an integer)"
    ]
