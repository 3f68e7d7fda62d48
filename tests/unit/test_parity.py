"""Parity across regions and capacity headroom: the comparison rules, the judgement, and
every AWS call they make checked against botocore's model with Stubber."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from mr_failover import topology as topo
from mr_failover.errors import ConfigError
from mr_failover.resources import capacity, parity
from mr_failover.resources.capacity import CapacityRead, CapacitySection, Demand, QuotaFinding
from mr_failover.resources.parity import (
    BLOCKING,
    Mismatch,
    ParitySection,
    ParityStatus,
    ResourceFacts,
    compare,
    image_name,
)
from mr_failover.resources.section import RegionView
from mr_failover.topology import PARITY_RULES, Topology

E, W, C = "us-east-1", "us-west-2", "eu-west-1"
NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def _client(service: str, region: str = W) -> tuple[Any, Stubber]:
    client = boto3.session.Session(
        aws_access_key_id="AKID", aws_secret_access_key="secret", region_name=region
    ).client(service, region_name=region)
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def _topology(**extra: Any) -> Topology:
    regions = {
        r: {
            "compute": {
                "ecs_services": [{"cluster": "app", "service": "api", "takeover_desired": 4}],
                "autoscaling_groups": [{"name": f"web-{r}", "takeover_desired": 4}],
                "lambda_functions": [{"name": "orders"}],
            },
            "dynamodb_tables": ["orders"],
        }
        for r in (E, W)
    }
    return Topology.model_validate(
        {
            "application": "shop",
            "account_id": "123456789012",
            "primary_region": E,
            "policy": {"rpo_seconds": 60, "rto_seconds": 900},
            "regions": regions,
            **extra,
        }
    )


def _fn(memory: str = "128", **values: str) -> ResourceFacts:
    base = {
        "lambda.code": "abc=",
        "lambda.runtime": "python3.12",
        "lambda.memory": memory,
        "lambda.timeout": "3",
        "lambda.reserved_concurrency": "none",
        "lambda.environment": "DB_URL,STAGE",
    }
    return ResourceFacts("lambda", "orders", True, {**base, **values})


# --- rules --------------------------------------------------------------------------------


def test_every_rule_has_a_documented_row_and_a_label() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "PARITY.md").read_text()
    for rule in PARITY_RULES:
        assert f"| `{rule}` |" in doc, rule
        blocks = "blocks" if rule in BLOCKING else "warning"
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{rule}` |"))
        assert f"| {blocks} |" in row, rule


def test_same_values_make_no_mismatch_and_each_difference_is_one() -> None:
    assert compare(W, [_fn()], E, [_fn()]) == []
    found = compare(W, [_fn("256", **{"lambda.environment": "STAGE"})], E, [_fn()])
    assert {(m.rule, m.value, m.reference_value, m.blocking) for m in found} == {
        ("lambda.memory", "256", "128", True),
        ("lambda.environment", "STAGE", "DB_URL,STAGE", True),
    }
    assert (
        found[0].sentence() == "lambda orders: memory (MB) 256, us-east-1 has 128 [lambda.memory]"
    )


def test_a_revision_alone_warns_and_another_image_blocks() -> None:
    def task(revision: str, image: str) -> ResourceFacts:
        return ResourceFacts(
            "ecs",
            "app/api",
            True,
            {
                "ecs.family": "api",
                "ecs.revision": revision,
                "ecs.images": image,
                "ecs.cpu": "256",
                "ecs.memory": "512",
            },
        )

    only_revision = compare(W, [task("7", "api:1.4")], E, [task("9", "api:1.4")])
    assert [(m.rule, m.blocking) for m in only_revision] == [("ecs.revision", False)]
    both = compare(W, [task("7", "api:1.3")], E, [task("9", "api:1.4")])
    assert {(m.rule, m.blocking) for m in both} == {("ecs.revision", False), ("ecs.images", True)}


def test_ecr_images_compare_without_their_registry_region() -> None:
    east = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4"
    west = "123456789012.dkr.ecr.us-west-2.amazonaws.com/shop/api:1.4"
    assert image_name(east) == image_name(west) == "shop/api:1.4"
    assert image_name("public.ecr.aws/nginx/nginx:stable") == "public.ecr.aws/nginx/nginx:stable"


def test_groups_pair_by_position_and_names_follow_the_group_and_region() -> None:
    def group(name: str, template: str, types: str, max_size: int, desired: int) -> ResourceFacts:
        return ResourceFacts(
            "asg",
            name,
            True,
            {
                "asg.launch_template": template,
                "asg.launch_template_version": "$Latest",
                "asg.instance_types": types,
            },
            {"max_size": max_size, "desired": desired},
        )

    east = group("web-use1", "web-use1-lt", "m5.large", 10, 6)
    same = group("web-usw2", "web-usw2-lt", "m5.large", 10, 2)
    assert compare(W, [same], E, [east]) == []
    by_region = group("web", f"web-{W}", "m5.large", 10, 2)
    assert compare(W, [by_region], E, [group("web", f"web-{E}", "m5.large", 10, 6)]) == []
    small = group("web-usw2", "other-lt", "t3.large", 4, 2)
    found = {m.rule: m for m in compare(W, [small], E, [east])}
    assert set(found) == {"asg.launch_template", "asg.instance_types", "asg.max_size"}
    assert not found["asg.launch_template"].blocking and found["asg.max_size"].blocking
    assert found["asg.max_size"].sentence() == (
        "asg web-usw2: MaxSize 4 is below the 6 instances us-east-1 (web-use1) runs now "
        "[asg.max_size]"
    )


def test_a_resource_missing_on_either_side_is_not_a_parity_mismatch() -> None:
    missing = ResourceFacts("lambda", "orders", False)
    assert compare(W, [missing], E, [_fn()]) == []
    assert compare(W, [_fn()], E, [missing]) == []


# --- the section's judgement --------------------------------------------------------------


def _view(t: Topology, region: str, found: dict[str, Any]) -> RegionView:
    facts = ParitySection().assemble(t, found)
    return RegionView(t, region, found, facts)


def test_the_primary_is_the_reference_and_the_other_region_gets_reasons_and_warnings() -> None:
    t = _topology(parity={})
    found = {E: {"parity:lambda": [_fn()]}, W: {"parity:lambda": [_fn("256")]}}
    east = ParitySection().judge(_view(t, E, found))
    assert not east.reasons and isinstance(east.value, ParityStatus)
    west = ParitySection().judge(_view(t, W, found))
    assert west.reasons == [
        "parity: lambda orders: memory (MB) 256, us-east-1 has 128 [lambda.memory]"
    ]


def test_without_the_primary_the_first_region_read_is_the_reference() -> None:
    t = _topology(parity={})
    found: dict[str, Any] = {E: {}, W: {"parity:lambda": [_fn("256")]}}
    west = ParitySection().judge(_view(t, W, found))
    assert not west.reasons and isinstance(west.value, ParityStatus)
    assert west.value.reference == W


def test_a_silenced_rule_keeps_its_reason_and_blocks_nothing() -> None:
    t = _topology(
        parity={"ignore": [{"rule": "lambda.memory", "resource": "orders", "reason": "batch"}]}
    )
    found = {E: {"parity:lambda": [_fn()]}, W: {"parity:lambda": [_fn("256")]}}
    west = ParitySection().judge(_view(t, W, found))
    assert not west.reasons and not west.warnings
    assert isinstance(west.value, ParityStatus)
    (m,) = west.value.mismatches
    assert m.ignored == "batch" and west.value.blocking == ()


def test_status_reads_parity_and_capacity_only_when_the_topology_asks() -> None:
    from mr_failover.resources.section import ReadContext

    off = ReadContext(_topology(), None, W, NOW)  # type: ignore[arg-type]
    on = ReadContext(_topology(parity={}, capacity={}), None, W, NOW)  # type: ignore[arg-type]
    assert ParitySection().reads(off) == [] and CapacitySection().reads(off) == []
    assert [r.key for r in CapacitySection().reads(on)] == ["capacity"]
    # One read per kind, run concurrently.
    keys = [r.key for r in ParitySection().reads(on)]
    assert keys == ["parity:ecs", "parity:lambda", "parity:asg", "parity:dynamodb"]


# --- topology -----------------------------------------------------------------------------


def _load(tmp_path: Path, parity_yaml: str) -> Topology:
    path = tmp_path / "t.yaml"
    path.write_text(
        "application: shop\n"
        'account_id: "123456789012"\n'
        "primary_region: us-east-1\n"
        "policy: {rpo_seconds: 60, rto_seconds: 900}\n"
        f"{parity_yaml}"
        "regions:\n"
        "  us-east-1: {compute: {lambda_functions: [{name: orders}]}}\n"
        "  us-west-2: {compute: {lambda_functions: [{name: orders}]}}\n"
    )
    return topo.load(path)


def test_parity_ignore_validates_rule_resource_and_region_with_lines(tmp_path: Path) -> None:
    ok = _load(
        tmp_path,
        "parity:\n  ignore:\n    - {rule: lambda.memory, resource: orders, reason: batch jobs}\n",
    )
    assert ok.parity is not None and ok.parity.ignore[0].reason == "batch jobs"
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "parity:\n  ignore:\n    - {rule: lambda.memroy, resource: x, reason: y}\n")
    assert "t.yaml:7:14: parity.ignore.0.rule: 'lambda.memroy' is not a parity rule" in str(
        caught.value.problems
    )
    assert "did you mean 'lambda.memory'?" in str(caught.value.problems)
    with pytest.raises(ConfigError) as caught:
        _load(
            tmp_path,
            "parity:\n  ignore:\n"
            "    - {rule: aurora.instance_count, resource: orders, reason: smaller standby}\n"
            "    - {rule: lambda.memory, resource: orders, region: eu-west-1, reason: nope}\n",
        )
    problems = "\n".join(caught.value.problems)
    assert "parity.ignore.0.resource: no aurora resource named 'orders'" in problems
    assert "parity.ignore.1.region: eu-west-1 is not a declared region" in problems
    with pytest.raises(ConfigError, match="reason"):
        _load(tmp_path, "parity:\n  ignore:\n    - {rule: lambda.memory, resource: orders}\n")


# --- reads, against botocore's model -------------------------------------------------------


def test_ecs_and_lambda_reads() -> None:
    t = _topology()
    ecs, s = _client("ecs")
    s.add_response(
        "describe_services",
        {"services": [{"serviceName": "api", "status": "ACTIVE", "taskDefinition": "arn:td:3"}]},
        {"cluster": "app", "services": ["api"]},
    )
    s.add_response(
        "describe_task_definition",
        {
            "taskDefinition": {
                "family": "api",
                "revision": 3,
                "cpu": "512",
                "memory": "1024",
                "containerDefinitions": [
                    {"name": "api", "image": "1.dkr.ecr.us-west-2.amazonaws.com/api:2"}
                ],
            }
        },
        {"taskDefinition": "arn:td:3"},
    )
    (svc,) = parity.observe_ecs(ecs, t.regions[W])
    assert svc.values["ecs.revision"] == "3" and svc.values["ecs.cpu"] == "512"
    s.assert_no_pending_responses()

    lam, s = _client("lambda")
    s.add_response(
        "get_function",
        {
            "Configuration": {
                "CodeSha256": "xyz=",
                "Runtime": "python3.12",
                "MemorySize": 512,
                "Timeout": 30,
                "Environment": {"Variables": {"SECRET_TOKEN": "do-not-print", "STAGE": "p"}},
            },
            "Concurrency": {"ReservedConcurrentExecutions": 50},
        },
        {"FunctionName": "orders"},
    )
    (fn,) = parity.observe_functions(lam, t.regions[W])
    assert fn.values["lambda.environment"] == "SECRET_TOKEN,STAGE"
    assert "do-not-print" not in repr(fn)
    assert fn.values["lambda.reserved_concurrency"] == "50"
    s.add_client_error(
        "get_function", "ResourceNotFoundException", expected_params={"FunctionName": "orders"}
    )
    assert parity.observe_functions(lam, t.regions[W])[0].found is False


def test_autoscaling_dynamodb_and_aurora_reads() -> None:
    t = _topology()
    asg, sa = _client("autoscaling")
    ec2, se = _client("ec2")
    sa.add_response(
        "describe_auto_scaling_groups",
        {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": f"web-{W}",
                    "MinSize": 0,
                    "MaxSize": 8,
                    "DesiredCapacity": 2,
                    "DefaultCooldown": 300,
                    "AvailabilityZones": ["us-west-2a"],
                    "HealthCheckType": "EC2",
                    "CreatedTime": NOW,
                    "LaunchTemplate": {"LaunchTemplateName": "web-lt", "Version": "$Latest"},
                }
            ]
        },
        {"AutoScalingGroupNames": [f"web-{W}"]},
    )
    se.add_response(
        "describe_launch_template_versions",
        {"LaunchTemplateVersions": [{"LaunchTemplateData": {"InstanceType": "m5.large"}}]},
        {"LaunchTemplateName": "web-lt", "Versions": ["$Latest"]},
    )
    (g,) = parity.observe_groups(asg, ec2, t.regions[W])
    assert g.values["asg.instance_types"] == "m5.large" and g.numbers["max_size"] == 8

    ddb, sd = _client("dynamodb")
    sd.add_response(
        "describe_table",
        {
            "Table": {
                "BillingModeSummary": {"BillingMode": "PROVISIONED"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 10},
                "GlobalSecondaryIndexes": [{"IndexName": "by-user"}],
                "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
            }
        },
        {"TableName": "orders"},
    )
    (table,) = parity.observe_tables(ddb, t.regions[W])
    assert table.values == {
        "dynamodb.billing_mode": "PROVISIONED",
        "dynamodb.capacity": "5 RCU/10 WCU",
        "dynamodb.indexes": "global:by-user",
        "dynamodb.stream": "KEYS_ONLY",
    }

    region = (
        _topology()
        .regions[W]
        .model_copy(
            update={"aurora": topo.Aurora(cluster="db-w", role="secondary", global_cluster="g")}
        )
    )
    rds, sr = _client("rds")
    sr.add_response(
        "describe_db_clusters",
        {"DBClusters": [{"DBClusterIdentifier": "db-w", "DBClusterParameterGroup": "pg"}]},
        {"DBClusterIdentifier": "db-w"},
    )
    sr.add_response(
        "describe_db_instances",
        {"DBInstances": [{"DBInstanceClass": "db.r6g.large"}, {"DBInstanceClass": "db.r6g.xl"}]},
        {"Filters": [{"Name": "db-cluster-id", "Values": ["db-w"]}]},
    )
    sr.add_response(
        "describe_db_cluster_parameter_groups",
        {"DBClusterParameterGroups": [{"DBParameterGroupFamily": "aurora-mysql8.0"}]},
        {"DBClusterParameterGroupName": "pg"},
    )
    (db,) = parity.observe_aurora(rds, region)
    assert db.values == {
        "aurora.instance_classes": "db.r6g.large,db.r6g.xl",
        "aurora.instance_count": "2",
        "aurora.parameter_group_family": "aurora-mysql8.0",
    }
    for stubber in (sa, se, sd, sr):
        stubber.assert_no_pending_responses()


# --- capacity -----------------------------------------------------------------------------


def test_a_quota_without_an_applied_value_falls_back_to_the_default_and_names_its_metric() -> None:
    client, s = _client("service-quotas")
    params = {"ServiceCode": "fargate", "QuotaCode": "L-3032A538"}
    s.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=params)
    s.add_response(
        "get_aws_default_service_quota",
        {
            "Quota": {
                "QuotaCode": "L-3032A538",
                "Value": 6.0,
                "UsageMetric": {
                    "MetricNamespace": "AWS/Usage",
                    "MetricName": "ResourceCount",
                    "MetricDimensions": {"Service": "Fargate", "Resource": "vCPU"},
                    "MetricStatisticRecommendation": "Maximum",
                },
            }
        },
        params,
    )
    quota = capacity.read_quota(client, capacity.FARGATE)
    assert quota["Value"] == 6.0
    query = capacity.usage_query(capacity.FARGATE, quota)
    assert query is not None
    assert (query.namespace, query.metric, query.stat) == ("AWS/Usage", "ResourceCount", "Maximum")
    assert query.dimensions == (("Resource", "vCPU"), ("Service", "Fargate"))
    assert capacity.usage_query(capacity.FARGATE, {"Value": 1.0}) is None


def test_observe_capacity_reads_demand_quotas_and_usage() -> None:
    t = _topology()
    clients: dict[str, tuple[Any, Stubber]] = {
        name: _client(name)
        for name in ("ecs", "autoscaling", "ec2", "service-quotas", "cloudwatch")
    }

    class Factory:
        def client(self, service: str, region: str) -> Any:
            return clients[service][0]

    ecs = clients["ecs"][1]
    ecs.add_response(
        "describe_services",
        {
            "services": [
                {
                    "serviceName": "api",
                    "status": "ACTIVE",
                    "launchType": "FARGATE",
                    "desiredCount": 2,
                    "runningCount": 2,
                    "taskDefinition": "arn:td:1",
                }
            ]
        },
        {"cluster": "app", "services": ["api"]},
    )
    ecs.add_response(
        "describe_task_definition",
        {"taskDefinition": {"cpu": "1024"}},
        {"taskDefinition": "arn:td:1"},
    )
    clients["autoscaling"][1].add_response(
        "describe_auto_scaling_groups",
        {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": f"web-{W}",
                    "MinSize": 0,
                    "MaxSize": 8,
                    "DesiredCapacity": 1,
                    "DefaultCooldown": 300,
                    "AvailabilityZones": ["us-west-2a"],
                    "HealthCheckType": "EC2",
                    "CreatedTime": NOW,
                    "MixedInstancesPolicy": {
                        "LaunchTemplate": {
                            "LaunchTemplateSpecification": {"LaunchTemplateName": "web-lt"},
                            "Overrides": [
                                {"InstanceType": "m5.large"},
                                {"InstanceType": "m5.xlarge"},
                            ],
                        }
                    },
                    "Instances": [
                        {
                            "InstanceId": "i-1",
                            "AvailabilityZone": "us-west-2a",
                            "LifecycleState": "InService",
                            "HealthStatus": "Healthy",
                            "ProtectedFromScaleIn": False,
                        }
                    ],
                }
            ]
        },
        {"AutoScalingGroupNames": [f"web-{W}"]},
    )
    clients["ec2"][1].add_response(
        "describe_instance_types",
        {
            "InstanceTypes": [
                {"InstanceType": "m5.large", "VCpuInfo": {"DefaultVCpus": 2}},
                {"InstanceType": "m5.xlarge", "VCpuInfo": {"DefaultVCpus": 4}},
            ]
        },
        {"InstanceTypes": ["m5.large", "m5.xlarge"]},
    )
    sq = clients["service-quotas"][1]
    for code, quota in (("fargate", "L-3032A538"), ("ec2", "L-1216C47A"), ("lambda", "L-B99A9384")):
        metric = {"MetricNamespace": "AWS/Usage", "MetricName": "ResourceCount"}
        sq.add_response(
            "get_service_quota",
            {"Quota": {"QuotaCode": quota, "Value": 10.0, "UsageMetric": metric}},
            {"ServiceCode": code, "QuotaCode": quota},
        )
    clients["cloudwatch"][1].add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "q0", "Timestamps": [NOW], "Values": [7.0]},
                {"Id": "q1", "Timestamps": [], "Values": []},
            ]
        },
        {
            "MetricDataQueries": ANY,
            "StartTime": ANY,
            "EndTime": ANY,
            "ScanBy": "TimestampDescending",
        },
    )
    read = capacity.observe_capacity(Factory(), W, t.regions[W], NOW)
    assert [(d.quota, d.more, d.in_use) for d in read.demands] == [
        ("fargate-vcpu", 2.0, 2.0),  # (4 - 2) tasks x 1 vCPU
        ("ec2-standard-vcpu", 12, 4),  # (4 - 1) x the larger type's 4 vCPU
    ]
    by_key = {q.key: q for q in read.quotas}
    assert by_key["fargate-vcpu"].usage == 7.0 and by_key["ec2-standard-vcpu"].usage is None
    for _, stubber in clients.values():
        stubber.assert_no_pending_responses()


def _quota(key: str, value: float, usage: float | None) -> QuotaFinding:
    return QuotaFinding(key, "x", "L-X", "name", value, usage)


def test_headroom_against_the_take_over_need() -> None:
    demand = Demand("fargate-vcpu", "ecs app/api", 48, 10)
    read = CapacityRead((_quota("fargate-vcpu", 100, 80),), (demand,))
    (h,) = capacity.headroom(read, [])
    assert (h.needed, h.headroom, h.usage_source, h.short) == (48, 20, "metric", True)
    assert capacity.sentence(W, h) == (
        "us-west-2 needs 48 more Fargate vCPU; quota headroom 20 (L-X 100, in use 80): "
        "cannot take over"
    )
    # No datapoint: what the topology's own resources use is the floor.
    (h,) = capacity.headroom(CapacityRead((_quota("fargate-vcpu", 100, None),), (demand,)), [])
    assert (h.usage, h.usage_source, h.short) == (10, "resources", False)
    # Lambda: the concurrency the other regions use now moves here.
    mine = CapacityRead((_quota("lambda-concurrency", 1000, 100),), ())
    other = CapacityRead((_quota("lambda-concurrency", 3000, 950),), ())
    (h,) = capacity.headroom(mine, [other])
    assert (h.needed, h.headroom, h.short) == (950, 900, True)


def test_the_capacity_judgement_gives_the_sentence_as_a_reason() -> None:
    t = _topology(capacity={})
    demand = Demand("fargate-vcpu", "ecs app/api", 48, 10)
    found = {
        E: {"capacity": CapacityRead((_quota("fargate-vcpu", 500, 0),), ())},
        W: {"capacity": CapacityRead((_quota("fargate-vcpu", 100, 80),), (demand,))},
    }
    west = CapacitySection().judge(RegionView(t, W, found, {}))
    assert west.reasons == [
        "capacity: us-west-2 needs 48 more Fargate vCPU; quota headroom 20 (L-X 100, "
        "in use 80): cannot take over"
    ]
    assert not CapacitySection().judge(RegionView(t, E, found, {})).reasons


def test_mismatch_json_carries_the_reason_of_a_silenced_rule() -> None:
    m = Mismatch("lambda.memory", "lambda", "orders", W, "256", E, "orders", "128", True, "why")
    doc = ParitySection().to_json(ParityStatus(E, (), (m,)))
    assert doc["mismatches"][0]["ignored"] == "why" and doc["reference_region"] == E


def test_secret_and_parameter_values_compare_by_a_hash_that_is_never_shown() -> None:
    region = (
        _topology()
        .regions[W]
        .model_copy(
            update={
                "readiness": topo.Readiness(secrets=["db"], ssm_parameters=["/flags"]),
            }
        )
    )
    sm, s = _client("secretsmanager")
    s.add_response("get_secret_value", {"SecretString": "hunter2"}, {"SecretId": "db"})
    (secret,) = parity.observe_secrets(sm, region)
    assert secret.values["secret.value"] == parity.digest("hunter2")
    assert "hunter2" not in repr(secret)
    ssm, s = _client("ssm")
    s.add_response(
        "get_parameters",
        {"Parameters": [{"Name": "/flags", "Type": "SecureString", "Value": "beta=on"}]},
        {"Names": ["/flags"], "WithDecryption": True},
    )
    (param,) = parity.observe_parameters(ssm, region)
    assert param.values["ssm.value"] == parity.digest("SecureString:beta=on")

    other = ResourceFacts("secret", "db", True, {"secret.value": parity.digest("hunter3")})
    (m,) = compare(W, [secret], E, [other])
    assert (m.value, m.reference_value, m.blocking) == ("(hash differs)", "(not shown)", True)
    assert m.sentence() == (
        "secret db: value differs from us-east-1's (compared by hash, not shown) [secret.value]"
    )
    doc = ParitySection().to_json(ParityStatus(E, (secret, param), (m,)))
    text = str(doc)
    assert "hunter" not in text and parity.digest("hunter2") not in text
    assert doc["resources"][0]["values"] == {"secret.value": "(hashed)"}


def test_api_endpoint_stage_throttling_and_certificate_names() -> None:
    region = (
        _topology()
        .regions[W]
        .model_copy(
            update={
                "api_endpoints": [
                    topo.ApiEndpoint(domain="api.example.com"),
                    topo.ApiEndpoint(domain="h.example.com", api_type="http"),
                ]
            }
        )
    )
    clients = {name: _client(name) for name in ("apigateway", "apigatewayv2", "acm")}

    class Factory:
        def client(self, service: str, region: str) -> Any:
            return clients[service][0]

    rest, v2, acm = (clients[n][1] for n in ("apigateway", "apigatewayv2", "acm"))
    cert = "arn:aws:acm:us-west-2:123456789012:certificate/abc"
    rest.add_response(
        "get_domain_name",
        {"domainName": "api.example.com", "regionalCertificateArn": cert},
        {"domainName": "api.example.com"},
    )
    rest.add_response(
        "get_base_path_mappings",
        {"items": [{"basePath": "(none)", "restApiId": "r1", "stage": "prod"}]},
        {"domainName": "api.example.com"},
    )
    acm.add_response(
        "describe_certificate",
        {"Certificate": {"CertificateArn": cert, "Status": "ISSUED"}},
        {"CertificateArn": cert},
    )
    rest.add_response(
        "get_stage",
        {"methodSettings": {"*/*": {"throttlingRateLimit": 100.0, "throttlingBurstLimit": 50}}},
        {"restApiId": "r1", "stageName": "prod"},
    )
    acm.add_response(
        "describe_certificate",
        {
            "Certificate": {
                "DomainName": "api.example.com",
                "SubjectAlternativeNames": ["api.example.com", "www.example.com"],
            }
        },
        {"CertificateArn": cert},
    )
    v2.add_response(
        "get_domain_name",
        {"DomainName": "h.example.com", "DomainNameConfigurations": [{"EndpointType": "REGIONAL"}]},
        {"DomainName": "h.example.com"},
    )
    v2.add_response(
        "get_api_mappings",
        {"Items": [{"ApiId": "h1", "ApiMappingKey": "", "Stage": "$default"}]},
        {"DomainName": "h.example.com"},
    )
    v2.add_response(
        "get_stage", {"StageName": "$default"}, {"ApiId": "h1", "StageName": "$default"}
    )
    rest_api, http_api = parity.observe_api_endpoints(Factory(), W, region)  # type: ignore[arg-type]
    assert rest_api.values == {
        "api.stage": "prod",
        "api.throttling": "100.0/50",
        "api.certificate_domains": "api.example.com,www.example.com",
    }
    assert http_api.values == {
        "api.stage": "$default",
        "api.throttling": "account",
        "api.certificate_domains": "none",
    }
    for _, stubber in clients.values():
        stubber.assert_no_pending_responses()
