"""status.observe with botocore Stubber: what moto cannot show (AWS-FACTS.md).

Each test's topology keeps one section per region, so each (service, region) client
sees its calls in a fixed order, as Stubber requires.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.stub import ANY, Stubber

from mr_failover.errors import EXIT_NOT_READY, EXIT_OK, CredentialsError, UsageError
from mr_failover.status import StatusReport, observe
from mr_failover.topology import Topology
from tests.route53_health import endpoint, share, stub_health

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
E, W = "us-east-1", "us-west-2"


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=E
    )


class StubbedFactory:
    """ClientSource whose clients are Stubber-backed, or real ones sent to ``dead``.

    ``dead`` maps a region, or ``service@region``, to an endpoint that never answers.
    """

    def __init__(self, dead: dict[str, str] | None = None, read_timeout: float = 0.3) -> None:
        self.clients: dict[tuple[str, str], Any] = {}
        self.stubbers: dict[tuple[str, str], Stubber] = {}
        self.dead = dead or {}
        self.read_timeout = read_timeout
        self.stub("sts", E).add_response(
            "get_caller_identity",
            {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/sre", "UserId": "AID"},
        )

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self.clients:
            dead = self.dead.get(f"{service}@{region}", self.dead.get(region))
            if dead is not None:
                config = botocore.config.Config(
                    connect_timeout=self.read_timeout,
                    read_timeout=self.read_timeout,
                    retries={"mode": "standard", "total_max_attempts": 1},
                )
                self.clients[key] = _session().client(
                    service, region_name=region, endpoint_url=dead, config=config
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


def topology(regions: dict[str, dict[str, Any]], **extra: Any) -> Topology:
    return Topology.model_validate(
        {
            "application": "shop",
            "account_id": ACCOUNT,
            "primary_region": E,
            "policy": {"rpo_seconds": 60, "rto_seconds": 900},
            "regions": regions,
            **extra,
        }
    )


def run(t: Topology, f: StubbedFactory, **kw: Any) -> StatusReport:
    return observe(t, f, now=lambda: NOW, **kw)


# --- Aurora ---------------------------------------------------------------------------

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


def stub_cluster(f: StubbedFactory, region: str, status: str = "available") -> None:
    f.stub("rds", region).add_response(
        "describe_db_clusters",
        {
            "DBClusters": [
                {
                    "DBClusterIdentifier": f"shop-{region}",
                    "DBClusterArn": ARN[region],
                    "Status": status,
                    "Engine": "aurora-mysql",
                    "EngineVersion": "8.0.mysql_aurora.3.05.2",
                }
            ]
        },
        {"DBClusterIdentifier": f"shop-{region}"},
    )


def stub_global(
    f: StubbedFactory,
    region: str,
    writer: str = E,
    sync: str = "connected",
    failover: dict[str, Any] | None = None,
) -> None:
    g: dict[str, Any] = {
        "GlobalClusterIdentifier": GLOBAL,
        "Status": "available",
        "GlobalClusterMembers": [
            {"DBClusterArn": ARN[r], "IsWriter": r == writer}
            | ({} if r == writer else {"SynchronizationStatus": sync})
            for r in (E, W)
        ],
    }
    if failover:
        g["FailoverState"] = failover
    f.stub("rds", region).add_response(
        "describe_global_clusters", {"GlobalClusters": [g]}, {"GlobalClusterIdentifier": GLOBAL}
    )


def stub_lag(
    f: StubbedFactory, region: str, rpo_ms: float | None, repl_ms: float | None, source: str = E
) -> None:
    """Each lag metric asked with (cluster, SourceRegion) then (cluster) alone; the values
    are published under the first set."""
    cluster = f"shop-{region}"
    dimension_sets = (
        [
            {"Name": "DBClusterIdentifier", "Value": cluster},
            {"Name": "SourceRegion", "Value": source},
        ],
        [{"Name": "DBClusterIdentifier", "Value": cluster}],
    )
    queries = [
        (name, value, dims, j)
        for name, value in (
            ("AuroraGlobalDBRPOLag", rpo_ms),
            ("AuroraGlobalDBReplicationLag", repl_ms),
        )
        for j, dims in enumerate(dimension_sets)
    ]
    results = []
    for i, (_, value, _, j) in enumerate(queries):
        points = [] if value is None or j else [value, value / 2]
        stamps = [NOW - timedelta(minutes=1), NOW - timedelta(minutes=2)] if points else []
        results.append({"Id": f"q{i}", "Timestamps": stamps, "Values": points})
    f.stub("cloudwatch", region).add_response(
        "get_metric_data",
        {"MetricDataResults": results},
        {
            "MetricDataQueries": [
                {
                    "Id": f"q{i}",
                    "MetricStat": {
                        "Metric": {"Namespace": "AWS/RDS", "MetricName": name, "Dimensions": dims},
                        "Period": 60,
                        "Stat": "Maximum",
                    },
                    "ReturnData": True,
                }
                for i, (name, _, dims, _) in enumerate(queries)
            ],
            # Aligned on the minute after NOW: EndTime is exclusive.
            "StartTime": NOW - timedelta(minutes=14),
            "EndTime": NOW + timedelta(minutes=1),
            "ScanBy": "TimestampDescending",
        },
    )


def test_healthy_global_database_is_serving_and_exit_0() -> None:
    f = StubbedFactory()
    for r in (E, W):
        stub_cluster(f, r)
        stub_global(f, r)
    stub_lag(f, W, rpo_ms=None, repl_ms=1500)
    report = run(aurora_topology(), f)
    f.assert_all_used()
    assert [(r.name, r.verdict, r.can_take_over, r.is_writer) for r in report.regions] == [
        (E, "serving", True, True),
        (W, "serving", True, False),
    ]
    west = report.region(W)
    assert west.aurora is not None
    # RPO lag is preferred, but it is not published here: replication lag is used.
    assert (west.aurora.lag_seconds, west.aurora.lag_metric) == (
        1.5,
        "AuroraGlobalDBReplicationLag",
    )
    assert report.exit_code == EXIT_OK
    assert report.account is not None and report.account.matches


def test_lag_beyond_rpo_blocks_the_secondary_only() -> None:
    f = StubbedFactory()
    for r in (E, W):
        stub_cluster(f, r)
        stub_global(f, r)
    stub_lag(f, W, rpo_ms=75_000, repl_ms=1_000)
    report = run(aurora_topology(), f)
    assert report.region(E).can_take_over
    west = report.region(W)
    assert west.verdict == "degraded"
    assert west.reasons == (
        "aurora: replication lag 75.0 s exceeds RPO 60 s (AuroraGlobalDBRPOLag)",
    )
    assert report.exit_code == EXIT_NOT_READY


def test_switchover_in_progress_blocks_every_region() -> None:
    f = StubbedFactory()
    failover = {
        "Status": "switching-over",
        "FromDbClusterArn": ARN[E],
        "ToDbClusterArn": ARN[W],
        "IsDataLossAllowed": False,
    }
    for r in (E, W):
        stub_cluster(f, r)
        stub_global(f, r, failover=failover)
    stub_lag(f, W, rpo_ms=0, repl_ms=0)
    report = run(aurora_topology(), f)
    for r in report.regions:
        assert r.verdict == "degraded"
        assert "aurora: shop-global is switching-over from us-east-1 to us-west-2" in r.reasons
    west = report.region(W)
    assert west.aurora is not None and west.aurora.global_cluster is not None
    assert west.aurora.global_cluster.failover is not None
    assert west.aurora.global_cluster.failover.data_loss_allowed is False
    doc = report.to_json()
    assert doc["regions"][1]["aurora"]["global_cluster"]["failover"]["status"] == "switching-over"


def test_pending_resync_and_missing_lag() -> None:
    f = StubbedFactory()
    for r in (E, W):
        stub_cluster(f, r)
        stub_global(f, r, sync="pending-resync")
    stub_lag(f, W, rpo_ms=None, repl_ms=None)
    west = run(aurora_topology(), f).region(W)
    # Aurora rebuilds the other secondaries after a failover (issue 15 item 7): said so.
    assert west.reasons == (
        "aurora: shop-us-west-2 is being rebuilt by Aurora after a failover "
        "(pending-resync; minutes to hours): it cannot take over until connected",
    )
    assert west.warnings == ("aurora: no replication lag datapoint for shop-us-west-2 in 15 min",)


# --- credentials ----------------------------------------------------------------------


def test_access_denied_in_one_region_is_one_line_naming_region_call_and_fix() -> None:
    f = StubbedFactory()
    stub_cluster(f, E)
    stub_global(f, E)
    f.stub("rds", W).add_client_error(
        "describe_db_clusters",
        service_error_code="AccessDenied",
        service_message="not authorized to perform rds:DescribeDBClusters",
        http_status_code=403,
    )
    report = run(aurora_topology(), f)
    assert report.region(E).verdict == "serving"
    west = report.region(W)
    assert west.verdict == "degraded"
    assert west.reasons == (
        "aurora: rds:DescribeDBClusters in us-west-2: access denied: not authorized to perform "
        "rds:DescribeDBClusters (check the IAM policy of the caller or role)",
    )
    assert "\n" not in west.reasons[0]


def test_expired_token_everywhere_raises_one_credentials_error() -> None:
    f = StubbedFactory()
    for r in (E, W):
        f.stub("rds", r).add_client_error(
            "describe_db_clusters", service_error_code="ExpiredToken", http_status_code=403
        )
    with pytest.raises(CredentialsError) as info:
        run(aurora_topology(), f)
    assert str(info.value) == (
        "rds:DescribeDBClusters in us-east-1: credentials expired (refresh them and retry)"
    )
    assert info.value.exit_code == 5


def test_account_mismatch_is_a_warning() -> None:
    t = aurora_topology().model_copy(update={"account_id": "999999999999"})
    f = StubbedFactory()
    for r in (E, W):
        stub_cluster(f, r)
        stub_global(f, r)
    stub_lag(f, W, rpo_ms=10, repl_ms=10)
    report = run(t, f)
    assert report.account is not None and not report.account.matches
    assert report.warnings == (
        f"credentials are for account {ACCOUNT} (arn:aws:iam::{ACCOUNT}:user/sre) but the "
        "topology is account 999999999999 (use the right AWS_PROFILE or fix account_id)",
    )
    assert report.healthy  # a warning, not a verdict: mutations refuse, status informs


def test_unknown_region_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown region eu-west-1: the topology declares"):
        run(aurora_topology(), StubbedFactory(), regions=["eu-west-1"])


def test_region_filter_observes_only_that_region() -> None:
    f = StubbedFactory()
    stub_cluster(f, W)
    stub_global(f, W)
    stub_lag(f, W, rpo_ms=10, repl_ms=10)
    report = run(aurora_topology(), f, regions=[W])
    f.assert_all_used()
    assert [r.name for r in report.regions] == [W]
    assert report.region(W).is_writer is False


# --- a black-holed region ---------------------------------------------------------------


def test_black_holed_region_is_unreachable_and_the_other_is_shown(black_hole: str) -> None:
    f = StubbedFactory(dead={W: black_hole}, read_timeout=0.3)
    stub_cluster(f, E)
    stub_global(f, E)
    started = time.monotonic()
    report = run(aurora_topology(), f, deadline=5.0)
    elapsed = time.monotonic() - started
    # The read timeout, not the deadline, ended the call: the error names the call that
    # timed out (a deadline error names "aurora reads"), and it came before the deadline.
    assert elapsed < 5.0
    assert report.region(E).verdict == "serving"
    west = report.region(W)
    assert (west.verdict, west.can_take_over) == ("unreachable", False)
    assert len(west.errors) == 1
    error = west.errors[0]
    assert (error.section, error.region, error.call, error.unreachable) == (
        "aurora",
        W,
        "rds:DescribeDBClusters",
        True,
    )
    assert error.message.startswith("rds:DescribeDBClusters in us-west-2 failed: no answer:")
    assert report.exit_code == EXIT_NOT_READY


def test_deadline_bounds_the_wait_even_when_calls_would_hang_longer(black_hole: str) -> None:
    f = StubbedFactory(dead={W: black_hole}, read_timeout=30)
    stub_cluster(f, E)
    stub_global(f, E)
    started = time.monotonic()
    report = run(aurora_topology(), f, deadline=0.5)
    # The hung call would last 30 s (its read timeout); returning well before that proves
    # the deadline ended the wait, however slow the machine is right now.
    assert time.monotonic() - started < 10.0
    west = report.region(W)
    assert west.verdict == "unreachable"
    assert west.reasons == (
        "aurora: aurora reads in us-west-2 failed: no answer within 0.5 s "
        "(the region may be impaired)",
    )
    assert report.region(E).verdict == "serving"


# --- DynamoDB: the lag into a region comes from the sending region ------------------------


def stub_replication_latency(
    f: StubbedFactory, region: str, receiving: str, lag_ms: float | None
) -> None:
    """The ``orders`` table's ReplicationLatency into ``receiving``, read in ``region``."""
    points = [] if lag_ms is None else [lag_ms]
    f.stub("cloudwatch", region).add_response(
        "get_metric_data",
        {"MetricDataResults": [{"Id": "q0", "Timestamps": [NOW] * len(points), "Values": points}]},
        {
            "MetricDataQueries": [
                {
                    "Id": "q0",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/DynamoDB",
                            "MetricName": "ReplicationLatency",
                            "Dimensions": [
                                {"Name": "TableName", "Value": "orders"},
                                {"Name": "ReceivingRegion", "Value": receiving},
                            ],
                        },
                        "Period": 60,
                        "Stat": "Average",
                    },
                    "ReturnData": True,
                }
            ],
            "StartTime": ANY,
            "EndTime": ANY,
            "ScanBy": "TimestampDescending",
        },
    )


