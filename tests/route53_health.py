"""Route 53 health as the tool reads it: CloudWatch's ``AWS/Route53`` metrics in us-east-1.

For tests that stub CloudWatch (botocore Stubber) or seed it (moto): the
``GetMetricData`` answer and parameters :func:`mr_failover.resources.route53.
read_health_metrics` expects, and the datapoints Route 53 would have published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.stub import ANY, Stubber

METRICS = ("HealthCheckPercentageHealthy", "HealthCheckStatus")

# (HealthCheckPercentageHealthy, HealthCheckStatus); None: no datapoint.
Health = tuple[float | None, float | None]


def share(ok: int, failing: int = 0) -> float | None:
    """The checkers' share (percent) that ``ok`` of ``ok + failing`` checkers make."""
    total = ok + failing
    return None if total == 0 else 100.0 * ok / total


def metric_data_params(check_ids: Sequence[str]) -> dict[str, Any]:
    """The ``GetMetricData`` request for the health of ``check_ids`` (times: any)."""
    queries = [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Route53",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "HealthCheckId", "Value": check_id}],
                },
                "Period": 60,
                "Stat": "Minimum",
            },
            "ReturnData": True,
        }
        for i, (check_id, metric) in enumerate((c, m) for c in check_ids for m in METRICS)
    ]
    return {
        "MetricDataQueries": queries,
        "StartTime": ANY,
        "EndTime": ANY,
        "ScanBy": "TimestampDescending",
    }


def metric_data_response(
    health: Mapping[str, Health], *, stamp: datetime | None = None
) -> dict[str, Any]:
    """The answer: one datapoint per metric that has a value, in ``health``'s order."""
    when = stamp or datetime.now(UTC) - timedelta(seconds=30)
    results = []
    for i, (check_id, metric) in enumerate((c, m) for c in health for m in METRICS):
        value = health[check_id][METRICS.index(metric)]
        points = [] if value is None else [value]
        results.append(
            {
                "Id": f"q{i}",
                "Label": f"{metric}:{check_id}",
                "Timestamps": [when] * len(points),
                "Values": points,
                "StatusCode": "Complete",
            }
        )
    return {"MetricDataResults": results}


def stub_health(
    stub: Stubber, health: Mapping[str, Health], *, stamp: datetime | None = None
) -> None:
    """Queue one ``GetMetricData`` answer for the checks in ``health`` (in its order)."""
    stub.add_response(
        "get_metric_data",
        metric_data_response(health, stamp=stamp),
        metric_data_params(list(health)),
    )


def endpoint(percent: float | None, *, inverted: bool = False, disabled: bool = False) -> Health:
    """An endpoint check's metrics as Route 53 publishes them: the checkers' share (none
    while disabled) and its status with ``Disabled`` then ``Inverted`` applied."""
    if disabled:
        return (None, 0.0 if inverted else 1.0)
    if percent is None:
        return (None, None)
    healthy = percent / 100 > 0.18
    return (percent, float(healthy != inverted))


def seed_health(
    cloudwatch: Any,
    check_id: str,
    percent: float | None = 100.0,
    *,
    inverted: bool = False,
    disabled: bool = False,
    stamp: datetime | None = None,
) -> None:
    """Publish, as Route 53 would, a check's two health datapoints (moto's CloudWatch in
    us-east-1: ``cloudwatch`` must be that region's client)."""
    when = stamp or datetime.now(UTC)
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "HealthCheckId", "Value": check_id}],
            "Timestamp": when,
            "Value": value,
            "Unit": "Percent" if metric == METRICS[0] else "None",
        }
        for metric, value in zip(
            METRICS, endpoint(percent, inverted=inverted, disabled=disabled), strict=True
        )
        if value is not None
    ]
    if data:
        cloudwatch.put_metric_data(Namespace="AWS/Route53", MetricData=data)
