"""CloudWatch alarms as ``DescribeAlarms`` documents them, on top of moto's CloudWatch.

moto 5.2.5 returns composite alarms whatever ``AlarmTypes`` says. AWS returns metric
alarms only when the parameter is left out, so a tool that forgets it never sees a
composite alarm (the drill's stop condition would never fire). This module makes moto's
``describe_alarms`` honour ``AlarmTypes``, and routes ``PutCompositeAlarm`` to the
method moto stores composite alarms with.

moto 5.2.5's ``ListMetrics`` lists a metric of two or more dimensions once per
datapoint (its ``are_dimensions_same`` compares every dimension with every other, so two
different names never match); a metric is its namespace, name and dimension set, listed
once (see :func:`same_metric`).

moto also takes ``GetMetricData``'s ``StartTime`` as given, so a one-minute period can
straddle two clock minutes and mix their datapoints; AWS rounds it down first (see
:func:`round_start`). ``GetMetricStatistics`` is left as moto serves it (its periods start
at the first datapoint): the tool does not call it.

Everything installed here is tied to moto 5.2.5 (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState as Sandbox

HOOKS = (
    "moto.cloudwatch.responses.CloudWatchResponse.describe_alarms",
    # moto stores composite alarms (an alarm with a rule) through put_metric_alarm but
    # does not route PutCompositeAlarm to it; the sandbox does.
    "moto.cloudwatch.responses.CloudWatchResponse.put_metric_alarm",
    "moto.cloudwatch.models.CloudWatchBackend.get_metric_data",
    # ListMetrics: a metric with two or more dimensions listed once per datapoint.
    "moto.cloudwatch.models.MetricDatumBase.filter",
)

_hooks = Hooks("CloudWatch")


def install(sandbox: Sandbox) -> None:
    """Patch moto's ``describe_alarms`` once per process."""
    _hooks.install(sandbox, _patch_moto)


def alarm_types(requested: list[str] | None) -> set[str]:
    """The alarm types a ``DescribeAlarms`` request returns.

    # rule: cloudwatch-alarm-types
    "If you omit this parameter, only metric alarms are returned, even if composite alarms
    exist in the account" (DescribeAlarms, AlarmTypes, Amazon CloudWatch API Reference,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
    """
    return set(requested) if requested else {"MetricAlarm"}


def same_metric(a: Any, b: Any) -> bool:
    """Whether two of moto's metric data are the same metric: namespace, name, dimensions.

    # rule: cloudwatch-metric-identity
    "A metric is uniquely defined by a name, a namespace, and zero or more dimensions ...
    CloudWatch treats each unique combination of dimensions as a separate metric"
    (Amazon CloudWatch concepts, Metrics and Dimensions,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html).
    That ListMetrics names each such metric once, however many datapoints it holds, is an
    assumption from "Lists the names, namespaces, and dimensions of the metrics"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/cli/cli-mon-list-metrics.html).
    """

    def dims(m: Any) -> list[tuple[str, str]]:
        return sorted((d.name, d.value) for d in m.dimensions)

    return bool(a.name == b.name and a.namespace == b.namespace and dims(a) == dims(b))


def round_start(start: dt.datetime, now: dt.datetime, period: int) -> dt.datetime:
    """``StartTime`` as CloudWatch uses it: rounded down, by how long ago it is.

    # rule: cloudwatch-start-time-rounding
    "Start time less than 15 days ago - Round down to the nearest whole minute ...
    between 15 and 63 days ago - Round down to the nearest 5-minute clock interval ...
    greater than 63 days ago - Round down to the nearest 1-hour clock interval. If you set
    Period to 5, 10, 20, or 30, the start time of your request is rounded down to the
    nearest time that corresponds to even 5-, 10-, 20-, or 30-second divisions of a
    minute" (GetMetricData and GetMetricStatistics, StartTime, Amazon CloudWatch API
    Reference, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html).
    """
    start = start.replace(microsecond=0)
    age = now - start
    if age > dt.timedelta(days=63):
        return start.replace(minute=0, second=0)
    if age > dt.timedelta(days=15):
        return start.replace(minute=start.minute - start.minute % 5, second=0)
    if period in (5, 10, 20, 30):
        return start.replace(second=start.second - start.second % period)
    return start.replace(second=0)


def _naive_utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _rounded(start: dt.datetime, period: int) -> dt.datetime:
    now = _hooks.sandbox().wall_time()
    out = round_start(_naive_utc(start), now, period)
    return out.replace(tzinfo=start.tzinfo) if start.tzinfo else out


def _patch_moto() -> None:
    from moto.cloudwatch.models import CloudWatchBackend, MetricDatumBase
    from moto.cloudwatch.responses import CloudWatchResponse

    original_data = CloudWatchBackend.get_metric_data

    def get_metric_data(
        self: Any, queries: list[dict[str, Any]], start_time: dt.datetime, *args: Any, **kw: Any
    ) -> Any:
        periods = [int(q["MetricStat"]["Period"]) for q in queries if "MetricStat" in q]
        periods += [int(q["Period"]) for q in queries if q.get("Period")]
        start_time = _rounded(start_time, min(periods, default=60))
        return original_data(self, queries, start_time, *args, **kw)

    setattr(CloudWatchBackend, "get_metric_data", get_metric_data)  # noqa: B010

    original_filter = MetricDatumBase.filter

    def filter(
        self: Any,
        namespace: str | None,
        name: str | None,
        dimensions: list[dict[str, str]],
        already_present_metrics: list[Any] | None = None,
    ) -> bool:
        if any(same_metric(self, m) for m in already_present_metrics or []):
            return False
        return bool(original_filter(self, namespace, name, dimensions, None))

    setattr(MetricDatumBase, "filter", filter)  # noqa: B010

    original = CloudWatchResponse.describe_alarms

    def describe_alarms(self: Any) -> Any:
        result = original(self)
        found: dict[str, Any] = result.result  # type: ignore[assignment]
        wanted = alarm_types(self._get_param("AlarmTypes", []))
        if "MetricAlarm" not in wanted:
            found["MetricAlarms"] = []
        if "CompositeAlarm" not in wanted:
            found["CompositeAlarms"] = []
        return result

    setattr(CloudWatchResponse, "describe_alarms", describe_alarms)  # noqa: B010
    setattr(CloudWatchResponse, "put_composite_alarm", CloudWatchResponse.put_metric_alarm)  # noqa: B010
