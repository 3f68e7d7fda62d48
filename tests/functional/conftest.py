"""moto in-process (``mock_aws``): the example topology's resources, created through boto3.

Seeds only what moto models (AWS-FACTS.md): no DynamoDB replicas, no S3 replication,
constant health-check status. Tests that need more use botocore Stubber (tests/unit).
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.topology import Topology
from tests.route53_health import seed_health

SHIPPED_EXAMPLE = Path(__file__).resolve().parents[2] / "mr_failover" / "data" / "regions.yaml"
# In-process moto lacks Global Accelerator and ElastiCache global datastores, and the
# functional tests seed only the original components: they use the shipped example
# without the issue-7 keys (those are tested end to end against the sandbox). The same
# goes for the issue-8 Route 53 ARC keys: moto has no ARC.
ISSUE7_TOP_KEYS = ("global_accelerator", "cloudfront_distributions", "arc")
ISSUE7_REGION_KEYS = ("global_accelerator", "elasticache", "api_endpoints", "readiness")


def _core_example() -> Path:
    data = yaml.safe_load(SHIPPED_EXAMPLE.read_text())
    for key in ISSUE7_TOP_KEYS:
        data.pop(key, None)
    for region in data["regions"].values():
        for key in ISSUE7_REGION_KEYS:
            region.pop(key, None)
        region.get("traffic", {}).pop("routing_controls", None)
    path = Path(tempfile.mkdtemp(prefix="mr-failover-core-")) / "regions.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


EXAMPLE = _core_example()
# moto builds ~1300 default AMIs per region on an EC2 backend's first use and again after
# each mock_aws: the seeder's launch templates name a placeholder image, so nothing reads
# them (the sandbox sets the same in Sandbox.start).
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclass
class Seeded:
    topology: Topology
    factory: ClientFactory
    health_check_ids: dict[str, str]
    zone_id: str
    cluster_arns: dict[str, str]


@pytest.fixture(autouse=True)
def describe_global_table_as_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5 does not implement DescribeGlobalTable; AWS answers
    GlobalTableNotFoundException for a table that is no legacy (2017.11.29) global table,
    which is what every table moto holds is. The tool asks it of a table expected to have
    replicas that shows none (rule dynamodb-legacy-global-tables)."""
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    def describe_global_table(self: DynamoHandler) -> str:
        name = self.body.get("GlobalTableName", "") if isinstance(self.body, dict) else ""
        raise DynamodbException(
            ERROR_TYPE_PREFIX + "GlobalTableNotFoundException", f"Global table not found: {name}"
        )

    monkeypatch.setattr(
        DynamoHandler, "describe_global_table", describe_global_table, raising=False
    )


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MR_FAILOVER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def example() -> Topology:
    return topo.load(EXAMPLE)


