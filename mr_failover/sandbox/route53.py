"""Route 53 health checks that see regional outages, on top of moto's Route 53.

moto 5.2.5 answers ``GetHealthCheckStatus`` with one constant success, never publishes
the ``HealthCheckStatus`` metric and does not enforce ``HealthCheckVersion``. Here:

- every ``settings.health_check_interval`` sandbox seconds each health check is
  evaluated by several checker regions: it fails while its region (assigned with
  ``Sandbox.assign_health_check``, else inferred from its Name tag or domain name) is in
  a whole-region outage;
- ``GetHealthCheckStatus`` returns the checkers' last raw observations
  (``Success: ...`` / ``Failure: ...``), inversion and disabling not applied, as on AWS;
- the check's own status flips only after ``FailureThreshold`` consecutive intervals
  agree (both ways), and ``AWS/Route53 HealthCheckStatus`` (us-east-1, dimension
  ``HealthCheckId``) is published with ``Disabled`` (healthy) then ``Inverted`` (flips)
  applied, so a disabled, inverted check is unhealthy;
- ``UpdateHealthCheck`` with a stale ``HealthCheckVersion`` fails with
  ``HealthCheckVersionMismatch`` and every update bumps the version.

Everything installed here is tied to moto 5.2.5 (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox import arc
from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

HOOKS = (
    "moto.route53.responses.Route53.get_health_check_status",
    "moto.route53.responses.Route53.update_health_check",
    "moto.route53.models.HealthCheck.health_check_version",
)
# Route 53's default checker regions (a health check's Regions narrows them).
CHECKER_REGIONS = (
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
)
CHECKER_IPS = {r: f"15.177.{i * 8}.{10 + i}" for i, r in enumerate(CHECKER_REGIONS)}
# Checks that have no checkers of their own: calculated (their children's status) and
# CloudWatch-alarm checks (moto keeps no AlarmIdentifier: not simulated).
UNCHECKED_TYPES = frozenset({"CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL"})
# sandbox.resident key of the application's health probe: region -> True/False/None.
HEALTH_PROBE = "health-probe"
_REGION_IN_TEXT = re.compile(r"(?<![a-z])([a-z]{2}(?:-gov)?-[a-z]+-\d)(?![0-9])")

_hooks = Hooks("Route 53")
_sandbox = _hooks.sandbox


@dataclass
class CheckState:
    """What Route 53 knows about one health check between intervals."""

    healthy: bool = True  # the check's own status, FailureThreshold applied
    last_ok: bool = True  # the checkers' last raw result
    streak: int = 0  # consecutive intervals that disagree with `healthy`
    checked_at: datetime | None = None


@dataclass
class Route53State:
    checks: dict[str, CheckState] = field(default_factory=dict)
    last_round: float | None = None


def _state(sandbox: SandboxState) -> Route53State:
    state: Route53State = sandbox.state("route53", Route53State)
    return state


def install(sandbox: SandboxState) -> None:
    """Point the hooks at ``sandbox`` (patching moto once per process); add the ticker."""
    _hooks.install(sandbox, _patch_moto)
    sandbox.every(sandbox.settings.tick, lambda: evaluate(sandbox))


def _backend(sandbox: SandboxState) -> Any:
    return sandbox.backend("route53", "aws")


def region_of(sandbox: SandboxState, check: Any) -> str | None:
    """The region a health check watches: assigned, else from its Name tag or domain."""
    assigned = sandbox.health_check_region(check.id)
    if assigned:
        return assigned
    tags = _backend(sandbox).resource_tags.get(check.id, {})
    for text in (tags.get("Name", ""), check.fqdn or ""):
        match = _REGION_IN_TEXT.search(text)
        if match:
            return match.group(1)
    return None


def raw_ok(sandbox: SandboxState, check: Any) -> bool:
    """What the checkers see right now: failure while the check's region is down, or
    while its application (sandbox/app.py, once set up) does not answer ``GET /health``
    with 200 over HTTP."""
    region = region_of(sandbox, check)
    if region is None:
        return True
    if sandbox.region_down(region):
        return False
    # The application's own health, probed over HTTP: registered by sandbox/app.py
    # (HEALTH_PROBE), not imported, so the simulations' imports stay one-way.
    probe = sandbox.resident.get(HEALTH_PROBE)
    answered = probe(region) if probe is not None else None
    return True if answered is None else bool(answered)


def healthy(sandbox: SandboxState, check_id: str) -> bool | None:
    """The check's own status (FailureThreshold applied, before inversion); None if unseen."""
    cs = _state(sandbox).checks.get(check_id)
    return None if cs is None else cs.healthy