def test_dynamodb_lag_is_read_in_the_sending_region_and_judged_for_the_receiver() -> None:
    t = topology({r: {"dynamodb_tables": ["orders"]} for r in (E, W)})
    f = StubbedFactory()
    for r in (E, W):
        other = W if r == E else E
        f.stub("dynamodb", r).add_response(
            "describe_table",
            {
                "Table": {
                    "TableName": "orders",
                    "TableStatus": "ACTIVE",
                    "Replicas": [{"RegionName": other, "ReplicaStatus": "ACTIVE"}],
                }
            },
            {"TableName": "orders"},
        )
        lag_ms = 90_000.0 if r == E else 300.0  # E -> W is slow
        stub_replication_latency(f, r, other, lag_ms)
    report = run(t, f)
    f.assert_all_used()
    assert report.region(E).verdict == "serving"
    assert report.region(W).reasons == (
        "dynamodb: orders replication from us-east-1 lags 90.0 s (RPO 60 s)",
    )


# --- traffic: raw checker status, Inverted / Disabled, records -----------------------------


def traffic_topology(policy: str = "latency") -> Topology:
    def region(r: str) -> dict[str, Any]:
        record: dict[str, Any] = {
            "zone": "shop.example.com.",
            "hosted_zone_id": "Z1",
            "name": "api.shop.example.com.",
            "set_identifier": r,
            "routing_policy": policy,
            "value": f"api-{r}.shop.example.com",
            "health_check": f"api-{r}",
        }
        if policy == "weighted":
            record["weight"] = 100
        return {
            "traffic": {
                "drain_lever": "weight" if policy == "weighted" else "health_check_inversion",
                "health_checks": [{"name": f"api-{r}", "id": f"hc-{r}"}],
                "records": [record],
            }
        }

    return topology({r: region(r) for r in (E, W)})


