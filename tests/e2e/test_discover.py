"""``mr-failover discover`` and ``validate --live`` against the sandbox, end to end.

The application is created directly with boto3 (never the seeder): three regions, tags,
latency records with health checks, an Aurora global database, DynamoDB global tables
and replicated buckets. ``discover`` must write a file that validates, and ``status`` on
it must give the same writer, regions and verdicts as a hand-written topology of the same
application. The seeded example, tagged, must discover into a file whose ``status`` JSON
equals the example's (volatile fields masked). Then the bad inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover import topology as topo
from mr_failover.sandbox.client import SandboxClient
from mr_failover.topology import Topology
from tests.e2e.test_status_golden import mask

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
TAG = {"Key": "app", "Value": "shop"}
ZONE = "shop.example.com."
DOMAIN = "api.shop.example.com"


def build_shop(aws: Any, control: SandboxClient | None, *, app: str = "shop") -> dict[str, str]:
    """The application, made with boto3 calls as a user would; health check ids by region.

    ``control`` is the sandbox's (its clock advanced while replicas are created, each
    health check told which region it probes); ``None`` for a plain moto server."""
    tags = [{"Key": "app", "Value": app}]
    writer, *others = REGIONS
    rds = aws("rds", writer)
    rds.create_global_cluster(
        GlobalClusterIdentifier=f"{app}-global",
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
    )
    for region in REGIONS:
        kwargs: dict[str, Any] = {}
        if region == writer:
            kwargs = {"MasterUsername": "admin", "MasterUserPassword": "sandbox-only-pw"}
        cluster = f"{app}-{region}"
        aws("rds", region).create_db_cluster(
            DBClusterIdentifier=cluster,
            Engine="aurora-mysql",
            EngineVersion="8.0.mysql_aurora.3.05.2",
            GlobalClusterIdentifier=f"{app}-global",
            Tags=tags,
            **kwargs,
        )
        aws("rds", region).create_db_instance(
            DBInstanceIdentifier=f"{cluster}-1",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-mysql",
            DBClusterIdentifier=cluster,
        )
    ddb = aws("dynamodb", writer)
    table = f"{app}-orders"
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=tags,
    )
    for region in others:
        ddb.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        for _ in range(200):
            t = ddb.describe_table(TableName=table)["Table"]
            if t["TableStatus"] == "ACTIVE" and all(
                r.get("ReplicaStatus") == "ACTIVE" for r in t.get("Replicas", [])
            ):
                break
            if control is not None:
                control.advance(0.5)
    role = aws("iam", writer).create_role(
        RoleName=f"{app}-replication",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    for region in REGIONS:
        s3 = aws("s3", region)
        kwargs = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=f"{app}-assets-{region}", **kwargs)
        s3.put_bucket_versioning(
            Bucket=f"{app}-assets-{region}", VersioningConfiguration={"Status": "Enabled"}
        )
        s3.put_bucket_tagging(Bucket=f"{app}-assets-{region}", Tagging={"TagSet": tags})
    aws("s3", writer).put_bucket_replication(
        Bucket=f"{app}-assets-{writer}",
        ReplicationConfiguration={
            "Role": role,
            "Rules": [
                {
                    "ID": f"to-{region}",
                    "Priority": i,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{app}-assets-{region}"},
                }
                for i, region in enumerate(others, start=1)
            ],
        },
    )
    r53 = aws("route53", "us-east-1")
    zone_id = r53.create_hosted_zone(Name=ZONE, CallerReference=f"{app}-zone")["HostedZone"]["Id"]
    checks = {}
    changes = []
    for region in REGIONS:
        check = r53.create_health_check(
            CallerReference=f"{app}-{region}",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": f"api-{region}.shop.example.com",
                "Port": 443,
                "ResourcePath": "/health",
                "RequestInterval": 30,
                "FailureThreshold": 3,
            },
        )["HealthCheck"]["Id"]
        r53.change_tags_for_resource(
            ResourceType="healthcheck",
            ResourceId=check,
            AddTags=[{"Key": "Name", "Value": f"api-{region}"}],
        )
        if control is not None:
            control.assign_health_check(check, region)
        checks[region] = check
        changes.append(
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": f"{DOMAIN}.",
                    "Type": "CNAME",
                    "SetIdentifier": region,
                    "Region": region,
                    "TTL": 60,
                    "ResourceRecords": [{"Value": f"api-{region}.shop.example.com"}],
                    "HealthCheckId": check,
                },
            }
        )
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return checks


HAND_WRITTEN = """\
application: shop
account_id: "123456789012"
primary_region: us-east-1
policy: {rpo_seconds: 60, rto_seconds: 900}
regions:
"""


def hand_written(*, tables: bool = True) -> str:
    text = HAND_WRITTEN
    for region in REGIONS:
        role = "writer" if region == "us-east-1" else "secondary"
        text += f"""\
  {region}:
    traffic:
      health_checks:
        - {{name: api-{region}, fqdn: api-{region}.shop.example.com}}
      records:
        - zone: {ZONE}
          name: {DOMAIN}.
          set_identifier: {region}
          routing_policy: latency
          value: api-{region}.shop.example.com
          health_check: api-{region}
    aurora: {{mode: global, global_cluster: shop-global, cluster: shop-{region}, role: {role}}}
{"    dynamodb_tables: [shop-orders]" if tables else ""}
    s3_buckets:
      - name: shop-assets-{region}
