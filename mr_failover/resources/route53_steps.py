"""Route 53 health checks as mutation steps: flip a check's inversion, wait, verify.

Route 53's effective status of a check is the checkers' raw view with the check's flags
applied (AWS-FACTS.md): ``Disabled`` means healthy whatever the checkers see, and
``Inverted`` flips that, so a disabled, inverted check is unhealthy. The reads (the
flags from ``GetHealthCheck``, the checkers' view from CloudWatch's ``AWS/Route53``
metrics in us-east-1, the Name-tag lookup) are the status module's
(``resources/route53.py``), reused here and called afresh on every poll. Every Route 53
call goes to its control plane in us-east-1.

Also here, for ``drain`` / ``undrain``: a weighted record's weight (UPSERT, then
``GetChange`` until INSYNC) and the wait of one record TTL after traffic has moved.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mr_failover.aws import CONTROL_PLANE_REGION, error_code, translate
from mr_failover.engine.plan import Clock, Step, StepAction
from mr_failover.errors import AwsCallError
from mr_failover.resources.route53 import HealthCheckFinding, observe_health_check
from mr_failover.topology import HealthCheck, Record

ROUTE53_REGION = CONTROL_PLANE_REGION["route53"]
# How often the record steps look again (GetChange, ListResourceRecordSets): a change is
# noticed within 2 s. A few calls every 2 s are far below Route 53's request rate limit
# (an account-wide bucket refilled at 10 requests/s: "Throttling for Amazon Route 53 API
# requests", Route 53 Developer Guide,
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/throttling-api-requests.html).
# The first wait is 1.5-2 s (the executor's jitter), the next ones 2 s.
POLL = 1.5
MAX_POLL = 2.0
# How often a health check step looks again: one GetHealthCheck and one GetMetricData
# (CloudWatch, us-east-1) every 15-20 s. Route 53 publishes its health metrics once a
# minute (rule route53-health-from-cloudwatch), so a faster poll sees nothing new; this
# one sees a new datapoint within 20 s, at under 0.07 request/s for each API, far below
# Route 53's 10 requests/s and GetMetricData's 50 transactions/s ("Which API should I
# use, GetMetricData or GetMetricStatistics?", AWS Knowledge Center,
# https://aws.amazon.com/premiumsupport/knowledge-center/cloudwatch-getmetricdata-api).
HEALTH_POLL = 15.0
HEALTH_MAX_POLL = 20.0
# The wait lasts at least this long: three of Route 53's one-minute datapoints, so a
# check whose health was unknown (no datapoint yet) or one that reads only Route 53's own
# status (calculated) gets its next datapoints before the step gives up.
HEALTH_MIN_WAIT = 180.0


def describe(finding: HealthCheckFinding) -> str:
    """``api-us-east-1 is unhealthy (checkers: 100% report healthy; inverted)``."""
    eff = {True: "healthy", False: "unhealthy", None: "unknown"}[finding.effective_healthy]
    flags = [f for f, on in (("inverted", finding.inverted), ("disabled", finding.disabled)) if on]
    return (
        f"{finding.name} is {eff} ({finding.health_words}"
        + (f"; {', '.join(flags)}" if flags else "")
        + ")"
    )


class SetInversion(StepAction):
    """Set a check's ``Inverted`` flag, then wait for its effective status to follow."""

    def __init__(
        self, client: Any, name: str, check_id: str, *, inverted: bool, cloudwatch: Any
    ) -> None:
        self.client = client
        self.cloudwatch = cloudwatch
        self.name = name
        self.check_id = check_id
        self.inverted = inverted
        self._last: HealthCheckFinding | None = None

    def _config(self) -> dict[str, Any]:
        try:
            out = self.client.get_health_check(HealthCheckId=self.check_id)
        except Exception as exc:
            # Named after the control plane's region: the client itself says "aws-global".
            raise translate(exc, ROUTE53_REGION, "route53:GetHealthCheck") from None
        hc: dict[str, Any] = out["HealthCheck"]
        return hc

    def holds(self) -> bool:
        return bool(self._config()["HealthCheckConfig"].get("Inverted", False)) == self.inverted

    def apply(self) -> None:
        # The version read just before the write: if someone edits the check in between,
        # Route 53 rejects ours instead of silently overwriting theirs.
        version = int(self._config()["HealthCheckVersion"])
        try:
            self.client.update_health_check(
                HealthCheckId=self.check_id, HealthCheckVersion=version, Inverted=self.inverted
            )
        except Exception as exc:
            if error_code(exc) == "HealthCheckVersionMismatch":
                raise AwsCallError(
                    ROUTE53_REGION,
                    "route53:UpdateHealthCheck",
                    f"health check {self.name} was changed by someone else meanwhile",
                    "check who is editing it, then run the command again",
                ) from None
            raise translate(exc, ROUTE53_REGION, "route53:UpdateHealthCheck") from None

    def settled(self) -> bool:
        self._last = observe_health_check(self.client, self._spec(), cloudwatch=self.cloudwatch)
        # Inverted: the region must look unhealthy; restored: healthy again.
        return self._last.effective_healthy is (not self.inverted)

    def _spec(self) -> HealthCheck:
        return HealthCheck(name=self.name, id=self.check_id)

    def state(self) -> str:
        return describe(self._last) if self._last else ""