def stub_traffic(
    f: StubbedFactory,
    region: str,
    *,
    ok: int,
    failing: int = 0,
    inverted: bool = False,
    disabled: bool = False,
    record: dict[str, Any] | None = None,
) -> None:
    stub = f.stub("route53", E)  # Route 53's API lives in us-east-1 for every region
    check = f"hc-{region}"
    # Checks declared by id: one page of the listing gives their configurations.
    stub.add_response(
        "list_health_checks",
        {
            "HealthChecks": [
                {
                    "Id": check,
                    "CallerReference": "ref",
                    "HealthCheckVersion": 3,
                    "HealthCheckConfig": {
                        "Type": "HTTPS",
                        "Inverted": inverted,
                        "Disabled": disabled,
                    },
                }
            ],
            "Marker": "",
            "IsTruncated": False,
            "MaxItems": "1000",
        },
        {"MaxItems": "1000"},
    )
    # Route 53's health metrics, in CloudWatch in us-east-1 for every region.
    health = endpoint(share(ok, failing), inverted=inverted, disabled=disabled)
    stub_health(f.stub("cloudwatch", E), {check: health}, stamp=NOW - timedelta(minutes=1))
    rrs = record or {"Region": region}
    stub.add_response(
        "list_resource_record_sets",
        {
            "ResourceRecordSets": [
                {
                    "Name": "api.shop.example.com.",
                    "Type": "CNAME",
                    "SetIdentifier": region,
                    "TTL": 60,
                    "ResourceRecords": [{"Value": f"api-{region}.shop.example.com"}],
                    "HealthCheckId": check,
                    **rrs,
                }
            ],
            "IsTruncated": False,
            "MaxItems": "100",
        },
        {
            "HostedZoneId": "Z1",
            "StartRecordName": "api.shop.example.com.",
            "StartRecordType": "CNAME",
        },
    )


