"""Issue 15: AWS's documented rules the tool follows, each against the old belief.

Route 53 Disabled + Inverted (UpdateHealthCheck), Lambda function states, CloudFront
origin failover methods, public and private hosted zones with one name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from mr_failover import topology
from mr_failover.errors import RefusedError
from mr_failover.operations.drain import judge_absorbers
from mr_failover.operations.healthcheck import plan_inversion
from mr_failover.resources import cloudfront, compute, dynamodb, route53
from mr_failover.resources.compute import ComputeStatus, FunctionFinding
from mr_failover.resources.route53 import HealthCheckFinding, ZoneNotFound
from mr_failover.resources.section import RegionView
from tests.unit.test_drain import make_topology, region_status, report
from tests.unit.test_mutation_healthcheck import TOPOLOGY, OneClient, observe, r53  # noqa: F401
from tests.unit.test_resources_edge import dist
from tests.unit.test_status import (
    E,
    StubbedFactory,
    W,
    run,
    stub_replication_latency,
    stub_traffic,
    traffic_topology,
)

EXAMPLE = topology.load(Path(__file__).resolve().parents[2] / "config" / "regions.yaml")


# --- Route 53: a disabled, inverted check is unhealthy --------------------------------


def test_a_disabled_inverted_check_is_unhealthy_whatever_the_checkers_see() -> None:
    for raw in (True, False, None):
        assert route53.effective_health(raw, inverted=True, disabled=True) is False
        assert route53.effective_health(raw, inverted=False, disabled=True) is True


def test_status_shows_a_disabled_inverted_region_drained_not_serving() -> None:
    f = StubbedFactory()
    stub_traffic(f, W, ok=8, inverted=True, disabled=True)
    west = run(traffic_topology(), f, regions=[W]).region(W)
    f.assert_all_used()
    assert (west.verdict, west.can_take_over, west.reasons) == ("drained", True, ())
    assert west.warnings == (
        "traffic: health check api-us-west-2 is disabled and inverted: Route 53 treats it "
        "as unhealthy whatever the endpoint does",
    )


def test_the_last_region_guard_does_not_count_a_disabled_inverted_region(r53: Any) -> None:  # noqa: F811
    client, stub = r53
    observe(stub, {}, {"disabled": True, "inverted": True})
    with pytest.raises(RefusedError, match="would leave no region serving healthy traffic"):
        plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=True)


def test_drain_does_not_count_a_disabled_inverted_region_as_an_absorber() -> None:
    t = make_topology()
    off = HealthCheckFinding("api-us-west-2", "hc-w", 1, True, True, None)
    (west,) = judge_absorbers(t, report(region_status(W, checks=(off,))), scale_up=True)
    assert not west.ok
    assert west.blockers == (
        "api-us-west-2 is unhealthy (not checked: disabled; inverted, disabled)",
    )


def test_inverting_a_disabled_check_is_the_documented_way_out(r53: Any) -> None:  # noqa: F811
    client, stub = r53
    observe(stub, {"disabled": True}, {})
    plan = plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=True)
    (step,) = plan.steps
    assert step.params["Inverted"] is True


def test_restoring_a_disabled_check_says_it_will_count_as_healthy(r53: Any) -> None:  # noqa: F811
    client, stub = r53
    observe(stub, {"disabled": True, "inverted": True}, {})
    plan = plan_inversion(TOPOLOGY, OneClient(client), "us-east-1", invert=False)
    assert any(n.startswith("api-us-east-1 disabled: restored") for n in plan.notes)


# --- Lambda function states -------------------------------------------------------------


def _judge(*functions: FunctionFinding) -> Any:
    view = RegionView(
        EXAMPLE, E, {E: {"compute": ComputeStatus(services=(), functions=functions)}}, {}
    )
    return compute.SECTION.judge(view)


def test_an_inactive_or_pending_function_is_a_warning_and_failed_a_reason() -> None:
    j = _judge(
        FunctionFinding("idle", True, "Inactive"),
        FunctionFinding("new", True, "Pending"),
        FunctionFinding("broken", True, "Failed"),
    )
    assert list(j.reasons) == ["compute: lambda broken is Failed"]
    assert [w.split(":")[1].strip() for w in j.warnings] == [
        "lambda idle is Inactive",
        "lambda new is Pending",
    ]
    assert "reactivates it" in j.warnings[0]


# --- CloudFront: origin failover covers GET, HEAD and OPTIONS only ------------------------


def _dist(methods: list[str] | None) -> dict[str, Any]:
    out = dist([500, 502, 503, 504])
    if methods is not None:
        behavior = out["DistributionConfig"]["DefaultCacheBehavior"]  # type: ignore[index]
        behavior["AllowedMethods"] = {"Quantity": len(methods), "Items": methods}
    return out


def test_an_origin_group_behind_a_post_behavior_warns_that_post_does_not_fail_over() -> None:
    spec = EXAMPLE.cloudfront_distributions[0]
    every = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
    found = cloudfront.distribution_finding(spec, _dist(every), {})
    reasons, warnings = cloudfront.cloudfront_problems(
        EXAMPLE, [found], {"us-east-1": "serving", "us-west-2": "serving"}
    )
    assert reasons == {}
    assert warnings == [
        "cloudfront: assets origin group g: origin failover covers only GET, HEAD and "
        "OPTIONS requests; its cache behavior also allows DELETE, PATCH, POST, PUT, which "
        "fail when the primary origin fails"
    ]
    for methods in (None, ["GET", "HEAD", "OPTIONS"]):
        found = cloudfront.distribution_finding(spec, _dist(methods), {})
        assert found.groups[0].unprotected_methods == ()


# --- Route 53: a public and a private hosted zone with one name ---------------------------


def _zone(zone_id: str, private: bool, name: str = "shop.example.com.") -> dict[str, Any]:
    return {
        "Id": f"/hostedzone/{zone_id}",
        "Name": name,
        "CallerReference": zone_id,
        "Config": {"PrivateZone": private},
    }


def _listed(stub: Stubber, *zones: dict[str, Any]) -> None:
    stub.add_response(
        "list_hosted_zones_by_name",
        {
            "HostedZones": list(zones),
            "IsTruncated": False,
            "MaxItems": "100",
            "DNSName": "shop.example.com.",
        },
        {"DNSName": "shop.example.com."},
    )


def test_find_zone_id_takes_the_public_zone_for_a_public_record(r53: Any) -> None:  # noqa: F811
    client, stub = r53
    # The private zone comes first: the old lookup took it.
    _listed(stub, _zone("ZPRIV", True), _zone("ZPUB", False), _zone("ZNEXT", False, "x.com."))
    assert route53.find_zone_id(client.route53, "shop.example.com") == "ZPUB"
    _listed(stub, _zone("ZPRIV", True), _zone("ZPUB", False))
    assert route53.find_zone_id(client.route53, "shop.example.com.", private=True) == "ZPRIV"


def test_find_zone_id_never_guesses(r53: Any) -> None:  # noqa: F811
    client, stub = r53
    _listed(stub, _zone("ZA", True), _zone("ZB", True))
    with pytest.raises(ZoneNotFound, match=r"2 private hosted zones are named shop\.example"):
        route53.find_zone_id(client.route53, "shop.example.com.", private=True)
    _listed(stub, _zone("ZA", True))
    with pytest.raises(ZoneNotFound) as err:
        route53.find_zone_id(client.route53, "shop.example.com.")
    assert "no public hosted zone named shop.example.com." in str(err.value)
    assert "private_zone: true" in str(err.value)


def test_a_record_names_its_zone_kind_in_the_topology() -> None:
    rec = topology.Record.model_validate(
        {
            "zone": "shop.example.com.",
            "name": "api.shop.example.com.",
            "set_identifier": "use1",
            "routing_policy": "latency",
            "value": "api-use1.shop.example.com",
            "private_zone": True,
        }
    )
    assert rec.private_zone is True
    assert (
        topology.Record.model_validate({**rec.model_dump(), "private_zone": False}).private_zone
        is False
    )


# --- DynamoDB: legacy (2017.11.29) global tables ------------------------------------------


def _ddb_table(f: StubbedFactory, region: str, **extra: Any) -> None:
    f.stub("dynamodb", region).add_response(
        "describe_table",
        {"Table": {"TableName": "orders", "TableStatus": "ACTIVE", **extra}},
        {"TableName": "orders"},
    )


def test_a_legacy_global_table_is_read_with_describe_global_table_and_warned_about() -> None:
    # rule: dynamodb-legacy-global-tables. DescribeTable reports no Replicas for a
    # 2017.11.29 table: the old read called it "no replica in us-east-1" (degraded).
    t = topology.Topology.model_validate(
        {
            "application": "shop",
            "account_id": "123456789012",
            "primary_region": E,
            "policy": {"rpo_seconds": 60, "rto_seconds": 900},
            "regions": {r: {"dynamodb_tables": ["orders"]} for r in (E, W)},
        }
    )
    f = StubbedFactory()
    for region, other in ((E, W), (W, E)):
        _ddb_table(f, region)
        f.stub("dynamodb", region).add_response(
            "describe_global_table",
            {
                "GlobalTableDescription": {
                    "GlobalTableName": "orders",
                    "GlobalTableStatus": "ACTIVE",
                    "ReplicationGroup": [{"RegionName": E}, {"RegionName": W}],
                }
            },
            {"GlobalTableName": "orders"},
        )
        stub_replication_latency(f, region, other, None)
    report = run(t, f)
    f.assert_all_used()
    west = report.region(W)
    assert (west.verdict, west.reasons) == ("serving", ())
    assert west.warnings == (
        "dynamodb: orders is a version 2017.11.29 (Legacy) global table (replicas read with "
        "DescribeGlobalTable); AWS recommends upgrading to version 2019.11.21 (Current): "
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_upgrade.html",
    )
    assert west.dynamodb is not None
    assert [r.region for r in west.dynamodb.tables[0].replicas] == [E, W]


def test_a_current_version_table_is_not_asked_describe_global_table() -> None:
    f = StubbedFactory()
    _ddb_table(
        f,
        W,
        GlobalTableVersion="2019.11.21",
        Replicas=[{"RegionName": E, "ReplicaStatus": "ACTIVE"}],
    )
    found = dynamodb.observe_table(f.client("dynamodb", W), "orders")
    # One DescribeTable; a DescribeGlobalTable would have found no stub and failed.
    f.stub("dynamodb", W).assert_no_pending_responses()
    assert (found.version, found.legacy, [r.region for r in found.replicas]) == (
        "2019.11.21",
        False,
        [E],
    )


def test_a_table_that_is_no_global_table_has_no_replicas() -> None:
    f = StubbedFactory()
    _ddb_table(f, W)
    f.stub("dynamodb", W).add_client_error(
        "describe_global_table",
        service_error_code="GlobalTableNotFoundException",
        http_status_code=400,
        expected_params={"GlobalTableName": "orders"},
    )
    found = dynamodb.observe_table(f.client("dynamodb", W), "orders")
    f.stub("dynamodb", W).assert_no_pending_responses()
    assert (found.version, found.replicas) == (None, ())


def test_discover_takes_a_legacy_tables_replicas_and_recommends_the_upgrade() -> None:
    # Only us-east-1's table was found (by tag, say): its legacy replicas, read with
    # DescribeGlobalTable, still make it a global table of both regions.
    from mr_failover.operations import discover

    legacy = dynamodb.TableFinding(
        "orders",
        E,
        "ACTIVE",
        (dynamodb.ReplicaFinding(E, "ACTIVE"), dynamodb.ReplicaFinding(W, "ACTIVE")),
        version="2017.11.29",
    )
    notes: list[discover.Note] = []
    builder = discover._Builder(discover.DiscoverRequest(regions=(E, W)), notes, None)
    builder._dynamodb({E: discover.RegionFacts(tables=(legacy,)), W: discover.RegionFacts()})
    assert builder.regions[E]["dynamodb_tables"] == ["orders"]
    assert builder.regions[W]["dynamodb_tables"] == ["orders"]
    assert [n.text for n in notes] == [
        "table orders is a version 2017.11.29 (Legacy) global table: AWS recommends upgrading "
        "it to version 2019.11.21 (Current) "
        "(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_upgrade.html)"
    ]
