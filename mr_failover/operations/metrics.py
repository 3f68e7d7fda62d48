"""Readiness as CloudWatch metrics: what ``status --publish`` and the scheduled Lambda write.

Every metric lives in the namespace :data:`NAMESPACE` with the dimensions
``Application`` (the topology's ``application``) and ``Region`` (the region it
describes), one datapoint per region per run, stamped with the report's
``observed_at``. docs/SCHEDULED.md is the reference; the alarms of
:mod:`mr_failover.operations.alarms` read these names.

The values come from the status report's documented JSON (docs/STATUS.md), not from the
sections' objects, so a metric means exactly what the JSON says:

- ``CanTakeOver``: 1 when the region could take over, else 0. Published at high
  resolution (``StorageResolution`` 1): the change notifications read back the last
  value of each second, not a minute's aggregate (see :func:`last_can_take_over`).
- ``Verdict``: :data:`VERDICT_CODES` (serving 0, drained 1, degraded 2, unreachable 3:
  higher is worse, so one alarm threshold covers "degraded or worse").
- ``ReplicationLagSeconds``: the largest replication lag into the region that status
  knows (Aurora ``lag_seconds``, DynamoDB ``incoming[].milliseconds`` / 1000); no
  datapoint when none is known (a writer region, no replication).
- ``ParityMismatches``: blocking, not silenced parity mismatches (topology ``parity:``).
- ``Drift``: the region's drift entries (AWS differs from the topology file).
- ``QuotaCanTakeOver``: 1 when every quota has the headroom for the take-over, else 0
  (topology ``capacity:``); ``QuotaHeadroomMin``: the smallest headroom of them (units
  differ between quotas: vCPU, concurrent executions; read it with the JSON).

Publishing (:func:`publish`) batches the data within PutMetricData's documented limits:
"Each PutMetricData request is limited to 1 MB in size for HTTP POST requests ... Each
request is also limited to no more than 1000 different metrics", special values (NaN,
Infinity) are not supported, and at most 30 dimensions per metric (PutMetricData,
Amazon CloudWatch API Reference,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call
from mr_failover.engine.notify import Notifier, describe
from mr_failover.errors import MrFailoverError

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.status import StatusReport
    from mr_failover.topology import Topology

NAMESPACE = "MrFailover"
VERDICT_CODES: Mapping[str, int] = {"serving": 0, "drained": 1, "degraded": 2, "unreachable": 3}

CAN_TAKE_OVER = "CanTakeOver"
VERDICT = "Verdict"
REPLICATION_LAG = "ReplicationLagSeconds"
PARITY_MISMATCHES = "ParityMismatches"
DRIFT = "Drift"
QUOTA_CAN_TAKE_OVER = "QuotaCanTakeOver"
QUOTA_HEADROOM_MIN = "QuotaHeadroomMin"

# PutMetricData: "no more than 1000 different metrics" and 1 MB per request. Requests are
# cut well below the size limit (the query encoding is larger than our JSON estimate).
MAX_METRICS_PER_CALL = 1000
MAX_BYTES_PER_CALL = 512 * 1024


@dataclass(frozen=True)
class Datum:
    """One datapoint of one metric for one region."""

    metric: str
    region: str
    value: float
    unit: str

    def to_api(self, application: str, timestamp: datetime) -> dict[str, Any]:
        datum = {
            "MetricName": self.metric,
            "Dimensions": dimensions(application, self.region),
            "Timestamp": timestamp,
            "Value": self.value,
            "Unit": self.unit,
        }
        if self.metric == CAN_TAKE_OVER:
            datum["StorageResolution"] = 1
        return datum


@dataclass(frozen=True)
class PublishResult:
    """What was published where; ``error`` says why not (a warning, never a traceback)."""

    region: str
    namespace: str
    data: tuple[Datum, ...]
    calls: int = 0
    error: str | None = None
    published: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "namespace": self.namespace,
            "published": self.published,
            "calls": self.calls,
            "error": self.error,
            "metrics": [
                {"metric": d.metric, "region": d.region, "value": d.value, "unit": d.unit}
                for d in self.data
            ],
        }


def dimensions(application: str, region: str) -> list[dict[str, str]]:
    return [{"Name": "Application", "Value": application}, {"Name": "Region", "Value": region}]


def publish_region(topology: Topology, override: str | None = None) -> str:
    """Where the metrics (and the alarms on them) live.

    The lock's region when the topology names a lock table (the region operators already
    chose to coordinate from), else the primary region; ``override`` wins. Alarms can only
    watch metrics of their own region, so ``alarms apply`` uses the same rule.
    """
    if override:
        return override
    if topology.lock is not None:
        return topology.lock.region
    return topology.primary_region


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _lag_seconds(region: Mapping[str, Any]) -> float | None:
    lags: list[float] = []
    aurora = region.get("aurora")
    if isinstance(aurora, Mapping) and (lag := _finite(aurora.get("lag_seconds"))) is not None:
        lags.append(lag)
    dynamodb = region.get("dynamodb")
    if isinstance(dynamodb, Mapping):
        for entry in dynamodb.get("incoming") or ():
            if (ms := _finite(entry.get("milliseconds"))) is not None:
                lags.append(ms / 1000.0)
    return max(lags) if lags else None


def region_data(region: Mapping[str, Any]) -> list[Datum]:
    """The datapoints of one region, from its entry in the status JSON."""
    name = str(region["name"])
    data = [
        Datum(CAN_TAKE_OVER, name, 1.0 if region.get("can_take_over") else 0.0, "None"),
        Datum(VERDICT, name, float(VERDICT_CODES[str(region["verdict"])]), "None"),
        Datum(DRIFT, name, float(len(region.get("drift") or ())), "Count"),
    ]
    if (lag := _lag_seconds(region)) is not None:
        data.append(Datum(REPLICATION_LAG, name, lag, "Seconds"))
    parity = region.get("parity")
    if isinstance(parity, Mapping):
        blocking = [
            m for m in parity.get("mismatches") or () if m.get("blocking") and not m.get("ignored")
        ]
        data.append(Datum(PARITY_MISMATCHES, name, float(len(blocking)), "Count"))
    capacity = region.get("capacity")
    if isinstance(capacity, Mapping):
        quotas = list(capacity.get("quotas") or ())
        ok = all(q.get("can_take_over") for q in quotas)
        data.append(Datum(QUOTA_CAN_TAKE_OVER, name, 1.0 if ok else 0.0, "None"))
        headrooms = [h for q in quotas if (h := _finite(q.get("headroom"))) is not None]
        if headrooms:
            data.append(Datum(QUOTA_HEADROOM_MIN, name, min(headrooms), "None"))
    return data


def report_data(doc: Mapping[str, Any]) -> list[Datum]:
    """Every region's datapoints from a status JSON document (``StatusReport.to_json``)."""
    return [d for region in doc.get("regions") or () for d in region_data(region)]