"""
        if region == "us-east-1":
            text += """\
        replicate_to:
          - {bucket: shop-assets-us-west-2, region: us-west-2}
          - {bucket: shop-assets-eu-west-1, region: eu-west-1}
"""
    return text


def _status(run_cli: Any, config: Path) -> dict[str, Any]:
    result = run_cli("--config", str(config), "--output", "json", "status")
    assert result.exit_code in (0, 4, 6), result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _discover(run_cli: Any, out: Path, *args: str) -> Any:
    return run_cli("discover", "--regions", ",".join(REGIONS), "--output", str(out), *args)


# discover's options for the shop application: its tag, its domain, its objectives.
SHOP_SEEDS = (
    "--tag",
    "app=shop",
    "--domain",
    DOMAIN,
    "--rpo-seconds",
    "60",
    "--rto-seconds",
    "900",
)


@pytest.mark.usefixtures("e2e_topology")
def test_discover_a_boto3_application_matches_a_hand_written_topology(
    run_cli: Any, aws: Any, control: SandboxClient, tmp_path: Path
) -> None:
    build_shop(aws, control)
    out = tmp_path / "discovered.yaml"
    result = _discover(run_cli, out, *SHOP_SEEDS)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert run_cli("validate", str(out)).exit_code == 0
    found = topo.load(out)
    assert list(found.regions) == list(REGIONS)
    assert found.writer_region() == "us-east-1"
    assert found.primary_region == "us-east-1"
    assert found.regions["eu-west-1"].dynamodb_tables == ["shop-orders"]
    targets = {t.region for t in found.regions["us-east-1"].s3_buckets[0].replicate_to}
    assert targets == {"us-west-2", "eu-west-1"}
    # The example's resources (seeded too) carry no app=shop tag: none of them came in.
    assert "arc309" not in out.read_text()

    hand = tmp_path / "hand.yaml"
    hand.write_text(hand_written())
    ours, theirs = _status(run_cli, out), _status(run_cli, hand)
    assert [r["name"] for r in ours["regions"]] == [r["name"] for r in theirs["regions"]]
    for a, b in zip(ours["regions"], theirs["regions"], strict=True):
        assert (a["name"], a["is_writer"], a["verdict"], a["can_take_over"]) == (
            b["name"],
            b["is_writer"],
            b["verdict"],
            b["can_take_over"],
        )
        assert a["reasons"] == b["reasons"]
    assert [r["is_writer"] for r in ours["regions"]] == [True, False, False]

    # validate --live: the account matches, then a record changes under the file.
    live = run_cli("validate", "--live", str(out))
    assert live.exit_code == 0, live.output
    assert "AWS matches the file" in live.stdout
    r53 = aws("route53", "us-east-1")
    zone = r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]
    rrs = next(
        r
        for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        if r.get("SetIdentifier") == "us-west-2"
    )
    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {**rrs, "TTL": 300}}]},
    )
    aws("dynamodb", "us-east-1").update_table(
        TableName="shop-orders", ReplicaUpdates=[{"Delete": {"RegionName": "eu-west-1"}}]
    )
    live = run_cli("--output", "json", "validate", "--live", str(out))
    assert live.exit_code == 6, live.output
    texts = [d["text"] for d in json.loads(live.stdout)["differences"]]
    assert any("ttl is 300 in AWS, 60 in the file" in t for t in texts), texts


def _add_the_users_readiness_choices(path: Path, example: Topology) -> None:
    """Add to the discovered file the two readiness entries no AWS fact leads to, as the
    user would: which bucket holds deployment templates (a replicated bucket is otherwise
    an ordinary one) and which repository stands in for a missing one (a mirror). The
    rest of readiness (code repository, secrets, SSM parameters) is discover's own."""
    data = yaml.safe_load(path.read_text())
    for name, spec in example.regions.items():
        ready = data["regions"][name]["readiness"]
        if spec.readiness.templates is not None:
            ready["templates"] = spec.readiness.templates.model_dump(exclude_defaults=True)
        code = spec.readiness.code_repository
        if code is not None and code.mirror is not None:
            assert ready["code_repository"]["name"] == code.name
            ready["code_repository"]["mirror"] = code.mirror.model_dump(exclude_defaults=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _tag_example(aws: Any, t: Topology) -> None:
    tags = [{"Key": "app", "Value": "arc309"}]
    for region, spec in t.regions.items():
        rds = aws("rds", region)
        assert spec.aurora is not None
        arn = rds.describe_db_clusters(DBClusterIdentifier=spec.aurora.cluster)["DBClusters"][0][
            "DBClusterArn"
        ]
        rds.add_tags_to_resource(ResourceName=arn, Tags=tags)
        ddb = aws("dynamodb", region)
        for table in spec.dynamodb_tables:
            ddb.tag_resource(
                ResourceArn=ddb.describe_table(TableName=table)["Table"]["TableArn"], Tags=tags
            )
        for bucket in spec.s3_buckets:
            aws("s3", region).put_bucket_tagging(Bucket=bucket.name, Tagging={"TagSet": tags})
        ecs = aws("ecs", region)
        for svc in spec.compute.ecs_services:
            arn = ecs.describe_services(cluster=svc.cluster, services=[svc.service])["services"][0][
                "serviceArn"
            ]
            ecs.tag_resource(resourceArn=arn, tags=[{"key": "app", "value": "arc309"}])
        for group in spec.compute.autoscaling_groups:
            aws("autoscaling", region).create_or_update_tags(
                Tags=[
                    {
                        "ResourceId": group.name,
                        "ResourceType": "auto-scaling-group",
                        "Key": "app",
                        "Value": "arc309",
                        "PropagateAtLaunch": False,
                    }
                ]
            )
        lam = aws("lambda", region)
        for fn in spec.compute.lambda_functions:
            arn = lam.get_function(FunctionName=fn.name)["Configuration"]["FunctionArn"]
            lam.tag_resource(Resource=arn, Tags={"app": "arc309"})
        assert spec.elasticache is not None
        ec = aws("elasticache", region)
        group_arn = ec.describe_replication_groups(
            ReplicationGroupId=spec.elasticache.replication_group
        )["ReplicationGroups"][0]["ARN"]
        ec.add_tags_to_resource(ResourceName=group_arn, Tags=tags)
        # Readiness: the repository (not its mirror), the parameters; secrets below.
        if spec.readiness.code_repository is not None:
            cc = aws("codecommit", region)
            repo = spec.readiness.code_repository.name
            arn = cc.get_repository(repositoryName=repo)["repositoryMetadata"]["Arn"]
            cc.tag_resource(resourceArn=arn, tags={"app": "arc309"})
        for param in spec.readiness.ssm_parameters:
            aws("ssm", region).add_tags_to_resource(
                ResourceType="Parameter", ResourceId=param, Tags=tags
            )
    # A secret is tagged where it is created; its replicas carry its tags.
    sm = aws("secretsmanager", t.primary_region)
    for name in sorted({n for spec in t.regions.values() for n in spec.readiness.secrets}):
        sm.tag_resource(SecretId=name, Tags=tags)
    ga = aws("globalaccelerator", "us-west-2")
    for acc in ga.list_accelerators()["Accelerators"]:
        ga.tag_resource(ResourceArn=acc["AcceleratorArn"], Tags=tags)


def test_discover_the_seeded_example_gives_the_same_status_json(
    run_cli: Any, aws: Any, e2e_topology: Topology, e2e_topology_file: Path, tmp_path: Path
) -> None:
    _tag_example(aws, e2e_topology)
    out = tmp_path / "discovered.yaml"
    result = run_cli(
        "discover",
        "--regions",
        "us-east-1,us-west-2",
        "--tag",
        "app=arc309",
        "--domain",
        "api.arc309.example.com",
        "--takeover-factor",
        "2",
        "--rpo-seconds",
        "60",
        "--rto-seconds",
        "900",
        "--output",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert run_cli("validate", str(out)).exit_code == 0
    found = topo.load(out)
    assert {r: s.readiness.model_dump(exclude_defaults=True) for r, s in found.regions.items()} == {
        r: {
            "code_repository": {"name": "arc309-app"},
            "secrets": ["arc309/db-credentials"],
            "ssm_parameters": ["/arc309/config/feature-flags"],
        }
        for r in ("us-east-1", "us-west-2")
    }
    # The routing controls, from the records' calculated checks (an ARC setup).
    assert {r: s.traffic.routing_controls for r, s in found.regions.items()} == {
        r: s.traffic.routing_controls for r, s in e2e_topology.regions.items()
    }
    assert found.arc is not None and e2e_topology.arc is not None
    assert found.arc.cluster_arn == e2e_topology.arc.cluster_arn
    _add_the_users_readiness_choices(out, e2e_topology)
    ours = mask(_status(run_cli, out))
    theirs = mask(_status(run_cli, e2e_topology_file))
    assert ours == theirs
    # What the comparison covers: every service discover reads, with values.
    use1 = ours["regions"][0]
    assert use1["aurora"]["global_cluster"]["writer_region"] == "us-east-1"
    assert {s["name"] for s in use1["compute"]["services"]} == {"arc309/api", "arc309-web-use1"}
    assert use1["elasticache"]["primary_region"] == "us-east-1"
    assert use1["api"]["endpoints"][0]["endpoint"]["domain"] == "api.arc309.example.com"
    assert len(use1["dynamodb"]["tables"]) == 2 and use1["s3"]["buckets"]
    assert use1["accelerator"]["accelerator"]["name"] == "arc309"
    assert [g["dial"] for g in use1["accelerator"]["accelerator"]["groups"]] == [100.0, 100.0]
    assert [(d["name"], len(d["groups"])) for d in ours["cloudfront"]] == [("assets", 1)]
    assert [rc["state"] for r in ours["regions"] for rc in r["traffic"]["routing_controls"]] == [
        "ON",
        "ON",
    ]
    assert [(r["verdict"], r["can_take_over"]) for r in ours["regions"]] == [("serving", True)] * 2
    usw2 = ours["regions"][1]["readiness"]
    assert (usw2["code"]["found"], usw2["secrets"][0]["status"]) == (True, "InSync")
    assert usw2["parameters"]["missing"] == [] and usw2["templates"]["present"] is True


# --- bad input ------------------------------------------------------------------------


def _partial(run_cli: Any, tmp_path: Path, *args: str) -> tuple[Any, str]:
    out = tmp_path / "partial.yaml"
    result = run_cli("discover", "--output", str(out), *args)
    assert "Traceback" not in result.output
    assert out.exists(), result.output
    return result, out.read_text()


@pytest.mark.usefixtures("e2e_topology")
def test_no_resources_found_is_a_problem_in_a_partial_file(run_cli: Any, tmp_path: Path) -> None:
    result, text = _partial(
        run_cli, tmp_path, "--regions", "us-east-1,us-west-2", "--tag", "app=nothing-has-this"
    )
    assert result.exit_code == 1
    assert "# PROBLEM: no resources found in us-east-1, us-west-2" in text
    assert "warning: problem: (top level): no resources found" in result.stderr
    yaml.safe_load(text)  # still a YAML file, with the regions to fill in


@pytest.mark.usefixtures("e2e_topology")
def test_a_tag_matching_two_applications_writes_neither(
    run_cli: Any, aws: Any, control: SandboxClient, tmp_path: Path
) -> None:
    build_shop(aws, control)
    # A second Aurora global database carries the same tag: another application.
    rds = aws("rds", "us-east-1")
    rds.create_global_cluster(
        GlobalClusterIdentifier="other-global",
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
    )
    rds.create_db_cluster(
        DBClusterIdentifier="other-use1",
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
        GlobalClusterIdentifier="other-global",
        MasterUsername="admin",
        MasterUserPassword="sandbox-only-pw",
        Tags=[TAG],
    )
    result, text = _partial(
        run_cli, tmp_path, "--regions", ",".join(REGIONS), "--tag", "app=shop", "--domain", DOMAIN
    )
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())  # wrapped at spaces at 80 columns
    assert "matches 2 Aurora global databases (other-global, shop-global)" in said
    assert "# PROBLEM: the tag or stack matches 2 Aurora global databases" in text
    assert "aurora:" not in text
    assert "shop-orders" in text  # the rest is still written


@pytest.mark.usefixtures("e2e_topology")
def test_a_record_with_no_health_check_is_marked(
    run_cli: Any, aws: Any, control: SandboxClient, tmp_path: Path
) -> None:
    r53 = aws("route53", "us-east-1")
    zone = r53.create_hosted_zone(Name="bare.example.com.", CallerReference="bare")["HostedZone"][
        "Id"
    ]
    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "www.bare.example.com.",
                        "Type": "CNAME",
                        "SetIdentifier": region,
                        "Region": region,
                        "TTL": 60,
                        "ResourceRecords": [{"Value": f"lb.{region}.elb.amazonaws.com"}],
                    },
                }
                for region in ("us-east-1", "us-west-2")
            ]
        },
    )
    result, text = _partial(
        run_cli, tmp_path, "--regions", "us-east-1,us-west-2", "--domain", "www.bare.example.com"
    )
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())  # wrapped at spaces at 80 columns
    assert "record www.bare.example.com. (us-east-1) carries no health check" in said
    assert text.count("# PROBLEM: record www.bare.example.com.") == 2
    # validate says what is still wrong, at the lines the PROBLEM comments sit above.
    check = run_cli("validate", str(tmp_path / "partial.yaml"))
    assert check.exit_code == 2
    assert "drain_lever: health_check_inversion needs a health check" in check.output