def inversion_step(
    client: Any,
    check: HealthCheck,
    check_id: str,
    *,
    region: str,
    inverted: bool,
    cloudwatch: Any,
) -> Step:
    """The step that sets ``Inverted`` on one of ``region``'s checks (``cloudwatch``: a
    CloudWatch client in us-east-1, where the check's health is read)."""
    verb = "invert" if inverted else "restore"
    undo = "restore" if inverted else "invert"
    # One evaluation cycle to notice, twice over, plus a minute of Route 53 propagation;
    # never less than three of its one-minute datapoints.
    timeout = max(check.request_interval * check.failure_threshold * 2 + 60.0, HEALTH_MIN_WAIT)
    goal = "unhealthy" if inverted else "healthy"
    return Step(
        id=f"route53:{verb}:{check.name}",
        title=f"{verb} health check {check.name} ({region} {goal})",
        service="route53",
        call="UpdateHealthCheck",
        params={
            "HealthCheckId": check_id,
            "HealthCheckVersion": "<read at call time>",
            "Inverted": inverted,
        },
        region=ROUTE53_REGION,
        plane="control",
        plane_region=ROUTE53_REGION,
        undoable=True,
        undo=f"mr-failover health-check {undo} --region {region}",
        timeout=timeout,
        poll=HEALTH_POLL,
        max_poll=HEALTH_MAX_POLL,
        action=SetInversion(client, check.name, check_id, inverted=inverted, cloudwatch=cloudwatch),
    )


# --- weighted records and the TTL wait (drain / undrain) -----------------------------


def _r53(client: Any, operation: str, name: str, **params: Any) -> Any:
    try:
        return getattr(client, operation)(**params)
    except Exception as exc:
        raise translate(exc, ROUTE53_REGION, f"route53:{name}") from None


def read_record_set(client: Any, zone_id: str, record: Record) -> dict[str, Any] | None:
    """The record set ``record`` names (name, type and set identifier), as Route 53 has it."""
    request: dict[str, Any] = {
        "HostedZoneId": zone_id,
        "StartRecordName": record.name,
        "StartRecordType": record.type,
    }
    wanted = record.name.rstrip(".").lower()
    while True:
        page = _r53(client, "list_resource_record_sets", "ListResourceRecordSets", **request)
        sets = page.get("ResourceRecordSets", [])
        for rrs in sets:
            same = rrs["Name"].rstrip(".").lower() == wanted and rrs["Type"] == record.type
            if same and rrs.get("SetIdentifier") == record.set_identifier:
                found: dict[str, Any] = rrs
                return found
        past = any(r["Name"].rstrip(".").lower() != wanted for r in sets)
        if past or not page.get("IsTruncated"):
            return None
        request["StartRecordName"] = page["NextRecordName"]
        request["StartRecordType"] = page["NextRecordType"]
        if "NextRecordIdentifier" in page:
            request["StartRecordIdentifier"] = page["NextRecordIdentifier"]


class SetRecordWeight(StepAction):
    """UPSERT one weighted record with a new weight, then wait for GetChange INSYNC.

    Route 53 records carry no version: the record set is read just before the UPSERT and
    written back whole with only ``Weight`` changed, so its value, TTL and health check
    stay as they are.
    """

    def __init__(self, client: Any, zone_id: str, record: Record, *, weight: int) -> None:
        self.client = client
        self.zone_id = zone_id
        self.record = record
        self.weight = weight
        self.change_id: str | None = None
        self._seen: tuple[int | None, str | None] = (None, None)

    def _current(self) -> dict[str, Any]:
        rrs = read_record_set(self.client, self.zone_id, self.record)
        if rrs is None:
            raise AwsCallError(
                ROUTE53_REGION,
                "route53:ListResourceRecordSets",
                f"record {self.record.name} ({self.record.set_identifier}) not found in zone "
                f"{self.zone_id}",
                "check regions.*.traffic.records in the topology",
            )
        return rrs

    def holds(self) -> bool:
        return self._current().get("Weight") == self.weight

    def apply(self) -> None:
        rrs = dict(self._current())
        if "Weight" not in rrs:
            raise AwsCallError(
                ROUTE53_REGION,
                "route53:ChangeResourceRecordSets",
                f"record {self.record.name} ({self.record.set_identifier}) is not weighted",
                "use drain_lever: health_check_inversion for this region",
            )
        rrs["Weight"] = self.weight
        out = _r53(
            self.client,
            "change_resource_record_sets",
            "ChangeResourceRecordSets",
            HostedZoneId=self.zone_id,
            ChangeBatch={
                "Comment": f"mr-failover: weight {self.weight}",
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrs}],
            },
        )
        self.change_id = str(out["ChangeInfo"]["Id"])

    def settled(self) -> bool:
        status = None
        if self.change_id is not None:
            change = _r53(self.client, "get_change", "GetChange", Id=self.change_id)
            status = str(change["ChangeInfo"]["Status"])
        weight = self._current().get("Weight")
        self._seen = (weight, status)
        # INSYNC: every Route 53 name server answers with the new weight.
        return weight == self.weight and status in (None, "INSYNC")

    def state(self) -> str:
        weight, status = self._seen
        text = f"{self.record.name} ({self.record.set_identifier}) has weight {weight}"
        return text + (f", change {self.change_id} is {status}" if status else "")