def effective_healthy(check: Any, state: CheckState) -> bool:
    """A disabled check's status is healthy whatever the checkers see; Inverted then flips
    it, disabled or not: a disabled, inverted check is unhealthy.

    "After you disable a health check, Route 53 considers the status of the health check
    to always be healthy. [...] If you want to stop routing traffic to a resource, change
    the value of Inverted." (UpdateHealthCheck, ``Disabled``, Amazon Route 53 API
    Reference, https://docs.aws.amazon.com/Route53/latest/APIReference/API_UpdateHealthCheck.html)
    """
    # rule: route53-disabled-inverted
    status = True if check.disabled else state.healthy
    return status != bool(check.inverted)


def control_on(sandbox: SandboxState, check: Any) -> bool:
    """A RECOVERY_CONTROL check's status: its routing control is On (unknown: unhealthy).

    "When a routing control state is set to ON, traffic flows to a cell. When the state
    is set to OFF, traffic does not flow" (GetRoutingControlState, Routing Control API
    Reference); "When you change routing control states, Route 53 ARC updates Amazon
    Route 53 health checks" (DescribeRoutingControl,
    https://docs.aws.amazon.com/recovery-cluster/latest/api/routingcontrol-routingcontrolarn.html);
    "Creating a routing control health check in ARC",
    https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.create-health-check.html.
    """
    # rule: route53-recovery-control-status
    control = arc.state(sandbox).controls.get(getattr(check, "routing_control_arn", None) or "")
    return control is not None and control.on


def effective_status(sandbox: SandboxState, check_id: str) -> bool | None:
    """What DNS routing uses now: the check's status with Disabled then Inverted applied
    (:func:`effective_healthy`); None for an unknown check or one not evaluated yet.

    A routing-control check follows its control at once (ARC's state, no checkers); a
    calculated check its last round's count of healthy children.
    """
    check = _backend(sandbox).health_checks.get(check_id)
    if check is None:
        return None
    if check.type_ == "RECOVERY_CONTROL":
        cs: CheckState | None = CheckState(healthy=control_on(sandbox, check))
    else:
        cs = _state(sandbox).checks.get(check_id)
    return None if cs is None else effective_healthy(check, cs)


