"""Issue 18, "on a schedule, in the account": status --publish, alarms apply and the Lambda
handler, end to end against the sandbox.

The metrics are read back with GetMetricData (the tool's own ``latest_points``), the
alarms with DescribeAlarms, and the sandbox's call log says which mutating calls were made
(a second ``alarms apply`` makes no PutMetricAlarm). The handler runs in-process with
``AWS_ENDPOINT_URL`` pointing at the sandbox, as the Lambda runtime would run it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover import lambda_handler
from mr_failover.operations import alarms, metrics
from mr_failover.resources.cloudwatch import MetricQuery, latest_points
from mr_failover.sandbox.client import SandboxClient
from mr_failover.topology import Topology
from tests.e2e.test_parity_capacity import _opted_in, _seed_mismatches

E, W = "us-east-1", "us-west-2"
APP = "arc309"
LOCK_REGION = "us-east-1"  # config/regions.yaml's lock: the default publish region
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"


def _read_back(aws: Any, region: str, names: list[str]) -> dict[tuple[str, str], float | None]:
    queries = [
        MetricQuery(
            f"{r}/{m}",
            metrics.NAMESPACE,
            m,
            (("Application", APP), ("Region", r)),
            stat="Maximum",
        )
        for r in (E, W)
        for m in names
    ]
    points = latest_points(aws("cloudwatch", region), queries, now=datetime.now(UTC))
    return {
        tuple(key.split("/", 1)): (None if p is None else p.value)  # type: ignore[misc]
        for key, p in points.items()
    }


def test_status_publish_leaves_the_metrics_readable(
    run_cli: Any, e2e_topology: Topology, tmp_path: Path, aws: Any, control: SandboxClient
) -> None:
    config = _opted_in(e2e_topology, tmp_path)
    since = len(control.calls())
    result = run_cli(
        "--config", config, "--output", "json", "status", "--publish", "--deadline", "30"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["publish"]["error"] is None
    assert doc["publish"]["region"] == LOCK_REGION
    puts = [c for c in control.calls()[since:] if c["action"] == "PutMetricData"]
    assert [(c["region"], c["status"]) for c in puts] == [(LOCK_REGION, 200)]

    names = [
        metrics.CAN_TAKE_OVER,
        metrics.VERDICT,
        metrics.DRIFT,
        metrics.PARITY_MISMATCHES,
        metrics.QUOTA_CAN_TAKE_OVER,
        metrics.REPLICATION_LAG,
    ]
    got = _read_back(aws, LOCK_REGION, names)
    for region in (E, W):
        assert got[(region, metrics.CAN_TAKE_OVER)] == 1.0
        assert got[(region, metrics.VERDICT)] == metrics.VERDICT_CODES["serving"]
        assert got[(region, metrics.DRIFT)] == 0.0
        assert got[(region, metrics.PARITY_MISMATCHES)] == 0.0
        assert got[(region, metrics.QUOTA_CAN_TAKE_OVER)] == 1.0
    # The Aurora secondary has a lag; the JSON says the same value was published.
    west = next(r for r in doc["regions"] if r["name"] == W)
    lag = got[(W, metrics.REPLICATION_LAG)]
    assert lag is not None and lag >= 0
    assert {"metric": metrics.REPLICATION_LAG, "region": W, "value": lag, "unit": "Seconds"} in (
        doc["publish"]["metrics"]
    )
    assert west["can_take_over"] is True
    # Nothing published in the other region.
    assert _read_back(aws, W, [metrics.CAN_TAKE_OVER])[(E, metrics.CAN_TAKE_OVER)] is None


def test_a_region_that_cannot_take_over_publishes_0_and_its_mismatches(
    run_cli: Any, e2e_topology: Topology, tmp_path: Path, aws: Any
) -> None:
    config = _opted_in(e2e_topology, tmp_path)
    _seed_mismatches(aws)
    result = run_cli("--config", config, "status", "--publish", "--deadline", "30")
    assert result.exit_code == 4, result.output
    assert "published" in result.stdout and f"to CloudWatch in {LOCK_REGION}" in result.stdout
    got = _read_back(
        aws, LOCK_REGION, [metrics.CAN_TAKE_OVER, metrics.VERDICT, metrics.PARITY_MISMATCHES]
    )
    assert got[(W, metrics.CAN_TAKE_OVER)] == 0.0
    assert got[(W, metrics.VERDICT)] == metrics.VERDICT_CODES["degraded"]
    mismatches = got[(W, metrics.PARITY_MISMATCHES)]
    assert mismatches is not None and mismatches >= 2  # Lambda memory, task definition
    assert got[(E, metrics.CAN_TAKE_OVER)] == 1.0


def test_a_publish_that_fails_is_a_warning_and_exit_7(
    run_cli: Any, e2e_topology_file: Path, control: SandboxClient
) -> None:
    control.fail_region("eu-west-1", service="cloudwatch")
    result = run_cli(
        "--output",
        "json",
        "status",
        "--publish",
        "--publish-region",
        "eu-west-1",
        "--deadline",
        "8",
    )
    assert result.exit_code == 7, result.output
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 0  # the report itself: every region ready
    assert doc["publish"]["region"] == "eu-west-1"
    assert "PutMetricData" in doc["publish"]["error"]
    assert "warning: metrics not published" in result.stderr
    assert "Traceback" not in result.output


def test_status_publish_refuses_a_bad_region(run_cli: Any, e2e_topology_file: Path) -> None:
    result = run_cli("status", "--publish", "--publish-region", "not a region")
    assert result.exit_code == 2
    assert "is not an AWS region code" in result.stderr
    alone = run_cli("status", "--publish-region", "eu-west-1")
    assert alone.exit_code == 2 and "only for --publish" in alone.stderr


def _alarm_names(aws: Any) -> dict[str, dict[str, Any]]:
    cw = aws("cloudwatch", LOCK_REGION)
    return alarms.existing_alarms(cw, alarms.prefix(APP))


def test_alarms_apply_twice_changes_nothing_the_second_time(
    run_cli: Any, e2e_topology: Topology, tmp_path: Path, aws: Any, control: SandboxClient
) -> None:
    config = _opted_in(e2e_topology, tmp_path)
    dry = run_cli("--config", config, "--output", "json", "alarms", "apply", "--dry-run")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] is True and plan["region"] == LOCK_REGION
    kinds = {(a["region"], a["kind"]) for a in plan["alarms"]}
    assert kinds == {
        (r, k) for r in (E, W) for k in ("cannot-take-over", "replication-lag", "parity", "quota")
    }
    assert {a["action"] for a in plan["alarms"]} == {"create"}
    assert control.calls(action="PutMetricAlarm") == []  # a dry run changes nothing

    first = run_cli("--config", config, "alarms", "apply", "--yes")
    assert first.exit_code == 0, first.output
    assert "8 alarm(s) created or updated" in first.stdout
    assert len(control.calls(action="PutMetricAlarm")) == 8
    found = _alarm_names(aws)
    stuck = found[f"mr-failover-{APP}-{W}-cannot-take-over"]
    assert stuck["TreatMissingData"] == "breaching"
    assert stuck["EvaluationPeriods"] == stuck["DatapointsToAlarm"] == 5
    lag = found[f"mr-failover-{APP}-{W}-replication-lag"]
    assert lag["Threshold"] == float(e2e_topology.policy.rpo_seconds)
    assert lag["TreatMissingData"] == "notBreaching"

    before = {n: a["AlarmConfigurationUpdatedTimestamp"] for n, a in found.items()}
    second = run_cli("--config", config, "alarms", "apply", "--yes")
    assert second.exit_code == 0, second.output
    assert "up to date: nothing changed" in second.stdout
    assert len(control.calls(action="PutMetricAlarm")) == 8  # none the second time
    after = {n: a["AlarmConfigurationUpdatedTimestamp"] for n, a in _alarm_names(aws).items()}
    assert after == before

    table = run_cli("--config", config, "alarms", "apply", "--dry-run")
    assert table.exit_code == 0
    assert "UNCHANGED" in table.stdout and "CREATE" not in table.stdout
    assert "0 alarm(s) would change" in table.stdout


def test_alarms_apply_updates_only_what_differs(
    run_cli: Any, e2e_topology_file: Path, aws: Any, control: SandboxClient
) -> None:
    assert run_cli("alarms", "apply", "--yes").exit_code == 0
    created = len(control.calls(action="PutMetricAlarm"))
    assert created == 4  # no parity: / capacity: in the example: two alarms per region

    dry = run_cli("--output", "json", "alarms", "apply", "--dry-run", "--minutes", "3")
    changes = json.loads(dry.stdout)["alarms"]
    assert {a["action"] for a in changes} == {"update"}
    assert all(a["changes"] == ["EvaluationPeriods", "DatapointsToAlarm"] for a in changes)

    topic = "arn:aws:sns:us-east-1:123456789012:oncall"
    result = run_cli("alarms", "apply", "--yes", "--alarm-action", topic)
    assert result.exit_code == 0, result.output
    assert len(control.calls(action="PutMetricAlarm")) == created + 4
    for alarm in _alarm_names(aws).values():
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]


def test_alarms_apply_asks_and_takes_the_lock(
    run_cli: Any, e2e_topology_file: Path, control: SandboxClient
) -> None:
    declined = run_cli("alarms", "apply", input="n\n")
    assert declined.exit_code != 0
    assert control.calls(action="PutMetricAlarm") == []
    accepted = run_cli("alarms", "apply", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    locks = [c for c in control.calls(service="dynamodb", mutating=True)]
    assert locks, "the run took the operators' lock"
    journal = accepted.stdout.split("journal:")[-1].split()[0]  # the path may wrap
    assert Path(journal).exists()


class FakeContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_lambda_handler_publishes_from_a_packaged_file(
    e2e_env: dict[str, str],
    e2e_topology: Topology,
    tmp_path: Path,
    aws: Any,
    control: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _opted_in(e2e_topology, tmp_path)
    monkeypatch.setenv(lambda_handler.CONFIG_ENV, config)
    monkeypatch.delenv(lambda_handler.TOPOLOGY_S3_ENV, raising=False)
    result = lambda_handler.handler({}, FakeContext(60_000))
    assert result["publish"]["error"] is None, result
    assert result["regions"][W] == {"verdict": "serving", "can_take_over": True}
    assert result["deadline_seconds"] == lambda_handler.DEFAULT_DEADLINE
    got = _read_back(aws, LOCK_REGION, [metrics.CAN_TAKE_OVER])
    assert got[(E, metrics.CAN_TAKE_OVER)] == got[(W, metrics.CAN_TAKE_OVER)] == 1.0


def test_the_lambda_handler_reads_the_topology_from_s3_within_its_time(
    e2e_env: dict[str, str],
    e2e_topology: Topology,
    tmp_path: Path,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = aws("s3", E)
    s3.create_bucket(Bucket="arc309-ops")
    s3.put_object(
        Bucket="arc309-ops",
        Key="mr-failover/regions.yaml",
        Body=Path(_opted_in(e2e_topology, tmp_path)).read_bytes(),
    )
    monkeypatch.setenv(lambda_handler.TOPOLOGY_S3_ENV, "s3://arc309-ops/mr-failover/regions.yaml")
    monkeypatch.setenv(lambda_handler.PUBLISH_REGION_ENV, W)
    result = lambda_handler.handler({}, FakeContext(25_000))
    # 25 s left: the reads get 15 s, the rest is kept for publishing.
    assert result["deadline_seconds"] == 15.0
    assert result["publish"] == {
        "region": W,
        "namespace": "MrFailover",
        "published": result["publish"]["published"],
        "calls": 1,
        "error": None,
        "changes": [],  # the first publish: nothing was published before to differ from
    }
    assert result["publish"]["published"] >= 10
    got = _read_back(aws, W, [metrics.QUOTA_CAN_TAKE_OVER])
    assert got[(E, metrics.QUOTA_CAN_TAKE_OVER)] == 1.0


def test_the_lambda_handler_reports_a_missing_topology_without_raising(
    e2e_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(lambda_handler.TOPOLOGY_S3_ENV, "s3://no-such-bucket-here/regions.yaml")
    result = lambda_handler.handler({}, FakeContext(60_000))
    assert "GetObject" in result["error"] and result["exit_code"] != 0
    assert "readiness not checked" in caplog.text
    monkeypatch.setenv(lambda_handler.TOPOLOGY_S3_ENV, "https://example.com/regions.yaml")
    assert "s3://bucket/key" in lambda_handler.handler({}, FakeContext(60_000))["error"]


# IAM actions of the calls the sandbox logs, where they differ from "service:Action"
# (Service Authorization Reference: Amazon S3, API Gateway, Service Quotas).
IAM_ACTION = {
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("apigateway", "GetDomainName"): "apigateway:GET",
    ("apigateway", "GetBasePathMappings"): "apigateway:GET",
    ("apigatewayv2", "GetApiMappings"): "apigateway:GET",
    ("service-quotas", "GetServiceQuota"): "servicequotas:GetServiceQuota",
    ("service-quotas", "GetAWSDefaultServiceQuota"): "servicequotas:GetAWSDefaultServiceQuota",
}
# "No permissions are required to perform this operation" (GetCallerIdentity, AWS STS API
# Reference, https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
NO_PERMISSION = {("sts", "GetCallerIdentity")}


def _policy_actions() -> set[str]:
    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tag)
    doc = yaml.load(TEMPLATE.read_text(), Loader=Loader)
    role = doc["Resources"]["CheckRole"]["Properties"]
    actions: set[str] = set()
    # A conditional policy (!If [condition, policy, AWS::NoValue]): its policy counts, as
    # when the condition holds (the most the role is ever allowed).
    policies = [p[1] if isinstance(p, list) else p for p in role["Policies"]]
    for policy in policies:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            found = statement["Action"]
            actions |= {found} if isinstance(found, str) else set(found)
    return actions


def test_the_template_allows_every_call_the_handler_makes_and_no_mutation(
    e2e_env: dict[str, str],
    e2e_topology: Topology,
    tmp_path: Path,
    control: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(lambda_handler.CONFIG_ENV, _opted_in(e2e_topology, tmp_path))
    monkeypatch.delenv(lambda_handler.TOPOLOGY_S3_ENV, raising=False)
    since = len(control.calls())
    assert lambda_handler.handler({}, FakeContext(60_000))["publish"]["error"] is None
    made = {(c["service"], c["action"]) for c in control.calls()[since:]}
    assert ("cloudwatch", "PutMetricData") in made
    allowed = _policy_actions()
    needed = {
        IAM_ACTION.get((service, action), f"{service}:{action}")
        for service, action in made - NO_PERMISSION
    }
    assert needed - allowed == set()
    # Read-only plus PutMetricData (and the function's own log lines): no other write.
    writes = {
        a for a in allowed if not a.split(":")[1].startswith(("Get", "Describe", "List", "GET"))
    }
    # sns:Publish only on the topology's topic, and only when NotificationTopicArn is given.
    assert writes == {
        "cloudwatch:PutMetricData",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sns:Publish",
    }


def test_alarms_apply_json_and_an_unreachable_cloudwatch_is_one_clear_error(
    run_cli: Any, e2e_topology_file: Path, control: SandboxClient
) -> None:
    applied = run_cli("--output", "json", "alarms", "apply", "--yes")
    assert applied.exit_code == 0, applied.output
    doc = json.loads(applied.stdout)
    assert doc["outcome"] == "succeeded" and doc["changed"] == 4
    assert [s["call"] for s in doc["plan"]["steps"]] == ["cloudwatch:PutMetricAlarm"] * 4
    again = json.loads(run_cli("--output", "json", "alarms", "apply", "--yes").stdout)
    assert again["changed"] == 0

    control.fail_region("eu-west-1", service="cloudwatch")
    result = run_cli("alarms", "apply", "--dry-run", "--region", "eu-west-1")
    assert result.exit_code == 1, result.output
    assert "DescribeAlarms in eu-west-1" in result.stderr
    assert "Traceback" not in result.output
    bad = run_cli("alarms", "apply", "--dry-run", "--region", "mars-north-1x")
    assert bad.exit_code == 2 and "is not an AWS region code" in bad.stderr