def test_inverted_healthy_check_means_drained_but_able_to_take_over() -> None:
    f = StubbedFactory()
    stub_traffic(f, W, ok=8, inverted=True)
    report = run(traffic_topology(), f, regions=[W])
    f.assert_all_used()
    west = report.region(W)
    assert (west.verdict, west.can_take_over, west.reasons) == ("drained", True, ())
    assert report.exit_code == EXIT_OK
    hc = west.traffic.health_checks[0] if west.traffic else None
    assert hc is not None and (hc.raw_healthy, hc.effective_healthy) == (True, False)


def test_failing_checkers_degrade_the_region_even_when_inverted() -> None:
    f = StubbedFactory()
    stub_traffic(f, W, ok=0, failing=8, inverted=True)
    west = run(traffic_topology(), f, regions=[W]).region(W)
    assert west.verdict == "degraded"
    assert west.reasons == (
        "traffic: health check api-us-west-2: the endpoint is failing "
        "(checkers: 0% report healthy)",
    )


def test_a_check_without_a_datapoint_yet_is_unknown_and_says_so() -> None:
    # A check created a minute ago has no AWS/Route53 datapoint yet: its health is shown
    # unknown with the reason, never taken as healthy.
    f = StubbedFactory()
    stub_traffic(f, W, ok=0)
    west = run(traffic_topology(), f, regions=[W]).region(W)
    f.assert_all_used()
    hc = west.traffic.health_checks[0] if west.traffic else None
    assert hc is not None and (hc.raw_healthy, hc.effective_healthy) == (None, None)
    assert west.warnings == (
        "traffic: health check api-us-west-2: health unknown: no AWS/Route53 datapoint in "
        "CloudWatch (us-east-1) in the last 5 minutes (a check created in the last minutes "
        "has none yet)",
    )