def evaluate(sandbox: SandboxState) -> None:
    """One checking round per health_check_interval: observations, threshold, metrics."""
    state = _state(sandbox)
    now = sandbox.now()
    interval = sandbox.settings.health_check_interval
    if state.last_round is not None and now - state.last_round < interval:
        return
    # Rounds missed while the clock was advanced count, so FailureThreshold x interval
    # holds in sandbox time; bounded so a huge jump stays cheap.
    rounds = 1 if state.last_round is None else min(int((now - state.last_round) // interval), 20)
    state.last_round = now
    checks = dict(_backend(sandbox).health_checks)
    for gone in set(state.checks) - set(checks):
        del state.checks[gone]
    stamp = sandbox.wall_time()
    data: list[dict[str, Any]] = []
    status: dict[str, bool] = {}
    for check_id, check in checks.items():
        if check.type_ == "RECOVERY_CONTROL":  # a calculated parent counts it too
            cs = state.checks.setdefault(check_id, CheckState())
            cs.healthy = cs.last_ok = control_on(sandbox, check)
            cs.checked_at = stamp
            status[check_id] = effective_healthy(check, cs)
            continue
        if check.type_ in UNCHECKED_TYPES:
            continue
        cs = state.checks.setdefault(check_id, CheckState())
        ok = raw_ok(sandbox, check)
        for _ in range(rounds):
            cs.last_ok = ok
            cs.checked_at = stamp
            if ok == cs.healthy:
                cs.streak = 0
                continue
            cs.streak += 1
            if cs.streak >= int(check.failure_threshold or 3):
                cs.healthy, cs.streak = ok, 0
        status[check_id] = effective_healthy(check, cs)
        if not check.disabled:  # "not available when the health check is disabled"
            # Every checker applies FailureThreshold to what it sees; the sandbox's
            # checkers all agree, so the share is all or nothing.
            data.append(_datum("HealthCheckPercentageHealthy", check_id, 100.0 * cs.healthy, stamp))
        data.append(_datum("HealthCheckStatus", check_id, float(status[check_id]), stamp))
    for check_id, check in checks.items():
        if check.type_ != "CALCULATED":
            continue
        # rule: route53-calculated-status
        # Route 53 counts the healthy children and compares the count with HealthThreshold
        # ("How Amazon Route 53 determines whether a health check is healthy").
        healthy_children = sum(1 for c in check.children or () if status.get(c, False))
        cs = state.checks.setdefault(check_id, CheckState())
        cs.healthy = healthy_children >= int(check.health_threshold or 0)
        cs.last_ok, cs.checked_at = cs.healthy, stamp
        data.append(
            _datum("ChildHealthCheckHealthyCount", check_id, float(healthy_children), stamp)
        )
        data.append(
            _datum("HealthCheckStatus", check_id, float(effective_healthy(check, cs)), stamp)
        )
    if data and not sandbox.region_down("us-east-1", "cloudwatch"):
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[sandbox.account_id]["us-east-1"]
        _drop_this_minute(backend, {d["Dimensions"][0]["Value"] for d in data}, stamp)
        backend.put_metric_data("AWS/Route53", data)


def _datum(metric: str, check_id: str, value: float, stamp: datetime) -> dict[str, Any]:
    return {
        "MetricName": metric,
        "Value": value,
        "Unit": "Percent" if metric == "HealthCheckPercentageHealthy" else "None",
        "Dimensions": [{"Name": "HealthCheckId", "Value": check_id}],
        "Timestamp": stamp,
    }


def _drop_this_minute(backend: Any, check_ids: set[str], stamp: datetime) -> None:
    """Remove this minute's earlier AWS/Route53 datapoints of ``check_ids``.

    Route 53 sends one datapoint per metric a minute ("Amazon Route 53 metrics and
    dimensions"); the sandbox evaluates every ``health_check_interval`` and keeps, for
    the current minute, only the latest round's value, so a sped-up demo sees a change at
    once and a one-minute statistic is that one value. Datapoints are appended in time
    order per metric, not across metrics, so the whole list is walked.
    """
    # rule: route53-metrics-per-minute
    minute = stamp.replace(second=0, microsecond=0)
    data = backend.metric_data
    i = len(data) - 1
    while i >= 0:
        d = data[i]
        ts = getattr(d, "timestamp", None)
        if isinstance(ts, datetime) and ts.replace(tzinfo=None) < minute:
            i -= 1  # another metric's older datapoint can sit after this minute's: go on
            continue
        dims = getattr(d, "dimensions", None) or []
        if (
            getattr(d, "namespace", None) == "AWS/Route53"
            and len(dims) == 1
            and getattr(dims[0], "value", None) in check_ids
        ):
            del data[i]
        i -= 1


def observations(sandbox: SandboxState, check: Any) -> list[dict[str, Any]]:
    """GetHealthCheckStatus: the checkers' last raw reports (no inversion applied)."""
    cs = _state(sandbox).checks.get(check.id) or CheckState(last_ok=raw_ok(sandbox, check))
    regions = [r for r in (check.regions or CHECKER_REGIONS) if r in CHECKER_IPS] or list(
        CHECKER_REGIONS
    )
    if cs.last_ok:
        status = "Success: HTTP Status Code 200, OK"
    else:
        status = (
            "Failure: Connection timed out. The endpoint or the internet connection is "
            "down, or requests are being blocked by your firewall."
        )
    return [
        {
            "Region": region,
            "IPAddress": CHECKER_IPS[region],
            "StatusReport": {"Status": status, "CheckedTime": cs.checked_at or sandbox.wall_time()},
        }
        for region in regions
    ]


def _patch_moto() -> None:
    from moto.core.responses import ActionResult
    from moto.route53.exceptions import Route53ClientError
    from moto.route53.responses import Route53

    original_update = Route53.update_health_check

    def get_health_check_status(self: Any) -> Any:
        sandbox = _sandbox()
        check = self.backend.get_health_check(self._get_param("HealthCheckId"))
        with sandbox.lock:
            return ActionResult({"HealthCheckObservations": observations(sandbox, check)})

    def update_health_check(self: Any) -> Any:
        check = self.backend.get_health_check(self._get_param("HealthCheckId"))
        wanted = self._get_param("HealthCheckVersion")
        if wanted is not None and int(wanted) != int(check.health_check_version):
            raise Route53ClientError(
                "HealthCheckVersionMismatch",
                f"The value of HealthCheckVersion ({wanted}) does not match the current "
                f"version ({check.health_check_version}); call GetHealthCheck and retry.",
            )
        result = original_update(self)
        check.health_check_version = int(check.health_check_version) + 1
        return result

    setattr(Route53, "get_health_check_status", get_health_check_status)  # noqa: B010
    setattr(Route53, "update_health_check", update_health_check)  # noqa: B010