def weight_step(
    client: Any, zone_id: str, record: Record, *, region: str, weight: int, undo: str
) -> Step:
    """The step that sets ``record``'s weight (0 drains ``region``)."""
    return Step(
        id=f"route53:weight:{record.name}:{record.set_identifier}",
        title=f"set weight {weight} on {record.name} ({record.set_identifier}, {region})",
        service="route53",
        call="ChangeResourceRecordSets",
        params={
            "HostedZoneId": zone_id,
            "Action": "UPSERT",
            "Name": record.name,
            "Type": record.type,
            "SetIdentifier": record.set_identifier,
            "Weight": weight,
        },
        region=ROUTE53_REGION,
        plane="control",
        plane_region=ROUTE53_REGION,
        undoable=True,
        undo=undo,
        # PENDING -> INSYNC usually takes well under a minute.
        timeout=300.0,
        poll=POLL,
        max_poll=MAX_POLL,
        action=SetRecordWeight(client, zone_id, record, weight=weight),
    )


class TrafficShift:
    """The traffic steps of one run, so the TTL wait knows whether anything moved."""

    def __init__(self) -> None:
        self.actions: list[StepAction] = []
        self.changed = False

    def track(self, step: Step) -> Step:
        """``step`` with its action wrapped so that applying it is noted here."""
        assert step.action is not None
        wrapped = _Tracked(step.action, self)
        self.actions.append(wrapped)
        return replace(step, action=wrapped)


class _Tracked(StepAction):
    def __init__(self, inner: StepAction, shift: TrafficShift) -> None:
        self.inner = inner
        self.shift = shift

    def holds(self) -> bool:
        return self.inner.holds()

    def apply(self) -> None:
        self.inner.apply()
        self.shift.changed = True

    def settled(self) -> bool:
        return self.inner.settled()

    def state(self) -> str:
        return self.inner.state()

    def verify(self) -> str | None:
        return self.inner.verify()

    def note(self) -> str:
        return self.inner.note()

    def journal_notes(self) -> list[tuple[str, dict[str, Any]]]:
        return self.inner.journal_notes()


class WaitForTtl(StepAction):
    """Wait one record TTL after Route 53 changed its answers, then re-verify the change.

    Resolvers keep the old answer for up to the TTL. The wait runs only when this run
    moved traffic: when every traffic step found its change already in place (a re-run,
    or a resume after the change), the change is older than this run and the step is
    skipped. Time is the injected clock's, so tests never sleep.
    """

    def __init__(self, shift: TrafficShift, ttl: float, clock: Clock) -> None:
        self.shift = shift
        self.ttl = ttl
        self.clock = clock
        self.started: float | None = None

    def holds(self) -> bool:
        return not self.shift.changed

    def apply(self) -> None:
        self.started = self.clock.monotonic()

    def settled(self) -> bool:
        return self.started is None or self.clock.monotonic() >= self.started + self.ttl

    def state(self) -> str:
        if self.started is None:
            return ""
        left = self.started + self.ttl - self.clock.monotonic()
        return f"{max(left, 0.0):.0f}s of the {self.ttl:g}s TTL left"

    def verify(self) -> str | None:
        # The change must still be in place after the wait (nobody reverted it meanwhile).
        for action in self.shift.actions:
            problem = action.verify()
            if problem:
                return problem
        return None


def ttl_wait_step(shift: TrafficShift, *, ttl: int, region: str, clock: Clock) -> Step:
    """The step that waits out the records' TTL once ``region``'s traffic has moved."""
    return Step(
        id=f"dns:wait-ttl:{region}",
        title=f"wait {ttl}s (record TTL) for resolvers to drop cached {region} answers",
        service="dns",
        call="WaitTTL",
        params={"seconds": ttl},
        # No API call: the wait is on resolvers (the DNS data plane), not on an endpoint.
        region="-",
        plane="data",
        plane_region=None,
        undoable=True,
        undo=None,
        timeout=float(ttl) + 30.0,
        # No API call per poll: only the clock is read, so the wait ends close to the TTL.
        poll=min(POLL, max(ttl / 6, 0.5)),
        max_poll=MAX_POLL,
        action=WaitForTtl(shift, float(ttl), clock),
    )
