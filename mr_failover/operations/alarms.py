"""``alarms apply``: the CloudWatch alarms on the readiness metrics, created or updated.

The alarms watch the metrics of :mod:`mr_failover.operations.metrics` in the region they
are published to (an alarm watches metrics of its own region). Per region of the topology:

- ``<prefix><region>-cannot-take-over``: ``CanTakeOver`` (Minimum) below 1 for
  ``minutes`` consecutive minutes; missing data is *breaching*: when nothing publishes
  (the scheduled Lambda stopped, its region is down, PutMetricData is denied) nobody
  knows whether the region could take over, and that must page as well.
- ``<prefix><region>-replication-lag`` (regions that declare Aurora or DynamoDB tables):
  ``ReplicationLagSeconds`` (Maximum) above the topology's ``policy.rpo_seconds`` for
  ``minutes`` minutes; missing data is *not breaching* (no lag is known for a writer
  region; the can-take-over alarm already covers a silent publisher).
- ``<prefix><region>-parity`` (topology ``parity:``): ``ParityMismatches`` above 0.
- ``<prefix><region>-quota`` (topology ``capacity:``): ``QuotaCanTakeOver`` below 1.

``<prefix>`` is ``mr-failover-<application>-``. Idempotent: the alarms under the prefix
are read (``DescribeAlarms`` with ``AlarmNamePrefix``) and only an alarm that is missing
or whose configuration differs gets a ``PutMetricAlarm`` step. "When you update an
existing alarm, its state is left unchanged, but the update completely overwrites the
previous configuration of the alarm" (PutMetricAlarm, Amazon CloudWatch API Reference,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html),
so each step sends the whole configuration. Alarms under the prefix for the same
application that the topology no longer implies are named in the plan's notes and left
as they are (deleting is the operator's call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mr_failover.aws import call
from mr_failover.engine.plan import Plan, Step, StepAction
from mr_failover.engine.run import PlanJob
from mr_failover.errors import EXIT_OK, MrFailoverError, UsageError
from mr_failover.operations import metrics

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Topology

COMMAND = "alarms apply"
DEFAULT_MINUTES = 5
# "For alarms with a period of less than one hour (3,600 seconds), the total evaluation
# period can't be longer than one day (86,400 seconds)" (PutMetricAlarm, Period, Amazon
# CloudWatch API Reference,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html):
# at one datapoint a minute, 1440 minutes.
MAX_MINUTES = 1440
PERIOD_SECONDS = 60
# DescribeAlarms: MaxRecords is 1 to 100.
PAGE_SIZE = 100

# The fields compared between the desired and the existing alarm (what PutMetricAlarm sets).
COMPARED = (
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "Dimensions",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)

Action = Literal["create", "update", "unchanged"]


class AlarmsUpToDate(MrFailoverError):
    """Every alarm already matches: nothing to change (exit 0)."""

    exit_code = EXIT_OK


def prefix(application: str) -> str:
    return f"mr-failover-{application}-"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm the topology implies: the full PutMetricAlarm request."""

    name: str
    region: str  # the region the metric describes (its Region dimension)
    kind: str
    request: Mapping[str, Any]

    @property
    def condition(self) -> str:
        r = self.request
        op = {"LessThanThreshold": "<", "GreaterThanThreshold": ">"}[r["ComparisonOperator"]]
        return (
            f"{r['Statistic']}({r['MetricName']}) {op} {r['Threshold']:g} for "
            f"{r['EvaluationPeriods']} min, missing={r['TreatMissingData']}"
        )


def _spec(
    topology: Topology,
    region: str,
    kind: str,
    *,
    metric: str,
    statistic: str,
    comparison: str,
    threshold: float,
    missing: str,
    minutes: int,
    actions: Sequence[str],
    why: str,
) -> AlarmSpec:
    name = f"{prefix(topology.application)}{region}-{kind}"
    request: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": f"mr-failover: {why} ({topology.application}, {region}); "
        "managed by `mr-failover alarms apply`",
        "ActionsEnabled": True,
        "AlarmActions": list(actions),
        "OKActions": list(actions),
        "MetricName": metric,
        "Namespace": metrics.NAMESPACE,
        "Statistic": statistic,
        "Dimensions": metrics.dimensions(topology.application, region),
        "Period": PERIOD_SECONDS,
        "EvaluationPeriods": minutes,
        "DatapointsToAlarm": minutes,
        "Threshold": float(threshold),
        "ComparisonOperator": comparison,
        "TreatMissingData": missing,
    }
    return AlarmSpec(name, region, kind, request)


