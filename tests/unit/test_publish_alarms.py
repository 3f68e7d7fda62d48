"""Readiness metrics and alarms (issue 18) without AWS: the values, the batching, the
alarm comparison and the Lambda's deadline. Every call goes through a botocore Stubber,
which checks its parameters against the service model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from mr_failover import lambda_handler
from mr_failover import topology as topo
from mr_failover.aws import ClientFactory
from mr_failover.errors import UsageError
from mr_failover.operations import alarms, metrics
from mr_failover.topology import Capacity, Parity

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def _region(name: str = "us-west-2", **extra: Any) -> dict[str, Any]:
    return {"name": name, "verdict": "serving", "can_take_over": True, "drift": [], **extra}


def _values(data: list[metrics.Datum]) -> dict[str, float]:
    return {d.metric: d.value for d in data}


def test_a_ready_region_without_parity_or_capacity_publishes_three_metrics() -> None:
    data = metrics.region_data(_region(aurora=None, dynamodb=None, parity=None, capacity=None))
    assert _values(data) == {"CanTakeOver": 1.0, "Verdict": 0.0, "Drift": 0.0}
    assert {d.unit for d in data} == {"None", "Count"}


def test_each_verdict_has_its_number_and_lag_is_the_largest_known() -> None:
    region = _region(
        verdict="degraded",
        can_take_over=False,
        drift=[{"x": 1}, {"y": 2}],
        aurora={"lag_seconds": 1.5},
        dynamodb={"incoming": [{"milliseconds": 2500.0}, {"milliseconds": None}]},
    )
    assert _values(metrics.region_data(region)) == {
        "CanTakeOver": 0.0,
        "Verdict": 2.0,
        "Drift": 2.0,
        "ReplicationLagSeconds": 2.5,
    }
    assert metrics.VERDICT_CODES == {"serving": 0, "drained": 1, "degraded": 2, "unreachable": 3}
    nan = metrics.region_data(_region(aurora={"lag_seconds": float("nan")}))
    assert "ReplicationLagSeconds" not in _values(nan)  # PutMetricData refuses NaN


def test_parity_counts_blocking_mismatches_not_silenced_and_quotas_their_minimum() -> None:
    region = _region(
        parity={
            "mismatches": [
                {"rule": "lambda.memory", "blocking": True, "ignored": False},
                {"rule": "lambda.runtime", "blocking": True, "ignored": True},
                {"rule": "lambda.env_names", "blocking": False, "ignored": False},
            ]
        },
        capacity={
            "quotas": [
                {"headroom": 20.0, "can_take_over": True},
                {"headroom": -28.0, "can_take_over": False},
            ]
        },
    )
    got = _values(metrics.region_data(region))
    assert got["ParityMismatches"] == 1.0
    assert got["QuotaCanTakeOver"] == 0.0
    assert got["QuotaHeadroomMin"] == -28.0


def test_batches_stay_within_put_metric_data_limits() -> None:
    entries = [{"MetricName": f"m{i}", "Value": 1.0} for i in range(2500)]
    sizes = [len(b) for b in metrics.batches(entries)]
    assert sizes == [1000, 1000, 500]
    big = [{"MetricName": "m", "Value": 1.0, "pad": "x" * 100_000} for _ in range(12)]
    cut = list(metrics.batches(big))
    assert len(cut) > 1 and sum(len(b) for b in cut) == 12
    assert all(sum(len(str(e)) for e in b) <= metrics.MAX_BYTES_PER_CALL for b in cut)


class _Report:
    """What publish() reads of a StatusReport."""

    application = "arc309"
    observed_at = NOW

    def __init__(self, regions: list[dict[str, Any]]) -> None:
        self.regions = regions

    def to_json(self) -> dict[str, Any]:
        return {"regions": self.regions}


def test_publish_sends_the_documented_namespace_and_dimensions() -> None:
    factory = ClientFactory()
    client = factory.client("cloudwatch", "us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "put_metric_data",
            {},
            {
                "Namespace": "MrFailover",
                "MetricData": [
                    {
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "Application", "Value": "arc309"},
                            {"Name": "Region", "Value": "us-west-2"},
                        ],
                        "Timestamp": NOW,
                        "Value": value,
                        "Unit": unit,
                        **resolution,
                    }
                    for name, value, unit, resolution in (
                        ("CanTakeOver", 1.0, "None", {"StorageResolution": 1}),
                        ("Verdict", 0.0, "None", {}),
                        ("Drift", 0.0, "Count", {}),
                    )
                ],
            },
        )
        result = metrics.publish(factory, _Report([_region()]), region="us-east-1")  # type: ignore[arg-type]
        stub.assert_no_pending_responses()
    assert result.ok and result.calls == 1 and result.published == 3


def test_publish_in_batches_of_at_most_1000_metrics() -> None:
    regions = [_region(f"r{i}") for i in range(400)]  # 3 metrics each: 1200
    factory = ClientFactory()
    client = factory.client("cloudwatch", "eu-west-1")
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_response("put_metric_data", {}, {"Namespace": "MrFailover", "MetricData": ANY})
        result = metrics.publish(factory, _Report(regions), region="eu-west-1")  # type: ignore[arg-type]
        stub.assert_no_pending_responses()
    assert (result.calls, result.published, result.error) == (2, 1200, None)


def test_publish_denied_is_an_error_in_the_result_never_an_exception() -> None:
    factory = ClientFactory()
    with Stubber(factory.client("cloudwatch", "us-east-1")) as stub:
        stub.add_client_error(
            "put_metric_data",
            service_error_code="AccessDenied",
            service_message="not authorized to perform: cloudwatch:PutMetricData",
            http_status_code=403,
        )
        result = metrics.publish(factory, _Report([_region()]), region="us-east-1")  # type: ignore[arg-type]
    assert not result.ok and result.published == 0
    assert result.error is not None
    # The tool names calls by endpoint prefix: CloudWatch's is "monitoring".
    assert result.error.startswith("monitoring:PutMetricData in us-east-1: access denied")
    assert result.to_json()["error"] == result.error


def test_the_publish_region_is_the_lock_region_else_the_primary() -> None:
    t = topo.load(EXAMPLE)
    assert t.lock is not None
    assert metrics.publish_region(t) == t.lock.region
    assert metrics.publish_region(t, "eu-west-1") == "eu-west-1"
    assert metrics.publish_region(t.model_copy(update={"lock": None})) == t.primary_region


def _alarm(spec: alarms.AlarmSpec, **changes: Any) -> dict[str, Any]:
    """The alarm as DescribeAlarms returns it (other order, extra fields)."""
    found = {**spec.request, "StateValue": "OK", "AlarmArn": "arn:aws:cloudwatch:x"}
    found["Dimensions"] = list(reversed(spec.request["Dimensions"]))
    found.update(changes)
    return found


def test_desired_alarms_follow_the_topology() -> None:
    t = topo.load(EXAMPLE)
    kinds = [(s.region, s.kind) for s in alarms.desired_alarms(t)]
    assert kinds == [
        ("us-east-1", "cannot-take-over"),
        ("us-east-1", "replication-lag"),
        ("us-west-2", "cannot-take-over"),
        ("us-west-2", "replication-lag"),
    ]
    opted = t.model_copy(update={"parity": Parity(), "capacity": Capacity()})
    assert len(alarms.desired_alarms(opted, minutes=3)) == 8
    stuck = alarms.desired_alarms(t, minutes=3, actions=["arn:aws:sns:us-east-1:1:t"])[0]
    assert stuck.name == "mr-failover-arc309-us-east-1-cannot-take-over"
    assert stuck.request["TreatMissingData"] == "breaching"
    assert stuck.request["EvaluationPeriods"] == stuck.request["DatapointsToAlarm"] == 3
    assert (
        stuck.request["AlarmActions"] == stuck.request["OKActions"] == ["arn:aws:sns:us-east-1:1:t"]
    )
    assert stuck.condition == "Minimum(CanTakeOver) < 1 for 3 min, missing=breaching"
    with pytest.raises(UsageError, match="between 1 and 1440"):
        alarms.desired_alarms(t, minutes=0)
    with pytest.raises(UsageError, match="must be an ARN"):
        alarms.desired_alarms(t, actions=["oncall@example.com"])
    with pytest.raises(UsageError, match="declares no regions"):
        alarms.desired_alarms(t.model_copy(update={"regions": {}}))


def test_differences_ignore_order_and_type_but_not_values() -> None:
    spec = alarms.desired_alarms(topo.load(EXAMPLE))[1]
    assert (
        alarms.differences(spec.request, _alarm(spec, Threshold=int(spec.request["Threshold"])))
        == []
    )
    assert alarms.differences(spec.request, _alarm(spec, Threshold=1.0)) == ["Threshold"]
    assert alarms.differences(spec.request, _alarm(spec, AlarmActions=["arn:x"])) == [
        "AlarmActions"
    ]
    assert alarms.differences(spec.request, None) == list(alarms.COMPARED)


def test_compare_reads_every_page_and_says_what_applying_does() -> None:
    t = topo.load(EXAMPLE)
    specs = alarms.desired_alarms(t)
    stale = {
        **_alarm(specs[0]),
        "AlarmName": "mr-failover-arc309-eu-west-1-cannot-take-over",
        "Dimensions": [
            {"Name": "Application", "Value": "arc309"},
            {"Name": "Region", "Value": "eu-west-1"},
        ],
    }
    factory = ClientFactory()
    request = {
        "AlarmNamePrefix": "mr-failover-arc309-",
        "AlarmTypes": ["MetricAlarm"],
        "MaxRecords": 100,
    }
    with Stubber(factory.client("cloudwatch", "us-east-1")) as stub:
        stub.add_response(
            "describe_alarms",
            {"MetricAlarms": [_alarm(specs[0]), stale], "NextToken": "t1"},
            request,
        )
        stub.add_response(
            "describe_alarms",
            {"MetricAlarms": [_alarm(specs[1], EvaluationPeriods=9)]},
            {**request, "NextToken": "t1"},
        )
        view = alarms.compare(t, factory, region="us-east-1")
        stub.assert_no_pending_responses()
    assert [(c.spec.name.split("arc309-")[1], c.action) for c in view.changes] == [
        ("us-east-1-cannot-take-over", "unchanged"),
        ("us-east-1-replication-lag", "update"),
        ("us-west-2-cannot-take-over", "create"),
        ("us-west-2-replication-lag", "create"),
    ]
    assert view.changes[1].changes == ("EvaluationPeriods",)
    assert view.changes[1].detail == "EvaluationPeriods 9 -> 5"
    assert view.unmanaged == ("mr-failover-arc309-eu-west-1-cannot-take-over",)


def test_the_put_step_sends_the_whole_configuration_and_holds_after() -> None:
    spec = alarms.desired_alarms(topo.load(EXAMPLE))[0]
    factory = ClientFactory()
    client = factory.client("cloudwatch", "us-east-1")
    action = alarms.PutAlarm(client, spec.request)
    by_name = {"AlarmNames": [spec.name], "AlarmTypes": ["MetricAlarm"]}
    with Stubber(client) as stub:
        stub.add_response("describe_alarms", {"MetricAlarms": []}, by_name)
        stub.add_response("put_metric_alarm", {}, dict(spec.request))
        stub.add_response("describe_alarms", {"MetricAlarms": [_alarm(spec)]}, by_name)
        assert not action.holds()
        action.apply()
        assert action.holds()
        stub.assert_no_pending_responses()


class _Context:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


def test_the_lambda_reads_stop_before_its_time_runs_out() -> None:
    assert lambda_handler.read_deadline(_Context(60_000), {}) == 30.0
    assert lambda_handler.read_deadline(_Context(25_000), {}) == 15.0
    assert lambda_handler.read_deadline(_Context(3_000), {}) == 1.0
    assert lambda_handler.read_deadline(None, {"MR_FAILOVER_DEADLINE": "12"}) == 12.0
    with pytest.raises(UsageError, match="number of seconds"):
        lambda_handler.read_deadline(None, {"MR_FAILOVER_DEADLINE": "soon"})
    with pytest.raises(UsageError, match="between 1 and 900"):
        lambda_handler.read_deadline(None, {"MR_FAILOVER_DEADLINE": "0"})


def test_the_lambda_refuses_a_bad_topology_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError, match="s3://bucket/key"):
        lambda_handler.topology_path(
            {"MR_FAILOVER_TOPOLOGY_S3": "s3://only-a-bucket"}, lambda s: None, tmp_path
        )
    packaged = lambda_handler.topology_path(
        {"LAMBDA_TASK_ROOT": "/var/task"}, lambda s: None, tmp_path
    )
    assert packaged == Path("/var/task/regions.yaml")
    # A missing topology file: a ConfigError returned as the result, never raised.
    monkeypatch.delenv("MR_FAILOVER_TOPOLOGY_S3", raising=False)
    monkeypatch.setenv("MR_FAILOVER_CONFIG", str(tmp_path / "nowhere.yaml"))
    result = lambda_handler.handler({}, _Context(60_000))
    assert result["exit_code"] == 2 and "nowhere.yaml" in result["error"]


def test_the_lambda_ignores_profiles_but_keeps_roles() -> None:
    t = topo.load(EXAMPLE)
    first = next(iter(t.regions))
    regions = dict(t.regions)
    regions[first] = regions[first].model_copy(
        update={"profile": "laptop-only", "role_arn": "arn:aws:iam::123456789012:role/reader"}
    )
    stripped = lambda_handler.without_profiles(t.model_copy(update={"regions": regions}))
    assert {r.profile for r in stripped.regions.values()} == {None}
    assert stripped.regions[first].role_arn == "arn:aws:iam::123456789012:role/reader"
