"""Composite alarms and ``AlarmTypes``: the sandbox answers as DescribeAlarms documents, and
the drill's stop conditions see composite alarms, and stop on an alarm they cannot read."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from mr_failover import drill
from mr_failover import topology as topo
from mr_failover.errors import AwsCallError
from mr_failover.sandbox import cloudwatch
from mr_failover.sandbox.client import SandboxClient
from tests.clocks import FakeClock
from tests.sandbox.conftest import AwsFactory

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]


def composite(aws: AwsFactory, state: str = "ALARM") -> None:
    cw = aws("cloudwatch", REGION)
    cw.put_metric_alarm(
        AlarmName="errors",
        MetricName="5XXError",
        Namespace="AWS/ApiGateway",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.put_composite_alarm(AlarmName="app-health", AlarmRule='ALARM("errors")')
    cw.set_alarm_state(AlarmName="app-health", StateValue=state, StateReason="test")


@pytest.mark.parametrize("hook", cloudwatch.HOOKS)
def test_the_patched_method_exists_in_moto(hook: str) -> None:
    module_name, cls_name, attr = hook.rsplit(".", 2)
    assert hasattr(getattr(importlib.import_module(module_name), cls_name), attr)


def test_describe_alarms_without_alarm_types_returns_metric_alarms_only(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: cloudwatch-alarm-types"""
    composite(aws)
    cw = aws("cloudwatch", REGION)
    plain = cw.describe_alarms(AlarmNames=["app-health", "errors"])
    assert [a["AlarmName"] for a in plain["MetricAlarms"]] == ["errors"]
    assert plain["CompositeAlarms"] == []
    both = cw.describe_alarms(
        AlarmNames=["app-health", "errors"], AlarmTypes=["CompositeAlarm", "MetricAlarm"]
    )
    assert [a["AlarmName"] for a in both["CompositeAlarms"]] == ["app-health"]


class Factory:
    def __init__(self, aws: AwsFactory) -> None:
        self.aws = aws

    def client(self, service: str, region: str) -> Any:
        return self.aws(service, region)


def watch(aws: AwsFactory, alarm: str) -> drill.StopWatch:
    ctx = drill.DrillContext(
        topology=topo.load(REPO / "config" / "regions.yaml"),
        factory=Factory(aws),
        clock=FakeClock(),
        run_id="test",
    )
    return drill.StopWatch((drill.StopCondition(alarm=alarm, region=REGION),), ctx, 0.0)


def test_a_composite_alarm_stop_condition_fires(aws: AwsFactory, control: SandboxClient) -> None:
    """rule: cloudwatch-alarm-types (the old watcher asked without AlarmTypes: never fired)."""
    composite(aws)
    assert drill.alarm_state(Factory(aws), "app-health", REGION) == "ALARM"
    with pytest.raises(drill.StopConditionFiredError, match="app-health"):
        watch(aws, "app-health").check()


def test_an_alarm_that_cannot_be_read_stops_the_drill_after_three_checks(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """A misspelt name used to disable the condition silently."""
    with pytest.raises(AwsCallError, match="no metric or composite alarm named 'app-helth'"):
        drill.alarm_state(Factory(aws), "app-helth", REGION)
    w = watch(aws, "app-helth")
    w.check()
    w.check()
    with pytest.raises(drill.StopConditionFiredError) as err:
        w.check()
    assert "could not be read 3 times in a row" in str(err.value)


def test_start_time_is_rounded_down_before_periods_are_cut(aws: AwsFactory) -> None:
    """rule: cloudwatch-start-time-rounding. Two datapoints, 20 s apart across a minute
    boundary, asked for from 30 s into the first minute with a one-minute period: AWS
    rounds the start to the whole minute, so each datapoint has its own period (moto
    alone would cut one period from 30 s to 90 s and return their maximum, 5.0, once)."""
    import datetime as dt

    cw = aws("cloudwatch", REGION)
    minute = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=3)
    for second, value in ((50, 1.0), (70, 5.0)):
        cw.put_metric_data(
            Namespace="Test/Rounding",
            MetricData=[
                {
                    "MetricName": "m",
                    "Value": value,
                    "Timestamp": minute + dt.timedelta(seconds=second),
                }
            ],
        )
    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {"Namespace": "Test/Rounding", "MetricName": "m"},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=minute + dt.timedelta(seconds=30),
        EndTime=minute + dt.timedelta(minutes=3),
        ScanBy="TimestampAscending",
    )["MetricDataResults"][0]
    assert data["Values"] == [1.0, 5.0]
    assert [t.astimezone(dt.UTC) for t in data["Timestamps"]] == [
        minute,
        minute + dt.timedelta(minutes=1),
    ]


def test_round_start_follows_the_documented_steps() -> None:
    import datetime as dt

    now = dt.datetime(2026, 12, 6, 12, 40, 0)
    at = dt.datetime(2026, 12, 6, 12, 32, 34)
    assert cloudwatch.round_start(at, now, 60) == dt.datetime(2026, 12, 6, 12, 32, 0)
    assert cloudwatch.round_start(at, now, 10) == dt.datetime(2026, 12, 6, 12, 32, 30)
    old = at - dt.timedelta(days=20)
    assert cloudwatch.round_start(old, now, 60) == old.replace(minute=30, second=0)
    older = at - dt.timedelta(days=70)
    assert cloudwatch.round_start(older, now, 60) == older.replace(minute=0, second=0)


def test_a_metric_of_two_dimensions_is_listed_once_whatever_its_datapoints(
    aws: AwsFactory,
) -> None:
    """rule: cloudwatch-metric-identity. Three datapoints of one two-dimension metric and
    one of another dimension set: two metrics, each listed once."""
    cw = aws("cloudwatch", "us-west-2")
    both = [{"Name": "DBClusterIdentifier", "Value": "c"}, {"Name": "SourceRegion", "Value": "e"}]
    for value, dims in ((1.0, both), (2.0, both[::-1]), (3.0, both), (4.0, both[:1])):
        cw.put_metric_data(
            Namespace="Test", MetricData=[{"MetricName": "Lag", "Value": value, "Dimensions": dims}]
        )
    listed = cw.list_metrics(Namespace="Test", MetricName="Lag")["Metrics"]
    sets = sorted(tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed)
    assert sets == [
        (("DBClusterIdentifier", "c"),),
        (("DBClusterIdentifier", "c"), ("SourceRegion", "e")),
    ]
