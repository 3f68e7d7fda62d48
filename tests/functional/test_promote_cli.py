"""``promote --mode replica`` in-process: CLI -> plan -> lock -> RDS (moto).

moto promotes a cross-region read replica cluster (``PromoteReadReplicaDBCluster``)
but publishes no ``AuroraBinlogReplicaLag``: the test puts the datapoint itself. The
global database moves moto lacks are covered against the sandbox (tests/e2e) and with
Stubber (tests/unit/test_promote.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from mr_failover import topology
from mr_failover.aws import ClientFactory
from mr_failover.cli import cli
from mr_failover.commands import _mutation
from mr_failover.engine import lock
from tests.clocks import FakeClock
from tests.route53_health import seed_health

EAST, WEST = "us-east-1", "us-west-2"

TOPOLOGY = """\
application: shop
account_id: "123456789012"
primary_region: us-east-1
policy: {rpo_seconds: 30, rto_seconds: 900}
lock: {table: mr-failover-lock, region: us-east-1}
regions:
  us-east-1:
    traffic:
      health_checks: [{name: api-us-east-1, fqdn: api-use1.example.com}]
    aurora: {mode: replica, cluster: shop-use1, role: writer}
  us-west-2:
    traffic:
      health_checks: [{name: api-us-west-2, fqdn: api-usw2.example.com}]
    aurora: {mode: replica, cluster: shop-usw2, role: secondary}
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": EAST,
        "MR_FAILOVER_STATE_DIR": str(tmp_path / "state"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_mutation, "CLOCK", FakeClock(time.time()))
    path = tmp_path / "regions.yaml"
    path.write_text(TOPOLOGY)
    with mock_aws():
        r53 = boto3.client("route53", region_name=EAST)
        for name in ("api-us-east-1", "api-us-west-2"):
            hc = r53.create_health_check(
                CallerReference=name,
                HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": f"{name}.x.com"},
            )["HealthCheck"]
            r53.change_tags_for_resource(
                ResourceType="healthcheck",
                ResourceId=hc["Id"],
                AddTags=[{"Key": "Name", "Value": name}],
            )
            seed_health(boto3.client("cloudwatch", region_name=EAST), hc["Id"])
        source = boto3.client("rds", region_name=EAST).create_db_cluster(
            DBClusterIdentifier="shop-use1",
            Engine="aurora-mysql",
            MasterUsername="admin",
            MasterUserPassword="password123",
        )["DBCluster"]["DBClusterArn"]
        boto3.client("rds", region_name=WEST).create_db_cluster(
            DBClusterIdentifier="shop-usw2",
            Engine="aurora-mysql",
            ReplicationSourceIdentifier=source,
            MasterUsername="admin",
            MasterUserPassword="password123",
        )
        lock.create_table(ClientFactory(), topology.load(path))
        yield str(path)


def lag(seconds: float) -> None:
    boto3.client("cloudwatch", region_name=WEST).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "AuroraBinlogReplicaLag",
                "Dimensions": [{"Name": "DBClusterIdentifier", "Value": "shop-usw2"}],
                "Value": seconds,
                "Unit": "Seconds",
                # The tool's "now" is the fake clock's: a wall-clock stamp taken later could
                # fall past the period boundary the lag query ends on (a minute-edge flake).
                "Timestamp": datetime.fromtimestamp(_mutation.CLOCK.time(), UTC),
            }
        ],
    )


def run(config: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", config, "--no-color", *args])


def source_of(cluster: str) -> Any:
    c = boto3.client("rds", region_name=WEST).describe_db_clusters(DBClusterIdentifier=cluster)
    return c["DBClusters"][0].get("ReplicationSourceIdentifier")


def test_replica_is_promoted_and_its_endpoint_printed(config: str) -> None:
    lag(2.0)
    assert source_of("shop-usw2") is not None
    result = run(config, "promote", "--region", WEST, "--yes")
    assert result.exit_code == 0, result.output
    assert source_of("shop-usw2") is None
    # Progress lines wrap at spaces at 80 columns.
    assert (
        "[1/1] promote read replica cluster shop-usw2 (us-west-2) to a standalone writer: "
        "applied" in " ".join(result.stderr.split())
    )
    # The endpoint is never cut: on the next line when the line is full.
    assert "writer: shop-usw2 in us-west-2 (available), endpoint shop-usw2.cluster-" in (
        " ".join(result.stdout.split())
    )
    assert any(line.strip().startswith("shop-usw2.cluster-") for line in result.stdout.splitlines())
    again = run(config, "promote", "--region", WEST, "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to do: shop-usw2 (us-west-2) is not a read replica" in again.stdout


def test_replica_lag_above_the_rpo_is_refused(config: str) -> None:
    lag(45.0)
    result = run(config, "promote", "--region", WEST, "--yes")
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(
        "Error: refused: replication lag into us-west-2 is 45.0 s, above the RPO of 30 s"
    )
    assert source_of("shop-usw2") is not None  # nothing changed


def test_switchover_on_a_replica_topology_is_a_usage_error(config: str) -> None:
    result = run(config, "promote", "--region", WEST, "--mode", "switchover", "--dry-run")
    assert result.exit_code == 2, result.output
    assert "promote it with --mode replica" in result.stderr


def test_dry_run_json_plan(config: str) -> None:
    lag(1.0)
    result = run(config, "--output", "json", "promote", "--region", WEST, "--dry-run")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    assert plan["params"] == {"region": WEST, "mode": "replica", "allow_data_loss": False}
    assert [
        (s["id"], s["call"], s["region"], s["plane"], s["undoable"]) for s in plan["steps"]
    ] == [
        (
            "aurora:promote-replica:shop-usw2",
            "rds:PromoteReadReplicaDBCluster",
            WEST,
            "control",
            False,
        )
    ]
    assert source_of("shop-usw2") is not None


def test_promote_needs_a_region(config: str) -> None:
    result = run(config, "promote", "--yes")
    assert result.exit_code == 2, result.output
    assert "give --region R (or --resume RUN_ID)" in result.stderr
