"""Latest values of CloudWatch metrics (replication lag, pending operations).

One ``GetMetricData`` call answers many queries. The window is short on purpose: a lag
reported an hour ago says nothing about now, so "no datapoint" is its own answer (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mr_failover.aws import call

WINDOW = timedelta(minutes=15)
PERIOD_SECONDS = 60
MAX_QUERIES = 500  # GetMetricData's limit per call


@dataclass(frozen=True)
class MetricQuery:
    """One metric, by exact dimensions (AWS matches dimension sets exactly)."""

    key: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str = "Maximum"


@dataclass(frozen=True)
class Point:
    """A metric's most recent datapoint, and when it was published."""

    value: float
    timestamp: datetime

    def age(self, now: datetime) -> float:
        return max(0.0, (now - self.timestamp).total_seconds())


def latest_values(
    client: Any,
    queries: Sequence[MetricQuery],
    *,
    now: datetime,
    window: timedelta = WINDOW,
) -> dict[str, float | None]:
    """The most recent datapoint of each query within ``window`` before ``now``."""
    points = latest_points(client, queries, now=now, window=window)
    return {key: None if p is None else p.value for key, p in points.items()}


def latest_points(
    client: Any,
    queries: Sequence[MetricQuery],
    *,
    now: datetime,
    window: timedelta = WINDOW,
) -> dict[str, Point | None]:
    """The most recent datapoint of each query within ``window`` before ``now``, with its
    timestamp: a value shown as current must say how old it is."""
    out: dict[str, Point | None] = {q.key: None for q in queries}
    # EndTime is exclusive: end on the period boundary after ``now`` so that the
    # current, still-filling period is included (aligned times are also cheaper).
    seconds = int(now.timestamp())
    end = datetime.fromtimestamp(seconds - seconds % PERIOD_SECONDS + PERIOD_SECONDS, tz=now.tzinfo)
    for start in range(0, len(queries), MAX_QUERIES):
        chunk = queries[start : start + MAX_QUERIES]
        ids = {f"q{i}": q.key for i, q in enumerate(chunk)}
        request: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": f"q{i}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": q.namespace,
                            "MetricName": q.metric,
                            "Dimensions": [{"Name": n, "Value": v} for n, v in q.dimensions],
                        },
                        "Period": PERIOD_SECONDS,
                        "Stat": q.stat,
                    },
                    "ReturnData": True,
                }
                for i, q in enumerate(chunk)
            ],
            "StartTime": end - window,
            "EndTime": end,
            "ScanBy": "TimestampDescending",
        }
        while True:
            page = call(client, "get_metric_data", **request)
            for result in page.get("MetricDataResults", []):
                key = ids.get(result["Id"])
                points = sorted(
                    zip(result.get("Timestamps", []), result.get("Values", []), strict=False),
                    reverse=True,
                )
                if key is not None and points and out[key] is None:
                    stamp, value = points[0]
                    out[key] = Point(float(value), stamp)
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
    return out