@pytest.mark.usefixtures("e2e_topology")
def test_a_region_that_does_not_answer_is_marked(
    run_cli: Any, aws: Any, control: SandboxClient, tmp_path: Path
) -> None:
    build_shop(aws, control)
    control.fail_region("eu-west-1")
    result, text = _partial(
        run_cli,
        tmp_path,
        "--regions",
        ",".join(REGIONS),
        "--tag",
        "app=shop",
        "--domain",
        DOMAIN,
        "--deadline",
        "3",
    )
    assert result.exit_code == 1
    assert "regions.eu-west-1: tagged resources not read" in result.stderr
    assert "# PROBLEM: tagged resources not read" in text
    found = yaml.safe_load(text)
    # What the other regions reported is there: the writer and the table's replicas.
    assert found["regions"]["us-east-1"]["aurora"]["role"] == "writer"


# --- --update ---------------------------------------------------------------------------


@pytest.mark.usefixtures("e2e_topology")
def test_update_keeps_comments_and_choices_and_reports_what_disappeared(
    run_cli: Any, aws: Any, control: SandboxClient, tmp_path: Path
) -> None:
    build_shop(aws, control)
    out = tmp_path / "shop.yaml"
    assert _discover(run_cli, out, "--tag", "app=shop", "--domain", DOMAIN).exit_code == 0
    text = out.read_text()
    # The user: a comment of their own, their RPO, a table dropped, a bucket AWS lacks.
    text = text.replace("application: shop", "application: shop   # the shop, owned by team A")
    text = text.replace("rpo_seconds: 60", "rpo_seconds: 5")
    text = text.replace("    dynamodb_tables: [shop-orders]\n", "", 1)
    text = text.replace(
        "      - name: shop-assets-us-west-2\n",
        "      - name: shop-assets-us-west-2\n      - name: shop-gone-bucket\n",
    )
    out.write_text(text)
    result = run_cli(
        "discover",
        "--regions",
        ",".join(REGIONS),
        "--tag",
        "app=shop",
        "--domain",
        DOMAIN,
        "--update",
        str(out),
    )
    assert "Traceback" not in result.output
    merged = out.read_text()
    assert "# the shop, owned by team A" in merged
    assert "rpo_seconds: 5" in merged
    assert "added: regions.us-east-1.dynamodb_tables" in result.stderr
    assert "disappeared: regions.us-west-2.s3_buckets: shop-gone-bucket" in result.stderr
    assert "shop-gone-bucket  # not found by discover" in merged
    loaded = topo.load(out)
    assert loaded.regions["us-east-1"].dynamodb_tables == ["shop-orders"]
    assert loaded.policy.rpo_seconds == 5