def _lambda_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def seed(t: Topology) -> Seeded:
    """Create the topology's resources in moto; returns the ids moto generated."""
    r53 = boto3.client("route53", region_name="us-east-1")
    zones = {rec.zone for r in t.regions.values() for rec in r.traffic.records}
    zone_ids = {
        z: r53.create_hosted_zone(Name=z, CallerReference=z)["HostedZone"]["Id"].split("/")[-1]
        for z in zones
    }
    check_ids: dict[str, str] = {}
    for region in t.regions.values():
        for hc in region.traffic.health_checks:
            out = r53.create_health_check(
                CallerReference=hc.name,
                HealthCheckConfig={
                    "Type": hc.type,
                    "FullyQualifiedDomainName": hc.fqdn or "example.com",
                    "Port": hc.port,
                    "ResourcePath": hc.path,
                    "RequestInterval": hc.request_interval,
                    "FailureThreshold": hc.failure_threshold,
                },
            )
            check_ids[hc.name] = out["HealthCheck"]["Id"]
            # moto publishes no Route 53 metric: the checkers' datapoints, as Route 53
            # would send them to CloudWatch in us-east-1 (all healthy).
            seed_health(boto3.client("cloudwatch", region_name="us-east-1"), check_ids[hc.name])
            r53.change_tags_for_resource(
                ResourceType="healthcheck",
                ResourceId=check_ids[hc.name],
                AddTags=[{"Key": "Name", "Value": hc.name}],
            )
    for name, region in t.regions.items():
        for rec in region.traffic.records:
            rrs: dict[str, Any] = {
                "Name": rec.name,
                "Type": rec.type,
                "SetIdentifier": rec.set_identifier,
                "TTL": rec.ttl,
                "ResourceRecords": [{"Value": rec.value}],
            }
            if rec.routing_policy == "latency":
                rrs["Region"] = name
            elif rec.routing_policy == "weighted":
                rrs["Weight"] = rec.weight
            else:
                rrs["Failover"] = rec.failover
            if rec.health_check:
                rrs["HealthCheckId"] = check_ids[rec.health_check]
            r53.change_resource_record_sets(
                HostedZoneId=zone_ids[rec.zone],
                ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrs}]},
            )

    cluster_arns: dict[str, str] = {}
    writer = t.writer_region()
    order = [writer] + [n for n in t.regions if n != writer] if writer else list(t.regions)
    for name in order:
        a = t.regions[name].aurora
        if a is None:
            continue
        rds = boto3.client("rds", region_name=name)
        if a.role == "writer" and a.global_cluster:
            rds.create_global_cluster(GlobalClusterIdentifier=a.global_cluster, Engine=a.engine)
        kwargs: dict[str, Any] = {"DBClusterIdentifier": a.cluster, "Engine": a.engine}
        if a.global_cluster:
            kwargs["GlobalClusterIdentifier"] = a.global_cluster
        if a.role == "writer":
            kwargs.update(MasterUsername="admin", MasterUserPassword="password123")
        cluster_arns[name] = rds.create_db_cluster(**kwargs)["DBCluster"]["DBClusterArn"]

    for name, region in t.regions.items():
        ddb = boto3.client("dynamodb", region_name=name)
        for table in region.dynamodb_tables:
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
        s3 = boto3.client("s3", region_name=name)
        for bucket in region.s3_buckets:
            kw: dict[str, Any] = {"Bucket": bucket.name}
            if name != "us-east-1":
                kw["CreateBucketConfiguration"] = {"LocationConstraint": name}
            s3.create_bucket(**kw)
            s3.put_bucket_versioning(
                Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"}
            )
    for name, region in t.regions.items():
        s3 = boto3.client("s3", region_name=name)
        for bucket in region.s3_buckets:
            if not bucket.replicate_to:
                continue
            rules = []
            for i, target in enumerate(bucket.replicate_to):
                dest: dict[str, Any] = {"Bucket": f"arn:aws:s3:::{target.bucket}"}
                if bucket.rtc:
                    dest["ReplicationTime"] = {"Status": "Enabled", "Time": {"Minutes": 15}}
                    dest["Metrics"] = {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}
                rules.append(
                    {
                        "ID": f"to-{target.region}",
                        "Priority": i,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": dest,
                    }
                )
            s3.put_bucket_replication(
                Bucket=bucket.name,
                ReplicationConfiguration={
                    "Role": f"arn:aws:iam::{t.account_id}:role/replication",
                    "Rules": rules,
                },
            )

    iam = boto3.client("iam", region_name="us-east-1")
    role_arn = iam.create_role(
        RoleName="lambda-exec",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}',
    )["Role"]["Arn"]
    for name, region in t.regions.items():
        c = region.compute
        ecs = boto3.client("ecs", region_name=name)
        for svc in c.ecs_services:
            ecs.create_cluster(clusterName=svc.cluster)
            ecs.register_task_definition(
                family=svc.service,
                containerDefinitions=[{"name": "app", "image": "app:1", "memory": 128}],
            )
            ecs.create_service(
                cluster=svc.cluster,
                serviceName=svc.service,
                taskDefinition=svc.service,
                desiredCount=0,  # pilot light: moto never starts tasks
            )
        asg = boto3.client("autoscaling", region_name=name)
        ec2 = boto3.client("ec2", region_name=name)
        for group in c.autoscaling_groups:
            ec2.create_launch_template(
                LaunchTemplateName=group.name,
                LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
            )
            asg.create_auto_scaling_group(
                AutoScalingGroupName=group.name,
                LaunchTemplate={"LaunchTemplateName": group.name},
                MinSize=0,
                MaxSize=8,
                DesiredCapacity=2,
                AvailabilityZones=[f"{name}a"],
            )
        lam = boto3.client("lambda", region_name=name)
        for fn in c.lambda_functions:
            lam.create_function(
                FunctionName=fn.name,
                Runtime="python3.11",
                Role=role_arn,
                Handler="handler.handler",
                Code={"ZipFile": _lambda_zip()},
            )
    factory = ClientFactory(t, timeouts=Timeouts(connect=1, read=5, max_attempts=1))
    zone_id = next(iter(zone_ids.values()))
    return Seeded(t, factory, check_ids, zone_id, cluster_arns)


@pytest.fixture
def seeded(example: Topology, fake_credentials: None) -> Iterator[Seeded]:
    with mock_aws():
        yield seed(example)