def desired_alarms(
    topology: Topology, *, minutes: int = DEFAULT_MINUTES, actions: Sequence[str] = ()
) -> list[AlarmSpec]:
    """Every alarm the topology implies, in region order."""
    if not topology.regions:
        raise UsageError("the topology declares no regions: there is no alarm to apply")
    if not 1 <= minutes <= MAX_MINUTES:
        raise UsageError(f"--minutes must be between 1 and {MAX_MINUTES}, not {minutes}")
    for action in actions:
        # AlarmActions and OKActions take ARNs (an SNS topic, an Auto Scaling policy...).
        if not action.startswith("arn:") or len(action) > 1024:
            raise UsageError(f"--alarm-action must be an ARN (arn:...), not {action[:80]!r}")
    specs: list[AlarmSpec] = []
    for region, spec in topology.regions.items():
        common: dict[str, Any] = {"minutes": minutes, "actions": actions}
        specs.append(
            _spec(
                topology,
                region,
                "cannot-take-over",
                metric=metrics.CAN_TAKE_OVER,
                statistic="Minimum",
                comparison="LessThanThreshold",
                threshold=1,
                missing="breaching",
                why=f"{region} cannot take over, or nothing publishes its readiness",
                **common,
            )
        )
        if spec.aurora is not None or spec.dynamodb_tables:
            specs.append(
                _spec(
                    topology,
                    region,
                    "replication-lag",
                    metric=metrics.REPLICATION_LAG,
                    statistic="Maximum",
                    comparison="GreaterThanThreshold",
                    threshold=topology.policy.rpo_seconds,
                    missing="notBreaching",
                    why=f"replication lag into {region} above the RPO",
                    **common,
                )
            )
        if topology.parity is not None:
            specs.append(
                _spec(
                    topology,
                    region,
                    "parity",
                    metric=metrics.PARITY_MISMATCHES,
                    statistic="Maximum",
                    comparison="GreaterThanThreshold",
                    threshold=0,
                    missing="notBreaching",
                    why=f"{region} differs from the reference region (blocking parity)",
                    **common,
                )
            )
        if topology.capacity is not None:
            specs.append(
                _spec(
                    topology,
                    region,
                    "quota",
                    metric=metrics.QUOTA_CAN_TAKE_OVER,
                    statistic="Minimum",
                    comparison="LessThanThreshold",
                    threshold=1,
                    missing="notBreaching",
                    why=f"{region}'s quotas leave no headroom for the take-over",
                    **common,
                )
            )
    return specs


def _normal(key: str, value: Any) -> Any:
    """A field's value in a form that compares equal however AWS orders or types it."""
    if key in ("AlarmActions", "OKActions"):
        return sorted(value or ())
    if key == "Dimensions":
        return sorted((d["Name"], d["Value"]) for d in value or ())
    if key == "Threshold" and value is not None:
        return float(value)
    return value


def differences(desired: Mapping[str, Any], existing: Mapping[str, Any] | None) -> list[str]:
    """The fields of ``desired`` that ``existing`` does not match (all when it is None)."""
    if existing is None:
        return list(COMPARED)
    return [k for k in COMPARED if _normal(k, desired.get(k)) != _normal(k, existing.get(k))]


def existing_alarms(client: Any, name_prefix: str) -> dict[str, dict[str, Any]]:
    """The metric alarms whose names start with ``name_prefix``, by name (every page)."""
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {
        "AlarmNamePrefix": name_prefix,
        "AlarmTypes": ["MetricAlarm"],
        "MaxRecords": PAGE_SIZE,
    }
    while True:
        page = call(client, "describe_alarms", **request)
        for alarm in page.get("MetricAlarms") or ():
            found[alarm["AlarmName"]] = alarm
        token = page.get("NextToken")
        if not token:
            return found
        request["NextToken"] = token


def _changed_text(desired: Mapping[str, Any], existing: Mapping[str, Any], keys: list[str]) -> str:
    parts = []
    for key in keys:
        was, now = existing.get(key), desired.get(key)
        if key in ("AlarmDescription", "Dimensions", "AlarmActions", "OKActions"):
            parts.append(key)
        else:
            parts.append(f"{key} {was!r} -> {now!r}")
    return ", ".join(parts)