def test_disabled_check_is_healthy_with_a_warning() -> None:
    f = StubbedFactory()
    stub_traffic(f, W, ok=8, disabled=True)
    west = run(traffic_topology(), f, regions=[W]).region(W)
    assert (west.verdict, west.can_take_over) == ("serving", True)
    assert west.warnings == (
        "traffic: health check api-us-west-2 is disabled: Route 53 treats it as healthy "
        "whatever the endpoint does",
    )


def test_weight_zero_means_drained() -> None:
    f = StubbedFactory()
    stub_traffic(f, W, ok=8, record={"Weight": 0})
    west = run(traffic_topology("weighted"), f, regions=[W]).region(W)
    assert west.verdict == "drained"
    assert west.traffic is not None and west.traffic.records[0].weight == 0


def test_missing_record_is_a_reason() -> None:
    f = StubbedFactory()
    stub_traffic(f, W, ok=8, record={"SetIdentifier": "someone-else"})
    west = run(traffic_topology(), f, regions=[W]).region(W)
    assert west.reasons == ("traffic: record api.shop.example.com. (us-west-2) not found",)


def test_route53_api_not_answering_is_a_warning_not_an_outage(black_hole: str) -> None:
    # us-east-1 black-holed: only its Route 53 control plane is observed here.
    f = StubbedFactory(dead={f"route53@{E}": black_hole}, read_timeout=0.2)
    west = run(traffic_topology(), f, regions=[W], deadline=3.0).region(W)
    assert west.verdict == "serving"
    assert west.can_take_over
    assert len(west.warnings) == 1
    assert west.warnings[0].startswith(
        "traffic: Route 53 API not answering, traffic state unknown: "
        "route53:ListHealthChecks in us-east-1 failed: no answer:"
    )
