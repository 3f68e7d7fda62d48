"""The seeder against a running sandbox (real clock, ticker thread, short lags).

Every resource of the example topology is read back through boto3; a second run
creates nothing; the returned topology, dumped to YAML, loads again with its ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.sandbox.core import Sandbox, SandboxSettings
from mr_failover.sandbox.seed import SeedReport, seed, seed_file
from mr_failover.topology import Topology

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(
        settings=SandboxSettings(dynamodb_replication_lag=0.05, s3_replication_lag=0.05, tick=0.02)
    )
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def factory(sandbox: Sandbox, monkeymodule: pytest.MonkeyPatch) -> ClientFactory:
    return ClientFactory(None, endpoint_url=sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1))


@pytest.fixture(scope="module")
def example() -> Topology:
    return topo.load(EXAMPLE)


@pytest.fixture(scope="module")
def seeded(
    sandbox: Sandbox, factory: ClientFactory, example: Topology
) -> tuple[Topology, SeedReport]:
    sandbox.reset()
    report = SeedReport()
    return seed(example, factory, report=report), report


@pytest.fixture(scope="module")
def monkeymodule() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_PROFILE", raising=False)
        yield mp


def poll(done: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.02)
    return done()


def test_aurora_global_cluster_and_members(
    seeded: tuple[Topology, SeedReport], factory: ClientFactory, example: Topology
) -> None:
    (glob,) = factory.client("rds", EAST).describe_global_clusters(
        GlobalClusterIdentifier="arc309-global"
    )["GlobalClusters"]
    members = {
        m["DBClusterArn"].rsplit(":", 1)[-1]: m["IsWriter"] for m in glob["GlobalClusterMembers"]
    }
    assert members == {"arc309-use1": True, "arc309-usw2": False}
    for region, spec in example.regions.items():
        assert spec.aurora is not None
        rds = factory.client("rds", region)
        (cluster,) = rds.describe_db_clusters(DBClusterIdentifier=spec.aurora.cluster)["DBClusters"]
        assert cluster["Engine"] == "aurora-mysql"
        instances = rds.describe_db_instances(
            Filters=[{"Name": "db-cluster-id", "Values": [spec.aurora.cluster]}]
        )["DBInstances"]
        assert len(instances) == 1


def test_dynamodb_global_tables_with_active_replicas(
    seeded: tuple[Topology, SeedReport], factory: ClientFactory
) -> None:
    for table in ("arc309-orders", "arc309-sessions"):
        for region in (EAST, WEST):
            t = factory.client("dynamodb", region).describe_table(TableName=table)["Table"]
            assert t["GlobalTableVersion"] == "2019.11.21"
            assert {r["RegionName"]: r["ReplicaStatus"] for r in t["Replicas"]} == {
                EAST: "ACTIVE",
                WEST: "ACTIVE",
            }
            assert t["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    lock = factory.client("dynamodb", EAST).describe_table(TableName="mr-failover-lock")["Table"]
    assert lock["KeySchema"] == [{"AttributeName": "application", "KeyType": "HASH"}]


def test_seeded_tables_replicate_on_the_real_clock(
    seeded: tuple[Topology, SeedReport], factory: ClientFactory
) -> None:
    east, west = factory.client("dynamodb", EAST), factory.client("dynamodb", WEST)
    east.put_item(TableName="arc309-orders", Item={"pk": {"S": "canary"}})
    assert poll(
        lambda: "Item" in west.get_item(TableName="arc309-orders", Key={"pk": {"S": "canary"}})
    )


def test_buckets_versioned_with_replication_rules(
    seeded: tuple[Topology, SeedReport], factory: ClientFactory
) -> None:
    pairs = {
        EAST: ("arc309-assets-use1", "arc309-assets-usw2"),
        WEST: ("arc309-assets-usw2", "arc309-assets-use1"),
    }
    for region, (bucket, dest) in pairs.items():
        s3 = factory.client("s3", region)
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] in (
            None if region == EAST else region,
            region,
        )
        config = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
        (rule,) = config["Rules"]
        assert rule["Status"] == "Enabled"
        assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{dest}"
        assert rule["Destination"]["Metrics"]["Status"] == "Enabled"
        assert rule["Destination"]["ReplicationTime"]["Status"] == "Enabled"  # rtc: true
        role = config["Role"].rsplit("/", 1)[-1]
        assert factory.client("iam", EAST).get_role(RoleName=role)["Role"]["Arn"] == config["Role"]
    s3 = factory.client("s3", EAST)
    s3.put_object(Bucket="arc309-assets-use1", Key="seeded", Body=b"x")
    assert poll(
        lambda: (
            s3.head_object(Bucket="arc309-assets-use1", Key="seeded").get("ReplicationStatus")
            == "COMPLETED"
        )
    )


def test_route53_zone_checks_and_records(
    seeded: tuple[Topology, SeedReport], factory: ClientFactory, sandbox: Sandbox
) -> None:
    result, _ = seeded
    r53 = factory.client("route53", EAST)
    zone_ids = {rec.hosted_zone_id for r in result.regions.values() for rec in r.traffic.records}
    (zone_id,) = zone_ids
    assert zone_id is not None
    assert r53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"] == "arc309.example.com."
    sets = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    latency = {s["SetIdentifier"]: s for s in sets if s.get("SetIdentifier")}
    assert set(latency) == {EAST, WEST}
    for region, spec in result.regions.items():
        (check,) = spec.traffic.health_checks
        assert check.id is not None
        config = r53.get_health_check(HealthCheckId=check.id)["HealthCheck"]["HealthCheckConfig"]
        assert config["FullyQualifiedDomainName"] == check.fqdn
        assert config["ResourcePath"] == "/health"
        tags = r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=check.id)
        assert {t["Key"]: t["Value"] for t in tags["ResourceTagSet"]["Tags"]} == {
            "Name": check.name
        }
        # The example's ARC setup: the record carries a calculated check, healthy only
        # while the endpoint check and the routing control's check both are.
        carried = r53.get_health_check(HealthCheckId=latency[region]["HealthCheckId"])
        calculated = carried["HealthCheck"]["HealthCheckConfig"]
        assert calculated["Type"] == "CALCULATED" and calculated["HealthThreshold"] == 2
        endpoint, gate = calculated["ChildHealthChecks"]
        assert endpoint == check.id
        gate_config = r53.get_health_check(HealthCheckId=gate)["HealthCheck"]["HealthCheckConfig"]
        assert gate_config["Type"] == "RECOVERY_CONTROL"
        assert gate_config["RoutingControlArn"] == spec.traffic.routing_controls[0]
        assert latency[region]["Region"] == region
        # The record an API endpoint names answers with that region's API Gateway domain.
        (record,) = spec.traffic.records
        assert record.value.endswith(f".execute-api.{region}.amazonaws.com")
        assert latency[region]["ResourceRecords"] == [{"Value": record.value}]
        assert sandbox.health_check_region(check.id) == region


def test_compute(
    seeded: tuple[Topology, SeedReport], factory: ClientFactory, example: Topology
) -> None:
    for region, spec in example.regions.items():
        ecs = factory.client("ecs", region)
        for svc in spec.compute.ecs_services:
            (found,) = ecs.describe_services(cluster=svc.cluster, services=[svc.service])[
                "services"
            ]
            assert found["status"] == "ACTIVE"
            assert found["desiredCount"] == 2  # half of takeover_desired: 4
            # The seeder waits for the tasks to start, as `aws ecs wait services-stable`.
            assert (found["runningCount"], found["pendingCount"]) == (2, 0)
        asg = factory.client("autoscaling", region)
        for group in spec.compute.autoscaling_groups:
            (g,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group.name])[
                "AutoScalingGroups"
            ]
            assert g["DesiredCapacity"] == 2
            assert [i["LifecycleState"] for i in g["Instances"]] == ["InService"] * 2
            assert g["LaunchTemplate"]["LaunchTemplateName"] == f"{group.name}-lt"
        lam = factory.client("lambda", region)
        for fn in spec.compute.lambda_functions:
            assert (
                lam.get_function(FunctionName=fn.name)["Configuration"]["FunctionName"] == fn.name
            )


def test_second_run_creates_nothing_and_keeps_ids(
    seeded: tuple[Topology, SeedReport], factory: ClientFactory, example: Topology
) -> None:
    first, report = seeded
    assert len(report.created) >= 20
    again = SeedReport()
    second = seed(example, factory, report=again)
    assert again.created == []
    assert second == first


def test_dump_reloads_with_the_generated_ids(
    seeded: tuple[Topology, SeedReport], tmp_path: Path
) -> None:
    result, _ = seeded
    out = tmp_path / "seeded.yaml"
    out.write_text(topo.dump(result))
    reloaded = topo.load(out)
    assert reloaded == result
    ids = [hc.id for r in reloaded.regions.values() for hc in r.traffic.health_checks]
    assert all(ids) and len(set(ids)) == 2
    assert str(ids[0]) in out.read_text()


def test_seed_file_writes_a_topology_the_tool_loads(
    seeded: tuple[Topology, SeedReport], sandbox: Sandbox, tmp_path: Path
) -> None:
    out = tmp_path / "out.yaml"
    result, report = seed_file(EXAMPLE, sandbox.endpoint_url, out)
    assert report.created == []  # already seeded by the module fixture
    assert topo.load(out) == result == seeded[0]