def test_routing_controls_are_followed_from_the_records_recovery_control_checks(
    run_cli: Any, aws: Any, e2e_topology: Topology, tmp_path: Path
) -> None:
    """Records that carry RECOVERY_CONTROL checks lead discover to their routing controls
    and the ARC cluster that serves them (control plane: DescribeRoutingControl and
    DescribeControlPanel)."""
    r53 = aws("route53", "us-east-1")
    zone = r53.list_hosted_zones_by_name(DNSName="arc309.example.com.")["HostedZones"][0]["Id"]
    records = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    wanted = {}
    changes = []
    for region, spec in e2e_topology.regions.items():
        control_arn = spec.traffic.routing_controls[0]
        wanted[region] = control_arn
        check = r53.create_health_check(
            CallerReference=f"rc-{region}",
            HealthCheckConfig={"Type": "RECOVERY_CONTROL", "RoutingControlArn": control_arn},
        )["HealthCheck"]["Id"]
        rrs = next(r for r in records if r.get("SetIdentifier") == region)
        changes.append({"Action": "UPSERT", "ResourceRecordSet": {**rrs, "HealthCheckId": check}})
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})

    out = tmp_path / "discovered.yaml"
    result = run_cli(
        "discover",
        "--regions",
        "us-east-1,us-west-2",
        "--domain",
        "api.arc309.example.com",
        "--output",
        str(out),
    )
    assert "Traceback" not in result.output
    valid = run_cli("validate", str(out))
    assert valid.exit_code == 0, result.output
    found = topo.load(out)
    assert {r: s.traffic.routing_controls for r, s in found.regions.items()} == {
        r: [arn] for r, arn in wanted.items()
    }
    assert found.arc is not None and e2e_topology.arc is not None
    assert found.arc.cluster_arn == e2e_topology.arc.cluster_arn
