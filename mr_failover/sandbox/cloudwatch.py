"""CloudWatch alarms as ``DescribeAlarms`` documents them, on top of moto's CloudWatch.

moto 5.2.5 returns composite alarms whatever ``AlarmTypes`` says. AWS returns metric
alarms only when the parameter is left out, so a tool that forgets it never sees a
composite alarm (the drill's stop condition would never fire). This module makes moto's
``describe_alarms`` honour ``AlarmTypes``, and routes ``PutCompositeAlarm`` to the
method moto stores composite alarms with.

Everything installed here is tied to moto 5.2.5 (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState as Sandbox

HOOKS = (
    "moto.cloudwatch.responses.CloudWatchResponse.describe_alarms",
    # moto stores composite alarms (an alarm with a rule) through put_metric_alarm but
    # does not route PutCompositeAlarm to it; the sandbox does.
    "moto.cloudwatch.responses.CloudWatchResponse.put_metric_alarm",
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


def _patch_moto() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse

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