def batches(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``entries`` cut into PutMetricData requests within the documented limits."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(json.dumps(entry, default=str))
        if batch and (len(batch) >= MAX_METRICS_PER_CALL or size + entry_size > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry_size
    if batch:
        yield batch


def publish(
    factory: ClientSource,
    report: StatusReport,
    *,
    region: str,
    namespace: str = NAMESPACE,
) -> PublishResult:
    """Put the report's datapoints to CloudWatch in ``region``; a failure is in ``error``."""
    data = tuple(report_data(report.to_json()))
    entries = [d.to_api(report.application, report.observed_at) for d in data]
    calls = published = 0
    try:
        client = factory.client("cloudwatch", region)
        for batch in batches(entries):
            call(client, "put_metric_data", Namespace=namespace, MetricData=batch)
            calls += 1
            published += len(batch)
    except MrFailoverError as exc:
        return PublishResult(region, namespace, data, calls, str(exc), published)
    return PublishResult(region, namespace, data, calls, None, published)


# How far back the last published CanTakeOver is looked for (a missed minute or two of the
# schedule still finds it). Periods under a minute read only data younger than 3 hours.
LOOKBACK = timedelta(minutes=15)
# CanTakeOver is read by the second. With a minute's period, runs in the same minute were
# one aggregate: 0 then 1 then 1 read back as Minimum 0 and the recovery was posted twice.
# "For high-resolution metrics ... the period can be 1, 5, 10, 20, 30, 60, or any multiple
# of 60. High-resolution metrics are those metrics stored by a PutMetricData call that
# includes a StorageResolution of 1 second" (MetricStat, Amazon CloudWatch API Reference,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html).
# What a 1-second period reads of datapoints published earlier at standard resolution
# (before an upgrade) is not documented (assumption): no datapoint or an error reads as
# "nothing published", and that one run posts nothing, as a first run does.
READ_PERIOD = 1


def last_can_take_over(
    factory: ClientSource, report: StatusReport, *, region: str, namespace: str = NAMESPACE
) -> dict[str, bool]:
    """Each region's latest published ``CanTakeOver`` before this report (GetMetricData,
    one call for every region); a region with none, or a failed read, is left out."""
    names = [r.name for r in report.regions]
    queries = [
        {
            "Id": f"r{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": CAN_TAKE_OVER,
                    "Dimensions": dimensions(report.application, name),
                },
                "Period": READ_PERIOD,
                "Stat": "Minimum",
            },
            "ReturnData": True,
        }
        for i, name in enumerate(names)
    ]
    try:
        out = call(
            factory.client("cloudwatch", region),
            "get_metric_data",
            MetricDataQueries=queries,
            StartTime=report.observed_at - LOOKBACK,
            # Past this report's time: the run before may have published less than a second
            # ago, and EndTime is exclusive and cut to whole seconds (moto does; AWS rounds
            # it). This run publishes only after this read, so nothing of its own is seen.
            EndTime=report.observed_at + timedelta(minutes=1),
            ScanBy="TimestampDescending",
        )
    except MrFailoverError:
        return {}
    found = {}
    for result in out.get("MetricDataResults", []):
        points = list(zip(result.get("Timestamps") or [], result.get("Values") or [], strict=False))
        if points and result.get("Id", "").startswith("r"):
            # The newest datapoint, whatever order the answer lists them in.
            _, value = max(points, key=lambda p: p[0])
            found[names[int(result["Id"][1:])]] = float(value) >= 1
    return found


def notify_changes(
    topology: Topology,
    factory: ClientSource,
    report: StatusReport,
    before: Mapping[str, bool],
    warn: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Post each region whose can-take-over differs from what was last published (once
    per change: the next run finds the new value published); returns the changes."""
    changed = [r for r in report.regions if r.name in before and before[r.name] != r.can_take_over]
    if changed and topology.notifications is not None:
        notifier = Notifier(topology.notifications, factory, warn)
        for r in changed:
            state = "can take over again" if r.can_take_over else "can no longer take over"
            notifier.post(
                f"mr-failover: {report.application}: {r.name} {state}",
                describe({"why": "; ".join(r.reasons), "observed": report.observed_at}),
            )
    return [
        {"region": r.name, "can_take_over": r.can_take_over, "reasons": list(r.reasons)}
        for r in changed
    ]
