"""operations.replication with botocore Stubber: what moto cannot show (AWS-FACTS.md).

Each test's topology holds one kind of resource (tables, or buckets, or Aurora), so each
(service, region) client is used by one observation task and sees its calls in the fixed
order Stubber requires.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.stub import ANY, Stubber

from mr_failover.errors import EXIT_NOT_READY, EXIT_OK, RefusedError
from mr_failover.operations.replication import (
    ReplicationReport,
    canary_key,
    canary_object_key,
    check_replication,
)
from mr_failover.topology import Topology

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
E, W = "us-east-1", "us-west-2"
RUN = "run1"
TABLE = "shop-orders"
BUCKETS = {E: "shop-assets-use1", W: "shop-assets-usw2"}


# One session for every test: it caches the service models, making each client cheap.
_SESSION = boto3.session.Session(
    aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=E
)


def _session() -> boto3.session.Session:
    return _SESSION


class StubbedFactory:
    """ClientSource of Stubber-backed clients; regions in ``dead`` refuse connections."""

    def __init__(self, dead: dict[str, str] | None = None) -> None:
        self.clients: dict[tuple[str, str], Any] = {}
        self.stubbers: dict[tuple[str, str], Stubber] = {}
        self.dead = dead or {}

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self.clients:
            if region in self.dead:
                config = botocore.config.Config(
                    connect_timeout=0.5,
                    read_timeout=0.5,
                    retries={"mode": "standard", "total_max_attempts": 1},
                )
                self.clients[key] = _session().client(
                    service, region_name=region, endpoint_url=self.dead[region], config=config
                )
            else:
                self.clients[key] = _session().client(service, region_name=region)
                self.stubbers[key] = Stubber(self.clients[key])
                self.stubbers[key].activate()
        return self.clients[key]

    def stub(self, service: str, region: str) -> Stubber:
        self.client(service, region)
        return self.stubbers[(service, region)]

    def assert_all_used(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


class FakeClock:
    """Time moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def refused_port() -> Iterator[str]:
    """A loopback URL where nothing listens: connection refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


def topology(regions: dict[str, dict[str, Any]], rpo: int = 60) -> Topology:
    return Topology.model_validate(
        {
            "application": "shop",
            "account_id": ACCOUNT,
            "primary_region": E,
            "policy": {"rpo_seconds": rpo, "rto_seconds": 900},
            "regions": regions,
        }
    )


def run(t: Topology, f: StubbedFactory, **kw: Any) -> ReplicationReport:
    kw.setdefault("clock", FakeClock())
    return check_replication(t, f, now=lambda: NOW, deadline=5, **kw)


def metric_query(
    i: int, namespace: str, metric: str, dims: list[tuple[str, str]], stat: str
) -> Any:
    return {
        "Id": f"q{i}",
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": n, "Value": v} for n, v in dims],
            },
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def stub_metrics(
    f: StubbedFactory, region: str, queries: list[dict[str, Any]], values: list[float | None]
) -> None:
    results = [
        {
            "Id": q["Id"],
            "Timestamps": [] if v is None else [NOW - timedelta(minutes=1)],
            "Values": [] if v is None else [v],
        }
        for q, v in zip(queries, values, strict=True)
    ]
    f.stub("cloudwatch", region).add_response(
        "get_metric_data",
        {"MetricDataResults": results},
        {
            "MetricDataQueries": queries,
            "StartTime": NOW - timedelta(minutes=14),
            "EndTime": NOW + timedelta(minutes=1),
            "ScanBy": "TimestampDescending",
        },
    )


# --- DynamoDB --------------------------------------------------------------------------


def ddb_topology(rpo: int = 60) -> Topology:
    return topology({r: {"dynamodb_tables": [TABLE]} for r in (E, W)}, rpo=rpo)


def stub_table(
    f: StubbedFactory, region: str, replicas: dict[str, str] | None = None, status: str = "ACTIVE"
) -> None:
    replicas = replicas if replicas is not None else {E: "ACTIVE", W: "ACTIVE"}
    f.stub("dynamodb", region).add_response(
        "describe_table",
        {
            "Table": {
                "TableName": TABLE,
                "TableStatus": status,
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "Replicas": [{"RegionName": r, "ReplicaStatus": s} for r, s in replicas.items()],
            }
        },
        {"TableName": TABLE},
    )


def stub_ddb_latency(f: StubbedFactory, region: str, ms: float | None) -> None:
    peer = W if region == E else E
    q = metric_query(
        0,
        "AWS/DynamoDB",
        "ReplicationLatency",
        [("TableName", TABLE), ("ReceivingRegion", peer)],
        "Average",
    )
    stub_metrics(f, region, [q], [ms])


def stub_ddb_healthy(f: StubbedFactory, ms: dict[str, float | None] | None = None) -> None:
    ms = ms or {E: 400.0, W: 300.0}
    for r in (E, W):
        stub_table(f, r)
        stub_ddb_latency(f, r, ms[r])


def test_healthy_tables_are_go_with_the_metric_lag_as_estimate() -> None:
    f = StubbedFactory()
    stub_ddb_healthy(f)
    report = run(ddb_topology(), f)
    f.assert_all_used()
    assert report.go and report.exit_code == EXIT_OK
    assert [(p.source, p.destination) for p in report.pairs] == [(E, W), (W, E)]
    assert report.pair(E, W).rpo_estimate_seconds == pytest.approx(0.4)
    assert report.pair(W, E).rpo_estimate_seconds == pytest.approx(0.3)
    link = report.pair(E, W).links[0]
    assert (link.kind, link.name, link.state, link.metric) == (
        "dynamodb",
        TABLE,
        "ACTIVE",
        "ReplicationLatency",
    )


def test_replica_not_active_is_no_go_for_that_pair() -> None:
    f = StubbedFactory()
    stub_table(f, E, replicas={E: "ACTIVE", W: "CREATING"})
    stub_ddb_latency(f, E, 100.0)
    stub_table(f, W, replicas={E: "ACTIVE", W: "CREATING"})
    stub_ddb_latency(f, W, 100.0)
    report = run(ddb_topology(), f)
    assert report.exit_code == EXIT_NOT_READY
    east_west = report.pair(E, W)
    assert not east_west.go
    assert east_west.reasons == (f"dynamodb {TABLE}: {TABLE} replica in {W} is CREATING",)
    assert east_west.links[0].state == "CREATING"
    assert report.pair(W, E).go


def test_missing_replica_is_no_go() -> None:
    f = StubbedFactory()
    stub_table(f, E, replicas={E: "ACTIVE"})
    stub_ddb_latency(f, E, None)
    stub_table(f, W)
    stub_ddb_latency(f, W, None)
    report = run(ddb_topology(), f)
    assert report.pair(E, W).reasons == (f"dynamodb {TABLE}: {TABLE} has no replica in {W}",)
    # No datapoint at all: a warning that suggests --canary, not a refusal.
    assert report.pair(W, E).go
    assert any("try --canary" in w for w in report.pair(W, E).warnings)


def test_metric_lag_above_rpo_is_no_go() -> None:
    f = StubbedFactory()
    stub_ddb_healthy(f, ms={E: 75_000.0, W: 200.0})
    report = run(ddb_topology(rpo=60), f)
    assert report.exit_code == EXIT_NOT_READY
    assert report.pair(E, W).reasons == (f"dynamodb {TABLE}: lag 75.0 s exceeds RPO 60 s",)
    assert report.pair(E, W).rpo_estimate_seconds == pytest.approx(75.0)
    assert report.pair(W, E).go


def test_lag_equal_to_rpo_is_still_go() -> None:
    f = StubbedFactory()
    stub_ddb_healthy(f, ms={E: 60_000.0, W: 0.0})
    assert run(ddb_topology(rpo=60), f).go


def test_unreachable_region_makes_every_pair_with_it_no_go(refused_port: str) -> None:
    f = StubbedFactory(dead={W: refused_port})
    stub_table(f, E)
    stub_ddb_latency(f, E, 100.0)
    report = run(ddb_topology(), f)
    assert report.exit_code == EXIT_NOT_READY
    answering = {r.name: r.answering for r in report.regions}
    assert answering == {E: True, W: False}
    for pair in report.pairs:
        assert not pair.go
        assert pair.reasons[0].startswith(f"{W} is not answering: ")
        assert "dynamodb:DescribeTable" in pair.reasons[0]


# --- S3 ----------------------------------------------------------------------------------


def s3_topology(rtc: bool = True) -> Topology:
    return topology(
        {
            E: {
                "s3_buckets": [
                    {
                        "name": BUCKETS[E],
                        "rtc": rtc,
                        "replicate_to": [{"bucket": BUCKETS[W], "region": W}],
                    }
                ]
            },
            W: {"s3_buckets": [{"name": BUCKETS[W]}]},
        }
    )


ROLE = f"arn:aws:iam::{ACCOUNT}:role/replication"


def replication_config(status: str = "Enabled", rtc: bool = True, role: str = ROLE) -> Any:
    dest: dict[str, Any] = {
        "Bucket": f"arn:aws:s3:::{BUCKETS[W]}",
        "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}},
    }
    if rtc:
        dest["ReplicationTime"] = {"Status": "Enabled", "Time": {"Minutes": 15}}
    return {
        "ReplicationConfiguration": {
            "Role": role,
            "Rules": [
                {
                    "ID": "to-usw2",
                    "Priority": 0,
                    "Status": status,
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": dest,
                }
            ],
        }
    }


def stub_source_bucket(
    f: StubbedFactory,
    *,
    versioning: str = "Enabled",
    rule_status: str = "Enabled",
    rtc: bool = True,
    pending: float | None = 0,
    failed: float | None = 0,
    latency: float | None = 2.0,
) -> None:
    s3 = f.stub("s3", E)
    s3.add_response("get_bucket_versioning", {"Status": versioning}, {"Bucket": BUCKETS[E]})
    config = replication_config(rule_status, rtc)
    s3.add_response("get_bucket_replication", config, {"Bucket": BUCKETS[E]})
    s3.add_response("get_bucket_replication", config, {"Bucket": BUCKETS[E]})
    dims = [("SourceBucket", BUCKETS[E]), ("DestinationBucket", BUCKETS[W]), ("RuleId", "to-usw2")]
    queries = [
        metric_query(i, "AWS/S3", name, dims, "Maximum")
        for i, name in enumerate(
            ("OperationsPendingReplication", "OperationsFailedReplication", "ReplicationLatency")
        )
    ]
    stub_metrics(f, E, queries, [pending, failed, latency])


def stub_destination_bucket(f: StubbedFactory, versioning: str | None = "Enabled") -> None:
    s3 = f.stub("s3", W)
    out = {} if versioning is None else {"Status": versioning}
    s3.add_response("get_bucket_versioning", out, {"Bucket": BUCKETS[W]})
    s3.add_client_error(
        "get_bucket_replication",
        "ReplicationConfigurationNotFoundError",
        http_status_code=404,
        expected_params={"Bucket": BUCKETS[W]},
    )


def test_healthy_s3_rule_is_go_with_its_latency_and_pending_as_warning() -> None:
    f = StubbedFactory()
    stub_source_bucket(f, pending=3, latency=12.0)
    stub_destination_bucket(f)
    report = run(s3_topology(), f)
    f.assert_all_used()
    assert report.go
    pair = report.pair(E, W)
    assert pair.rpo_estimate_seconds == pytest.approx(12.0)
    assert pair.links[0].name == f"{BUCKETS[E]} -> {BUCKETS[W]}"
    assert pair.warnings == (
        f"s3 {BUCKETS[E]} -> {BUCKETS[W]}: 3 operations pending replication to {BUCKETS[W]}",
    )
    assert [(p.source, p.destination) for p in report.pairs] == [(E, W)]


def test_disabled_rule_is_no_go() -> None:
    f = StubbedFactory()
    stub_source_bucket(f, rule_status="Disabled")
    stub_destination_bucket(f)
    report = run(s3_topology(), f)
    assert report.exit_code == EXIT_NOT_READY
    assert any("rule to-usw2" in r and "is disabled" in r for r in report.pair(E, W).reasons)
    assert report.pair(E, W).links[0].state == "Disabled"


def test_versioning_off_on_the_destination_is_no_go() -> None:
    f = StubbedFactory()
    stub_source_bucket(f)
    stub_destination_bucket(f, versioning="Suspended")
    report = run(s3_topology(), f)
    assert report.pair(E, W).reasons == (
        f"s3 {BUCKETS[E]} -> {BUCKETS[W]}: versioning is Suspended on destination "
        f"{BUCKETS[W]} (replication to it fails)",
    )


def test_failed_operations_are_no_go() -> None:
    f = StubbedFactory()
    stub_source_bucket(f, failed=2)
    stub_destination_bucket(f)
    report = run(s3_topology(), f)
    assert not report.go
    assert report.pair(E, W).reasons == (
        f"s3 {BUCKETS[E]} -> {BUCKETS[W]}: 2 operations failed to replicate to {BUCKETS[W]}",
    )


def test_rtc_expected_but_off_is_a_warning() -> None:
    f = StubbedFactory()
    stub_source_bucket(f, rtc=False)
    stub_destination_bucket(f)
    report = run(s3_topology(rtc=True), f)
    assert report.go
    assert any("RTC is off on rule to-usw2" in w for w in report.pair(E, W).warnings)


# --- Aurora ---------------------------------------------------------------------------------

GLOBAL = "shop-global"
ARN = {r: f"arn:aws:rds:{r}:{ACCOUNT}:cluster:shop-{r}" for r in (E, W)}


def aurora_topology() -> Topology:
    return topology(
        {
            r: {
                "aurora": {
                    "cluster": f"shop-{r}",
                    "role": "writer" if r == E else "secondary",
                    "global_cluster": GLOBAL,
                }
            }
            for r in (E, W)
        }
    )


def stub_aurora_region(f: StubbedFactory, region: str, sync: str = "connected") -> None:
    rds = f.stub("rds", region)
    rds.add_response(
        "describe_db_clusters",
        {
            "DBClusters": [
                {
                    "DBClusterIdentifier": f"shop-{region}",
                    "DBClusterArn": ARN[region],
                    "Status": "available",
                    "Engine": "aurora-mysql",
                    "EngineVersion": "8.0",
                }
            ]
        },
        {"DBClusterIdentifier": f"shop-{region}"},
    )
    members = [
        {"DBClusterArn": ARN[E], "IsWriter": True},
        {"DBClusterArn": ARN[W], "IsWriter": False, "SynchronizationStatus": sync},
    ]
    rds.add_response(
        "describe_global_clusters",
        {"GlobalClusters": [{"GlobalClusterIdentifier": GLOBAL, "GlobalClusterMembers": members}]},
        {"GlobalClusterIdentifier": GLOBAL},
    )


def stub_aurora_lag(f: StubbedFactory, rpo_ms: float | None) -> None:
    # Each lag metric is asked with (cluster, SourceRegion = the writer's) then (cluster).
    dimension_sets = (
        [("DBClusterIdentifier", f"shop-{W}"), ("SourceRegion", E)],
        [("DBClusterIdentifier", f"shop-{W}")],
    )
    names = ("AuroraGlobalDBRPOLag", "AuroraGlobalDBReplicationLag")
    queries = [
        metric_query(i, "AWS/RDS", name, dims, "Maximum")
        for i, (name, dims) in enumerate((n, d) for n in names for d in dimension_sets)
    ]
    stub_metrics(f, W, queries, [rpo_ms, None, None, None])


def test_aurora_lag_above_rpo_is_no_go_from_writer_to_secondary() -> None:
    f = StubbedFactory()
    stub_aurora_region(f, E)
    stub_aurora_region(f, W)
    stub_aurora_lag(f, rpo_ms=90_000)
    report = run(aurora_topology(), f)
    f.assert_all_used()
    assert [(p.source, p.destination) for p in report.pairs] == [(E, W)]
    pair = report.pair(E, W)
    assert pair.reasons == (f"aurora shop-{W}: lag 90.0 s exceeds RPO 60 s",)
    assert pair.links[0].metric == "AuroraGlobalDBRPOLag"


def test_aurora_pending_resync_is_no_go() -> None:
    f = StubbedFactory()
    stub_aurora_region(f, E, sync="pending-resync")
    stub_aurora_region(f, W, sync="pending-resync")
    stub_aurora_lag(f, rpo_ms=100)
    report = run(aurora_topology(), f)
    assert report.pair(E, W).reasons == (
        f"aurora shop-{W}: shop-{W} synchronization is pending-resync",
    )


# --- canaries -------------------------------------------------------------------------------


def stub_identity(f: StubbedFactory, account: str = ACCOUNT) -> None:
    f.stub("sts", E).add_response(
        "get_caller_identity",
        {"Account": account, "Arn": f"arn:aws:iam::{account}:user/sre", "UserId": "AID"},
    )


def stub_canary_write(f: StubbedFactory, region: str) -> dict[str, Any]:
    key = {"pk": {"S": canary_key(RUN, region)}}
    ddb = f.stub("dynamodb", region)
    stub_table(f, region)  # DescribeTable for the key schema
    ddb.add_response(
        "put_item",
        {},
        {
            "TableName": TABLE,
            "Item": {**key, "mr_failover_canary": {"S": RUN}, "written_by": ANY},
            "ConditionExpression": "attribute_not_exists(#k)",
            "ExpressionAttributeNames": {"#k": "pk"},
        },
    )
    return key


def stub_get(f: StubbedFactory, region: str, key: dict[str, Any], found: bool) -> None:
    out = {"Item": dict(key)} if found else {}
    f.stub("dynamodb", region).add_response(
        "get_item", out, {"TableName": TABLE, "Key": key, "ConsistentRead": True}
    )


def stub_delete(f: StubbedFactory, region: str, key: dict[str, Any]) -> None:
    f.stub("dynamodb", region).add_response("delete_item", {}, {"TableName": TABLE, "Key": key})


def test_canary_lag_is_measured_on_the_clock_and_canaries_are_removed() -> None:
    f = StubbedFactory()
    stub_identity(f)
    stub_ddb_healthy(f, ms={E: None, W: None})
    key_e = stub_canary_write(f, E)
    key_w = stub_canary_write(f, W)
    # Round 1 (t=0): neither arrived. Round 2 (t=0.5): E's arrived in W. Round 3: W's in E.
    stub_get(f, W, key_e, found=False)
    stub_get(f, E, key_w, found=False)
    stub_get(f, W, key_e, found=True)
    stub_get(f, E, key_w, found=False)
    stub_get(f, E, key_w, found=True)
    # Each probe is removed at its source and in every destination.
    stub_delete(f, E, key_e)
    stub_delete(f, W, key_e)
    stub_delete(f, W, key_w)
    stub_delete(f, E, key_w)
    clock = FakeClock()
    report = run(ddb_topology(), f, canary=True, run_id=RUN, clock=clock, poll=0.5)
    f.assert_all_used()
    assert clock.slept == [0.5, 0.5]
    e_w, w_e = report.pair(E, W).links[0], report.pair(W, E).links[0]
    assert e_w.canary is not None and e_w.canary.state == "seen"
    assert e_w.canary.lag_seconds == pytest.approx(0.5)
    assert w_e.canary is not None and w_e.canary.lag_seconds == pytest.approx(1.0)
    assert report.pair(W, E).rpo_estimate_seconds == pytest.approx(1.0)
    assert report.go
    assert [c.removed for c in report.cleanup] == [True] * 4
    assert report.to_json()["run_id"] == RUN


def test_canary_timeout_is_no_go_and_still_cleans_up() -> None:
    f = StubbedFactory()
    stub_identity(f)
    stub_ddb_healthy(f, ms={E: None, W: None})
    key_e = stub_canary_write(f, E)
    key_w = stub_canary_write(f, W)
    # Rounds at t = 0, 1, 2 (the timeout is 2 s): W's canary arrives in the first one.
    stub_get(f, W, key_e, found=False)
    stub_get(f, E, key_w, found=True)
    stub_get(f, W, key_e, found=False)
    stub_get(f, W, key_e, found=False)
    stub_delete(f, E, key_e)
    stub_delete(f, W, key_e)
    stub_delete(f, W, key_w)
    stub_delete(f, E, key_w)
    clock = FakeClock()
    report = run(
        ddb_topology(), f, canary=True, run_id=RUN, clock=clock, poll=1.0, canary_timeout=2.0
    )
    f.assert_all_used()
    pair = report.pair(E, W)
    assert not pair.go
    assert pair.reasons == (f"dynamodb {TABLE}: canary not seen in {W} after 2.0 s",)
    assert pair.rpo_estimate_seconds == pytest.approx(2.0)
    assert pair.rpo_estimate_is_lower_bound
    assert report.pair(W, E).go
    assert all(c.removed for c in report.cleanup) and len(report.cleanup) == 4


def test_canaries_are_removed_even_when_interrupted() -> None:
    class InterruptingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            raise KeyboardInterrupt

    f = StubbedFactory()
    stub_identity(f)
    stub_ddb_healthy(f, ms={E: None, W: None})
    key_e = stub_canary_write(f, E)
    key_w = stub_canary_write(f, W)
    stub_get(f, W, key_e, found=False)
    stub_get(f, E, key_w, found=False)
    stub_delete(f, E, key_e)
    stub_delete(f, W, key_e)
    stub_delete(f, W, key_w)
    stub_delete(f, E, key_w)
    with pytest.raises(KeyboardInterrupt):
        run(ddb_topology(), f, canary=True, run_id=RUN, clock=InterruptingClock())
    f.assert_all_used()  # the four deletes were sent


def test_canary_key_follows_the_table_schema() -> None:
    f = StubbedFactory()
    stub_identity(f)
    stub_ddb_healthy(f, ms={E: None, W: None})
    for region in (E, W):
        ddb = f.stub("dynamodb", region)
        ddb.add_response(
            "describe_table",
            {
                "Table": {
                    "TableName": TABLE,
                    "KeySchema": [
                        {"AttributeName": "id", "KeyType": "HASH"},
                        {"AttributeName": "ts", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": "id", "AttributeType": "S"},
                        {"AttributeName": "ts", "AttributeType": "N"},
                    ],
                }
            },
            {"TableName": TABLE},
        )
        key = {"id": {"S": canary_key(RUN, region)}, "ts": {"N": "0"}}
        ddb.add_response(
            "put_item",
            {},
            {
                "TableName": TABLE,
                "Item": {**key, "mr_failover_canary": {"S": RUN}, "written_by": ANY},
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": "id"},
            },
        )
    keys = {r: {"id": {"S": canary_key(RUN, r)}, "ts": {"N": "0"}} for r in (E, W)}
    stub_get(f, W, keys[E], found=True)
    stub_get(f, E, keys[W], found=True)
    stub_delete(f, E, keys[E])
    stub_delete(f, W, keys[E])
    stub_delete(f, W, keys[W])
    stub_delete(f, E, keys[W])
    report = run(ddb_topology(), f, canary=True, run_id=RUN)
    f.assert_all_used()
    assert report.go


def test_numeric_hash_key_skips_the_canary_with_a_warning() -> None:
    f = StubbedFactory()
    stub_identity(f)
    stub_ddb_healthy(f, ms={E: 100.0, W: 100.0})
    for region in (E, W):
        f.stub("dynamodb", region).add_response(
            "describe_table",
            {
                "Table": {
                    "TableName": TABLE,
                    "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "n", "AttributeType": "N"}],
                }
            },
            {"TableName": TABLE},
        )
    report = run(ddb_topology(), f, canary=True, run_id=RUN)
    f.assert_all_used()  # no PutItem, no delete
    assert report.go
    link = report.pair(E, W).links[0]
    assert link.canary is not None and link.canary.state == "skipped"
    assert any("cannot carry the canary marker" in w for w in report.pair(E, W).warnings)
    assert report.cleanup == ()


def test_canary_refused_in_another_account() -> None:
    f = StubbedFactory()
    stub_identity(f, account="999999999999")
    stub_ddb_healthy(f)
    with pytest.raises(RefusedError, match="999999999999"):
        run(ddb_topology(), f, canary=True, run_id=RUN)


def test_s3_canary_round_trip_removes_every_version() -> None:
    f = StubbedFactory()
    stub_identity(f)
    stub_source_bucket(f, latency=None)
    stub_destination_bucket(f)
    key = canary_object_key(RUN, E)
    src, dst = f.stub("s3", E), f.stub("s3", W)
    src.add_response(
        "put_object",
        {"VersionId": "v1"},
        {"Bucket": BUCKETS[E], "Key": key, "Body": ANY, "Metadata": ANY},
    )
    dst.add_client_error(
        "head_object",
        "404",
        http_status_code=404,
        expected_params={"Bucket": BUCKETS[W], "Key": key},
    )
    dst.add_response("head_object", {}, {"Bucket": BUCKETS[W], "Key": key})
    for stub, bucket in ((src, BUCKETS[E]), (dst, BUCKETS[W])):
        stub.add_response(
            "list_object_versions",
            {"Versions": [{"Key": key, "VersionId": "v1"}]},
            {"Bucket": bucket, "Prefix": key},
        )
        stub.add_response("delete_object", {}, {"Bucket": bucket, "Key": key, "VersionId": "v1"})
    report = run(s3_topology(), f, canary=True, run_id=RUN, poll=0.25)
    f.assert_all_used()
    link = report.pair(E, W).links[0]
    assert link.canary is not None and link.canary.lag_seconds == pytest.approx(0.25)
    assert [c.removed for c in report.cleanup] == [True, True]


def test_json_schema_names_every_documented_field() -> None:
    f = StubbedFactory()
    stub_ddb_healthy(f)
    data = run(ddb_topology(), f).to_json()
    assert data["schema"] == "mr-failover/replication-check" and data["version"] == 1
    assert set(data) == {
        "schema",
        "version",
        "application",
        "observed_at",
        "elapsed_seconds",
        "rpo_seconds",
        "canary",
        "run_id",
        "go",
        "regions",
        "pairs",
        "cleanup",
    }
    pair = data["pairs"][0]
    assert set(pair) == {
        "source",
        "destination",
        "go",
        "rpo_estimate_seconds",
        "rpo_estimate_is_lower_bound",
        "reasons",
        "warnings",
        "links",
    }
    assert set(pair["links"][0]) == {
        "kind",
        "name",
        "state",
        "metric",
        "metric_lag_seconds",
        "canary",
        "lag_seconds",
        "reasons",
        "warnings",
    }


@pytest.mark.parametrize(
    ("rule", "prefix", "tags"),
    [
        ({"Prefix": "logs/"}, "logs/", ()),  # V1
        ({"Filter": {"Prefix": ""}}, "", ()),
        ({"Filter": {"Tag": {"Key": "dr", "Value": "yes"}}}, "", (("dr", "yes"),)),
        (
            {"Filter": {"And": {"Prefix": "p/", "Tags": [{"Key": "a", "Value": "1"}]}}},
            "p/",
            (("a", "1"),),
        ),
    ],
)
def test_canary_filter_follows_the_rule(
    rule: dict[str, Any], prefix: str, tags: tuple[tuple[str, str], ...]
) -> None:
    from mr_failover.operations.replication import canary_filter, canary_object_key

    found = canary_filter(rule)
    assert (found.prefix, found.tags) == (prefix, tags)
    assert canary_object_key("run", "us-east-1", found.prefix).startswith(prefix)