@dataclass(frozen=True)
class AlarmChange:
    """One alarm: what it is, and what applying does to it."""

    spec: AlarmSpec
    action: Action
    changes: tuple[str, ...]  # the fields that differ (update), empty otherwise
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "region": self.spec.region,
            "kind": self.spec.kind,
            "metric": self.spec.request["MetricName"],
            "condition": self.spec.condition,
            "action": self.action,
            "changes": list(self.changes),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AlarmsView:
    """The desired alarms against what CloudWatch has now."""

    publish_region: str
    changes: tuple[AlarmChange, ...]
    unmanaged: tuple[str, ...]  # under the prefix, same application, no longer implied

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.publish_region,
            "namespace": metrics.NAMESPACE,
            "alarms": [c.to_json() for c in self.changes],
            "unmanaged": list(self.unmanaged),
        }


def compare(
    topology: Topology,
    factory: ClientSource,
    *,
    region: str,
    minutes: int = DEFAULT_MINUTES,
    actions: Sequence[str] = (),
) -> AlarmsView:
    """Read the alarms in ``region`` and say, for each desired one, what applying does."""
    specs = desired_alarms(topology, minutes=minutes, actions=actions)
    client = factory.client("cloudwatch", region)
    found = existing_alarms(client, prefix(topology.application))
    changes = []
    for spec in specs:
        existing = found.get(spec.name)
        diff = differences(spec.request, existing)
        if existing is None:
            changes.append(AlarmChange(spec, "create", (), "new alarm"))
        elif diff:
            detail = _changed_text(spec.request, existing, diff)
            changes.append(AlarmChange(spec, "update", tuple(diff), detail))
        else:
            changes.append(AlarmChange(spec, "unchanged", (), "up to date"))
    wanted = {s.name for s in specs}
    ours = metrics.dimensions(topology.application, "")[0]
    unmanaged = tuple(
        name
        for name, alarm in sorted(found.items())
        if name not in wanted and ours in (alarm.get("Dimensions") or ())
    )
    return AlarmsView(region, tuple(changes), unmanaged)


class PutAlarm(StepAction):
    """PutMetricAlarm with the whole configuration; holds when the alarm already matches."""

    def __init__(self, client: Any, request: Mapping[str, Any]) -> None:
        self.client = client
        self.request = dict(request)

    def _current(self) -> dict[str, Any] | None:
        name = self.request["AlarmName"]
        page = call(self.client, "describe_alarms", AlarmNames=[name], AlarmTypes=["MetricAlarm"])
        alarms = page.get("MetricAlarms") or []
        return next((a for a in alarms if a.get("AlarmName") == name), None)

    def holds(self) -> bool:
        return not differences(self.request, self._current())

    def apply(self) -> None:
        call(self.client, "put_metric_alarm", **self.request)

    def state(self) -> str:
        current = self._current()
        return "missing" if current is None else str(current.get("StateValue", ""))


def build(topology: Topology, factory: ClientSource, params: Mapping[str, Any]) -> Plan:
    """The plan: one PutMetricAlarm step per alarm that is missing or differs."""
    region = metrics.publish_region(topology, params.get("region"))
    minutes = int(params.get("minutes") or DEFAULT_MINUTES)
    actions = [str(a) for a in params.get("alarm_actions") or ()]
    view = compare(topology, factory, region=region, minutes=minutes, actions=actions)
    client = factory.client("cloudwatch", region)
    steps = tuple(
        Step(
            id=f"alarm-{c.spec.name}",
            title=f"{c.action} alarm {c.spec.name}",
            service="cloudwatch",
            call="PutMetricAlarm",
            params={"AlarmName": c.spec.name, "condition": c.spec.condition, "change": c.detail},
            region=region,
            plane="control",
            plane_region=region,
            undoable=False,
            timeout=30.0,
            action=PutAlarm(client, c.spec.request),
        )
        for c in view.changes
        if c.action != "unchanged"
    )
    unchanged = sum(1 for c in view.changes if c.action == "unchanged")
    notes = [f"{unchanged} alarm(s) already up to date"] if unchanged else []
    notes += [f"not implied by the topology any more, left as is: {n}" for n in view.unmanaged]
    return Plan(COMMAND, {**params, "region": region}, steps, tuple(notes))


class AlarmsJob(PlanJob):
    """``alarms apply`` under the run lifecycle; an empty plan stops before the lock."""

    def __init__(self) -> None:
        super().__init__(build)

    def check(self, plan: Plan) -> None:
        if not plan.steps:
            raise AlarmsUpToDate(
                f"every alarm in {plan.params.get('region')} is up to date: nothing changed"
            )
