"""Route 53 as status sees it: health checks (raw and effective health) and records.

Route 53 is a global service whose API (the control plane) is served from us-east-1;
the clients passed here are for that region. The raw status is what the checkers see;
the effective status is what DNS routing uses once ``Disabled`` and ``Inverted`` are
applied (see :func:`effective_health`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call
from mr_failover.errors import AwsCallError, RefusedError
from mr_failover.resources.cloudwatch import MetricQuery, latest_points
from mr_failover.resources.section import (
    Cell,
    Drift,
    ErrorKind,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
    at_once,
)
from mr_failover.topology import HealthCheck, Record, Region, Traffic

if TYPE_CHECKING:
    from mr_failover.resources.arc import RoutingControlFinding

CONTROL_PLANE_REGION = "us-east-1"
# Route 53 counts an endpoint healthy when more than 18% of its checkers see it healthy
# ("How Amazon Route 53 determines whether a health check is healthy", Route 53 Developer
# Guide, https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
HEALTHY_CHECKER_SHARE = 0.18

# rule: route53-health-from-cloudwatch
# Health is read from CloudWatch, never from GetHealthCheckStatus: that call "is intended
# for use during development to diagnose behavior. It doesn't support production
# use-cases with high query rates that require immediate and actionable responses", and
# "You can't use GetHealthCheckStatus to get the status of a calculated health check"
# (GetHealthCheckStatus, Amazon Route 53 API Reference,
# https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHealthCheckStatus.html).
# Route 53 sends its health check metrics to CloudWatch once a minute, in US East
# (N. Virginia), namespace AWS/Route53, dimension HealthCheckId ("Monitoring health
# checks using CloudWatch" and "Amazon Route 53 metrics and dimensions", Route 53
# Developer Guide, https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-checks.html):
# - HealthCheckPercentageHealthy: the share of checkers that see the endpoint healthy
#   (endpoint checks only, not published while the check is disabled): the raw health;
# - HealthCheckStatus: Route 53's status of the check, 1 healthy, 0 unhealthy, for every
#   type (calculated, CloudWatch-alarm and ARC routing-control checks included).
METRICS_REGION = CONTROL_PLANE_REGION
HEALTH_NAMESPACE = "AWS/Route53"
# A datapoint older than this says nothing about now (Route 53 publishes every minute).
HEALTH_WINDOW = timedelta(minutes=5)
# The query ends this far after the local clock, so a skewed clock cannot hide the newest
# datapoint (CloudWatch has nothing in the future to return).
CLOCK_SKEW = timedelta(minutes=10)
NO_DATAPOINT = (
    f"no {HEALTH_NAMESPACE} datapoint in CloudWatch ({METRICS_REGION}) in the last "
    f"{int(HEALTH_WINDOW.total_seconds() // 60)} minutes (a check created in the last "
    "minutes has none yet)"
)


@dataclass(frozen=True)
class HealthMetrics:
    """A check's latest Route 53 metrics in CloudWatch (None: no datapoint in the window)."""

    healthy_percent: float | None = None  # HealthCheckPercentageHealthy, Minimum
    status: float | None = None  # HealthCheckStatus, Minimum
    as_of: datetime | None = None  # the newest of the two datapoints


def read_health_metrics(
    cloudwatch: Any, check_ids: Sequence[str], *, now: datetime | None = None
) -> dict[str, HealthMetrics]:
    """The latest ``HealthCheckPercentageHealthy`` and ``HealthCheckStatus`` of every
    check in ``check_ids``, in one ``GetMetricData`` call to CloudWatch in us-east-1
    (500 queries a call: 250 checks; more take one call per 250).

    Minimum over one-minute periods: Route 53 publishes one datapoint a minute, so it is
    that datapoint; where several fall in a minute, a failure is not averaged away.
    """
    ids = list(dict.fromkeys(check_ids))
    queries = [
        MetricQuery(
            f"{metric}:{check_id}",
            HEALTH_NAMESPACE,
            metric,
            (("HealthCheckId", check_id),),
            stat="Minimum",
        )
        for check_id in ids
        for metric in ("HealthCheckPercentageHealthy", "HealthCheckStatus")
    ]
    if not queries:
        return {}
    moment = (now or datetime.now(UTC)) + CLOCK_SKEW
    points = latest_points(cloudwatch, queries, now=moment, window=HEALTH_WINDOW + CLOCK_SKEW)
    out = {}
    for check_id in ids:
        share = points[f"HealthCheckPercentageHealthy:{check_id}"]
        status = points[f"HealthCheckStatus:{check_id}"]
        stamps = [p.timestamp for p in (share, status) if p is not None]
        out[check_id] = HealthMetrics(
            healthy_percent=None if share is None else share.value,
            status=None if status is None else status.value,
            as_of=max(stamps) if stamps else None,
        )
    return out


@dataclass(frozen=True)
class HealthCheckFinding:
    name: str
    id: str
    version: int
    inverted: bool
    disabled: bool
    # HealthCheckPercentageHealthy: % of checkers that see the endpoint healthy (None: no
    # datapoint, a check without checkers, or disabled: Route 53 stops checking).
    healthy_percent: float | None
    # The check's configuration as Route 53 holds it (compared with the file: drift).
    type: str | None = None
    fqdn: str | None = None
    port: int | None = None
    path: str | None = None
    request_interval: int | None = None
    failure_threshold: int | None = None
    routing_control_arn: str | None = None  # type RECOVERY_CONTROL: the ARC control it reads
    # Type CALCULATED: the child checks' ids and how many must be healthy.
    children: tuple[str, ...] = ()
    health_threshold: int | None = None
    # HealthCheckStatus: Route 53's own status (1 healthy, 0 not), a minute behind the flags.
    route53_status: float | None = None
    # When CloudWatch's newest datapoint of the two was published (None: no datapoint).
    health_as_of: datetime | None = None
    # False: the health was not read (configuration only).
    health_read: bool = True

    @property
    def raw_healthy(self) -> bool | None:
        """What the checkers see; None when no datapoint says it (or the check is
        disabled: Route 53 stops checking it)."""
        if self.disabled:
            return None
        if self.healthy_percent is not None:
            return self.healthy_percent / 100 > HEALTHY_CHECKER_SHARE
        if self.route53_status is not None:
            # Checks without checkers (calculated, CloudWatch alarm, routing control):
            # Route 53's status with the inversion taken back out (an assumption:
            # docs/SANDBOX.md, "Assumptions").
            return (self.route53_status >= 1) != self.inverted
        return None

    @property
    def effective_healthy(self) -> bool | None:
        return effective_health(self.raw_healthy, inverted=self.inverted, disabled=self.disabled)

    @property
    def health_words(self) -> str:
        """What the health was read from: ``checkers: 100% report healthy``, ``Route 53
        status 1`` or why it is unknown."""
        if self.disabled:
            return "not checked: disabled"
        if not self.health_read:
            return "health not read"
        if self.healthy_percent is not None:
            return f"checkers: {self.healthy_percent:.0f}% report healthy"
        if self.route53_status is not None:
            return f"Route 53 status {self.route53_status:.0f}"
        return NO_DATAPOINT


def effective_health(raw: bool | None, *, inverted: bool, disabled: bool) -> bool | None:
    """The health DNS routing uses: a disabled check's status is healthy, whatever the
    checkers see; ``Inverted`` then flips the status, disabled or not.

    Source: UpdateHealthCheck, ``Disabled``, Amazon Route 53 API Reference,
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_UpdateHealthCheck.html:
    "After you disable a health check, Route 53 considers the status of the health check
    to always be healthy. [...] If you want to stop routing traffic to a resource, change
    the value of Inverted." So a disabled, inverted check is unhealthy: the documented way
    to take a disabled check's region out.
    """
    # rule: route53-disabled-inverted
    status = True if disabled else raw
    if status is None:
        return None
    return not status if inverted else status


@dataclass(frozen=True)
class RecordFinding:
    name: str
    set_identifier: str
    type: str
    found: bool
    routing_policy: str | None = None
    weight: int | None = None
    failover: str | None = None
    region: str | None = None
    health_check_id: str | None = None
    values: tuple[str, ...] = ()
    ttl: int | None = None
    # Alias records: whether Route 53 routes by the alias target's health.
    evaluate_target_health: bool | None = None


def health_check_names(client: Any, ids: Sequence[str]) -> dict[str, str]:
    """Health check id -> its ``Name`` tag, for the ``ids`` that have one."""
    names: dict[str, str] = {}
    for start in range(0, len(ids), 10):  # ListTagsForResources takes 10 ids at a time
        out = call(
            client,
            "list_tags_for_resources",
            ResourceType="healthcheck",
            ResourceIds=list(ids[start : start + 10]),
        )
        for tag_set in out.get("ResourceTagSets", []):
            for tag in tag_set.get("Tags", []):
                if tag["Key"] == "Name" and tag.get("Value"):
                    names[str(tag_set["ResourceId"])] = str(tag["Value"])
    return names


def find_health_check_id(client: Any, name: str) -> str:
    """The id of the health check whose ``Name`` tag is ``name``."""
    return _Seen(client).id_named(name)


def _list_health_checks(client: Any) -> dict[str, dict[str, Any]]:
    """Every health check of the account (``ListHealthChecks``, all pages): id -> check."""
    out: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {}
    while True:
        page = call(client, "list_health_checks", **request)
        out.update((str(hc["Id"]), hc) for hc in page.get("HealthChecks", []))
        if not page.get("IsTruncated"):
            return out
        request["Marker"] = page["NextMarker"]


class _Seen:
    """The health checks one read has seen, so that it asks Route 53 for each once.

    ``ListHealthChecks`` answers with the same ``HealthCheck`` objects as
    ``GetHealthCheck`` (``HealthCheckConfig``, ``HealthCheckVersion``, ...; Response
    Syntax of ListHealthChecks and of GetHealthCheck, Amazon Route 53 API Reference,
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHealthChecks.html,
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHealthCheck.html,
    data type https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheck.html):
    once a read has listed them to find checks by ``Name`` tag, every configuration it
    needs (declared checks, the calculated check a record carries, its children) comes
    from that listing; ``GetHealthCheck`` only for an id not in it. One read only: a
    change (``UpdateHealthCheck``) reads its check afresh (route53_steps.SetInversion).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.checks: dict[str, dict[str, Any]] = {}
        self._names: dict[str, str] | None = None  # id -> Name tag, once listed
        self._listed = False

    def id_named(self, name: str) -> str:
        """The id of the check whose ``Name`` tag is ``name`` (the listing, once)."""
        if self._names is None:
            listed = _list_health_checks(self.client)
            self.checks.update(listed)
            self._listed = True
            self._names = health_check_names(self.client, list(listed))
        for check_id, tagged in self._names.items():
            if tagged == name:
                return check_id
        raise HealthCheckNotTagged(
            CONTROL_PLANE_REGION,
            "route53:ListTagsForResources",
            f"no health check is tagged Name={name}",
            "tag it, put its id in the topology, or name it in a record's health_check",
        )

    def list_once(self) -> None:
        """Unless listed already: one ``ListHealthChecks`` page of up to 1000 checks (its
        ``MaxItems`` maximum, same reference), instead of a ``GetHealthCheck`` for each
        check the read needs (the declared ones, the calculated check a record carries
        and its children: three in the example's ARC setup). Not paged further: the
        checks past the first 1000 are got one by one, as before."""
        if not self._listed:
            page = call(self.client, "list_health_checks", MaxItems="1000")
            self.checks.update((str(hc["Id"]), hc) for hc in page.get("HealthChecks", []))
            self._listed = True

    def get(self, check_id: str) -> dict[str, Any]:
        """The check ``check_id``: from what was seen, else ``GetHealthCheck``."""
        if check_id not in self.checks:
            self.checks[check_id] = _get_health_check(self.client, check_id)
        return self.checks[check_id]


class HealthCheckNotTagged(AwsCallError):
    """No health check carries the Name tag looked for."""


class ZoneNotFound(AwsCallError):
    """No hosted zone has the name looked for."""


def observe_region_checks(
    client: Any,
    traffic: Traffic,
    *,
    cloudwatch: Any | None = None,
    records: Sequence[RecordFinding] | None = None,
    now: datetime | None = None,
) -> list[HealthCheckFinding]:
    """A region's declared health checks, each found by id, else by its Name tag, else by
    the id carried by the region's records that name it (``records``: already read).

    ``cloudwatch``: a CloudWatch client in us-east-1; their health is read with it, all
    checks in one ``GetMetricData`` call. Without it only their configuration is read.
    """
    seen = _Seen(client)
    ids = {"": _region_check_ids(seen, traffic, records)}
    return _checks(seen, {"": traffic}, ids, cloudwatch, now)[0][""]


def observe_checks_of(
    client: Any,
    traffics: Mapping[str, Traffic],
    *,
    cloudwatch: Any | None = None,
    now: datetime | None = None,
) -> dict[str, list[HealthCheckFinding]]:
    """The declared health checks of every region in ``traffics`` (region -> its
    traffic), their health read in one ``GetMetricData`` call for all of them."""
    seen = _Seen(client)
    ids = {name: _region_check_ids(seen, t, None) for name, t in traffics.items()}
    return _checks(seen, traffics, ids, cloudwatch, now)[0]


def _checks(
    seen: _Seen,
    traffics: Mapping[str, Traffic],
    ids: Mapping[str, Sequence[str]],
    cloudwatch: Any | None,
    now: datetime | None,
    records: Sequence[Record] = (),
    *,
    listing: bool = False,
) -> tuple[dict[str, list[HealthCheckFinding]], tuple[RecordFinding, ...]]:
    """Each check's configuration (from the listing, else ``GetHealthCheck``, one after
    another), then the ``records`` on the same client, and meanwhile all the checks'
    health in one CloudWatch call (another client): the health needs only the ids.
    ``listing``: first list the checks (:meth:`_Seen.list_once`)."""
    unique = list(dict.fromkeys(i for r in ids.values() for i in r))

    def route53() -> tuple[dict[str, dict[str, Any]], tuple[RecordFinding, ...]]:
        if listing and unique:
            seen.list_once()
        configs = {i: seen.get(i) for i in unique}
        return configs, tuple(observe_records(seen.client, records))

    (configs, found), metrics = at_once(
        route53,
        lambda: None if cloudwatch is None else read_health_metrics(cloudwatch, unique, now=now),
    )
    findings = {
        name: [
            _finding(
                spec.name,
                check_id,
                configs[check_id],
                None if metrics is None else metrics[check_id],
            )
            for spec, check_id in zip(t.health_checks, ids[name], strict=True)
        ]
        for name, t in traffics.items()
    }
    return findings, found


def _region_check_ids(
    seen: _Seen, traffic: Traffic, records: Sequence[RecordFinding] | None
) -> list[str]:
    """The ids of ``traffic``'s declared checks (see :func:`observe_region_checks`)."""
    carried: dict[str, str] | None = None
    ids: list[str] = []
    for spec in traffic.health_checks:
        check_id = spec.id
        if check_id is None:
            try:
                check_id = seen.id_named(spec.name)
            except HealthCheckNotTagged:
                if carried is None:
                    found = (
                        records
                        if records is not None
                        else observe_records(seen.client, traffic.records)
                    )
                    carried = _carried_ids(traffic.records, found)
                check_id = carried.get(spec.name)
                if check_id is not None:
                    check_id = _endpoint_check(seen, check_id)
                if check_id is None:
                    raise
        ids.append(check_id)
    return ids


def _endpoint_check(seen: _Seen, check_id: str) -> str | None:
    """The check a record carries, or for a CALCULATED one its one child that is not a
    routing control's (the ARC setup: endpoint check and routing control check under one
    calculated check); None when there is not exactly one such child."""
    config = seen.get(check_id).get("HealthCheckConfig", {})
    if config.get("Type") != "CALCULATED":
        return check_id
    endpoints = [
        str(child)
        for child in config.get("ChildHealthChecks") or ()
        if seen.get(str(child)).get("HealthCheckConfig", {}).get("Type")
        not in ("RECOVERY_CONTROL", "CALCULATED")
    ]
    return endpoints[0] if len(endpoints) == 1 else None


def _carried_ids(specs: Sequence[Record], found: Sequence[RecordFinding]) -> dict[str, str]:
    """Declared health check name -> the id the records naming it carry in Route 53."""
    out: dict[str, str] = {}
    for spec, rec in zip(specs, found, strict=True):
        if spec.health_check and rec.found and rec.health_check_id:
            out.setdefault(spec.health_check, rec.health_check_id)
    return out


def observe_health_check(
    client: Any,
    spec: HealthCheck,
    *,
    check_id: str | None = None,
    cloudwatch: Any | None = None,
) -> HealthCheckFinding:
    """The check's flags and configuration (``GetHealthCheck``) and, with ``cloudwatch``
    (us-east-1), its health (without: configuration only, ``health_read`` False).

    ``check_id``: the id when the caller already knows it (found from a record).
    """
    check_id = spec.id or check_id or find_health_check_id(client, spec.name)
    hc = _get_health_check(client, check_id)
    metrics = None
    if cloudwatch is not None:
        metrics = read_health_metrics(cloudwatch, [check_id])[check_id]
    return _finding(spec.name, check_id, hc, metrics)


def _get_health_check(client: Any, check_id: str) -> dict[str, Any]:
    out: dict[str, Any] = call(client, "get_health_check", HealthCheckId=check_id)["HealthCheck"]
    return out


def _finding(
    name: str, check_id: str, hc: dict[str, Any], metrics: HealthMetrics | None
) -> HealthCheckFinding:
    config = hc.get("HealthCheckConfig", {})
    read = metrics is not None
    metrics = metrics or HealthMetrics()
    interval = config.get("RequestInterval")
    threshold = config.get("FailureThreshold")
    port = config.get("Port")
    needed = config.get("HealthThreshold")
    return HealthCheckFinding(
        name=name,
        id=check_id,
        version=int(hc.get("HealthCheckVersion", 0)),
        inverted=bool(config.get("Inverted", False)),
        disabled=bool(config.get("Disabled", False)),
        healthy_percent=metrics.healthy_percent,
        type=config.get("Type"),
        fqdn=config.get("FullyQualifiedDomainName"),
        port=int(port) if port is not None else None,
        path=config.get("ResourcePath"),
        request_interval=int(interval) if interval is not None else None,
        failure_threshold=int(threshold) if threshold is not None else None,
        routing_control_arn=config.get("RoutingControlArn"),
        children=tuple(str(c) for c in config.get("ChildHealthChecks") or ()),
        health_threshold=int(needed) if needed is not None else None,
        route53_status=metrics.status,
        health_as_of=metrics.as_of,
        health_read=read,
    )


def find_zone_id(client: Any, zone: str, *, private: bool = False) -> str:
    """The id (without ``/hostedzone/``) of the public (or, ``private``, private) zone
    named ``zone``.

    A public and a private hosted zone may share a name (split-view DNS: "Considerations
    when working with a private hosted zone", Amazon Route 53 Developer Guide,
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zone-private-considerations.html),
    and ``ListHostedZonesByName`` returns both, each with ``Config.PrivateZone``. The
    record's ``private_zone`` says which one it lives in; a zone of the other kind is never
    taken, and two zones of the asked kind (private zones of other VPCs) are refused, not
    guessed between.
    """
    # rule: route53-zone-visibility
    wanted = zone if zone.endswith(".") else zone + "."
    kind = "private" if private else "public"
    same: list[dict[str, Any]] = []
    request: dict[str, Any] = {"DNSName": wanted}
    while True:
        out = call(client, "list_hosted_zones_by_name", **request)
        zones = out.get("HostedZones", [])
        same += [hz for hz in zones if hz["Name"].lower() == wanted.lower()]
        past = any(hz["Name"].lower() != wanted.lower() for hz in zones)
        if past or not out.get("IsTruncated"):
            break
        request = {"DNSName": out["NextDNSName"], "HostedZoneId": out["NextHostedZoneId"]}
    fitting = [hz for hz in same if bool(hz.get("Config", {}).get("PrivateZone")) == private]
    ids = [str(hz["Id"]).removeprefix("/hostedzone/") for hz in fitting]
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise ZoneNotFound(
            CONTROL_PLANE_REGION,
            "route53:ListHostedZonesByName",
            f"{len(ids)} {kind} hosted zones are named {wanted} ({', '.join(ids)})",
            "set hosted_zone_id on the record to the one that holds it",
        )
    other = "public" if private else "private"
    hint = (
        f"only a {other} one exists: set private_zone: {str(not private).lower()} on the "
        "record, or hosted_zone_id"
        if same
        else "check traffic.records[].zone or set hosted_zone_id"
    )
    raise ZoneNotFound(
        CONTROL_PLANE_REGION,
        "route53:ListHostedZonesByName",
        f"no {kind} hosted zone named {wanted}",
        hint,
    )


def _same_name(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def observe_records(client: Any, specs: Sequence[Record]) -> list[RecordFinding]:
    """The records named in ``specs``, matched by name, type and set identifier."""
    zone_ids: dict[tuple[str, bool], str] = {}
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for spec in specs:
        key = (spec.zone, spec.private_zone)
        zone_id = spec.hosted_zone_id or zone_ids.get(key)
        if zone_id is None:
            zone_id = zone_ids[key] = find_zone_id(client, spec.zone, private=spec.private_zone)
        request: dict[str, Any] = {
            "HostedZoneId": zone_id,
            "StartRecordName": spec.name,
            "StartRecordType": spec.type,
        }
        while True:
            page = call(client, "list_resource_record_sets", **request)
            sets = page.get("ResourceRecordSets", [])
            for rrs in sets:
                if _same_name(rrs["Name"], spec.name) and rrs["Type"] == spec.type:
                    found[(spec.name, spec.type, rrs.get("SetIdentifier", ""))] = rrs
            past = any(not _same_name(r["Name"], spec.name) for r in sets)
            if past or not page.get("IsTruncated"):
                break
            request["StartRecordName"] = page["NextRecordName"]
            request["StartRecordType"] = page["NextRecordType"]
            if "NextRecordIdentifier" in page:
                request["StartRecordIdentifier"] = page["NextRecordIdentifier"]
    return [
        _record_finding(spec, found.get((spec.name, spec.type, spec.set_identifier)))
        for spec in specs
    ]


def _record_finding(spec: Record, rrs: dict[str, Any] | None) -> RecordFinding:
    if rrs is None:
        return RecordFinding(spec.name, spec.set_identifier, spec.type, found=False)
    if "Failover" in rrs:
        policy = "failover"
    elif "Weight" in rrs:
        policy = "weighted"
    elif "Region" in rrs:
        policy = "latency"
    else:
        policy = "simple"
    values = tuple(r["Value"] for r in rrs.get("ResourceRecords", []))
    if "AliasTarget" in rrs:
        values = (rrs["AliasTarget"]["DNSName"],)
    return RecordFinding(
        name=spec.name,
        set_identifier=spec.set_identifier,
        type=spec.type,
        found=True,
        routing_policy=policy,
        weight=rrs.get("Weight"),
        failover=rrs.get("Failover"),
        region=rrs.get("Region"),
        health_check_id=rrs.get("HealthCheckId"),
        values=values,
        ttl=rrs.get("TTL"),
        evaluate_target_health=rrs["AliasTarget"].get("EvaluateTargetHealth")
        if "AliasTarget" in rrs
        else None,
    )


# --- the status section: how traffic reaches the region ---------------------------------


@dataclass(frozen=True)
class Attachment:
    """What one record that routes to the region carries, and whether the lever moves it."""

    record: str  # "api.example.com. (use1)"
    carries: str  # "health check api-us-east-1", "routing control <arn>", "nothing", ...
    lever_moves_it: bool | None  # None: the lever is not a record's (traffic dial)


@dataclass(frozen=True)
class TrafficStatus:
    health_checks: tuple[HealthCheckFinding, ...]
    records: tuple[RecordFinding, ...]
    routing_controls: tuple[RoutingControlFinding, ...] = ()
    # Checks the records carry that the file does not declare (routing-control checks).
    carried_checks: tuple[HealthCheckFinding, ...] = ()
    # Filled in by the judgement: which lever really routes each record.
    attachment: tuple[Attachment, ...] = ()


class TrafficSection(Section):
    """Health checks and records (Route 53's API, us-east-1) and the region's ARC routing
    controls (the ARC cluster's data plane), judged together: either can drain it."""

    name = "traffic"
    # Checks found by Name tag: ListHealthChecks, ListTagsForResources, then the zone and
    # its records while CloudWatch reads the health; the carried checks' configurations
    # come from the listing (checks declared by id: ListHealthChecks, then the records).
    rounds = 4
    title = "Traffic"

    def reads(self, ctx: ReadContext) -> list[Read]:
        t = ctx.spec.traffic
        out = []
        if t.health_checks or t.records:
            out.append(Read("traffic", lambda: observe_traffic(ctx), CONTROL_PLANE_REGION))
        if t.routing_controls:
            from mr_failover.resources import arc

            read = lambda: arc.region_controls(ctx.topology, ctx.factory, ctx.region)  # noqa: E731
            out.append(Read("routing_controls", read, "ARC endpoints"))
        return out

    def read_error(self, key: str, exc: Exception, unreachable: bool) -> tuple[ErrorKind, str]:
        if key == "routing_controls":
            # The cluster's data plane (five endpoints), not this region's: its failure
            # says nothing about whether the region could take over.
            return "warning", f"traffic: routing control states unknown: {exc}"
        if unreachable:
            # Route 53's API is a control plane in us-east-1; DNS answers and health
            # checkers are a data plane that keeps working without it.
            return "warning", f"traffic: Route 53 API not answering, traffic state unknown: {exc}"
        return super().read_error(key, exc, unreachable)

    def judge(self, view: RegionView) -> Judgement:
        reasons: list[str] = []
        warnings: list[str] = []
        traffic = view.get("traffic")
        read = view.get("routing_controls")
        drained = False
        if isinstance(traffic, TrafficStatus):
            drained = _judge_traffic(traffic, reasons, warnings)
        arns = view.spec.traffic.routing_controls
        if arns and (isinstance(traffic, TrafficStatus) or isinstance(read, tuple)):
            rcs = _routing_controls(view.region, arns, read)
            base = traffic if isinstance(traffic, TrafficStatus) else TrafficStatus((), ())
            traffic = replace(base, routing_controls=rcs)
            drained = _judge_routing_controls(rcs, read, reasons, warnings) or drained
        drift: list[Drift] = []
        if isinstance(traffic, TrafficStatus):
            traffic = replace(traffic, attachment=attachments(view.spec, traffic))
            warnings += [f"traffic: {p}" for p in lever_problems(view.spec, traffic)]
            drift = traffic_drift(view.spec, traffic)
        value = traffic if isinstance(traffic, TrafficStatus) else None
        return Judgement(reasons, warnings, drained, value, drift=drift)

    def value_cell(self, t: TrafficStatus, r: RegionStatus) -> Cell:
        # Routing controls come from the ARC data plane: Route 53's API may still have failed.
        parts = [e] if (e := r.error("traffic")) else []
        for hc in t.health_checks:
            if hc.disabled:
                parts.append("disabled" + (" (inverted)" if hc.inverted else ""))
            elif hc.raw_healthy is None:
                parts.append("unknown")
            elif not hc.raw_healthy:
                parts.append("failing" + (" (inverted)" if hc.inverted else ""))
            else:
                parts.append("inverted" if hc.inverted else "ok")
        for rec in t.records:
            if not rec.found:
                parts.append("record missing")
            elif rec.routing_policy == "weighted":
                parts.append(f"weight {rec.weight}")
            elif rec.routing_policy == "failover":
                parts.append(str(rec.failover))
            else:
                parts.append(str(rec.routing_policy))
        if t.routing_controls:  # names are in the JSON; the cell only needs the states
            words = sorted({rc.state_word for rc in t.routing_controls})
            parts.append(f"ARC {'/'.join(words)}")
        return Cell(", ".join(parts) or "-")

    def to_json(self, value: Any) -> Any:
        if not isinstance(value, TrafficStatus):
            return None
        return {
            "health_checks": [_check_json(hc) for hc in value.health_checks],
            "records": [asdict(rec) for rec in value.records],
            "routing_controls": [
                {**asdict(rc), "state": rc.state_word} for rc in value.routing_controls
            ],
            "carried_checks": [_check_json(hc) for hc in value.carried_checks],
            "attachment": [asdict(a) for a in value.attachment],
        }


def _check_json(hc: HealthCheckFinding) -> dict[str, Any]:
    as_of = hc.health_as_of
    return {
        **asdict(hc),
        "health_as_of": None if as_of is None else as_of.isoformat(),
        "health": hc.health_words,
        "raw_healthy": hc.raw_healthy,
        "effective_healthy": hc.effective_healthy,
    }


def observe_traffic(ctx: ReadContext) -> TrafficStatus:
    return read_traffic(
        ctx.factory.client("route53", CONTROL_PLANE_REGION),
        ctx.spec.traffic,
        cloudwatch=ctx.factory.client("cloudwatch", METRICS_REGION),
        now=ctx.now,
    )


def read_traffic(
    client: Any, spec: Traffic, *, cloudwatch: Any | None = None, now: datetime | None = None
) -> TrafficStatus:
    """The declared checks (their health when ``cloudwatch`` is given), the records, then
    the undeclared checks the records carry.

    Route 53 calls one after another (Stubber tests expect them in order): the checks'
    ids (the listing and its tags when a check is found by name), a listing when none
    was made (checks declared by id), the records, and the configurations the listing
    did not give (``_Seen``); the health (CloudWatch) is read meanwhile. The example's
    ARC setup so takes two round trips (ListHealthChecks, ListResourceRecordSets)
    instead of four (GetHealthCheck, ListResourceRecordSets, GetHealthCheck of the
    calculated check, then of its routing control's check)."""
    seen = _Seen(client)
    ids = {"": _region_check_ids(seen, spec, None)}
    found, records = _checks(seen, {"": spec}, ids, cloudwatch, now, spec.records, listing=True)
    checks = tuple(found[""])
    return TrafficStatus(checks, records, carried_checks=_carried_checks(seen, checks, records))


def _carried_checks(
    seen: _Seen, checks: Sequence[HealthCheckFinding], records: Sequence[RecordFinding]
) -> tuple[HealthCheckFinding, ...]:
    """The checks the records carry that are not the declared ones (routing-control and
    calculated checks), and the children of a calculated one that are not declared.

    ``seen``: the read's checks so far: their configurations come from its listing when
    it made one, else from ``GetHealthCheck``."""
    known = {c.id for c in checks}
    other = sorted({r.health_check_id for r in records if r.health_check_id} - known)
    carried = [_finding(i, i, seen.get(i), None) for i in other]
    done = known | set(other)
    for parent in list(carried):
        for child in parent.children:
            if child not in done:
                done.add(child)
                carried.append(_finding(child, child, seen.get(child), None))
    return tuple(carried)


def require_lever_moves_traffic(
    client: Any,
    region: str,
    spec: Region,
    checks: Sequence[HealthCheckFinding],
    *,
    lever: str | None = None,
) -> None:
    """Refuse (nothing changed) when flipping the lever would leave a record's traffic.

    ``checks``: the region's checks as the plan just read them; the records are read here.
    ``lever``: the lever about to be flipped (default: the region's drain lever).
    """
    try:
        records = tuple(observe_records(client, spec.traffic.records))
    except ZoneNotFound:
        return  # no record to move at all: status reports the missing zone as a reason
    # The carried checks read afresh (GetHealthCheck each), as they are just before the change.
    t = TrafficStatus(
        tuple(checks),
        records,
        carried_checks=_carried_checks(_Seen(client), checks, records),
    )
    problems = lever_problems(spec, t, lever=lever)
    if problems:
        raise RefusedError(
            f"refused: {region}'s traffic would not move: " + "; ".join(problems) + ". "
            "Attach the check to the record (its HealthCheckId) or fix the topology, "
            "then run again; nothing was changed"
        )


def attachments(
    region: Region, t: TrafficStatus, *, lever: str | None = None
) -> tuple[Attachment, ...]:
    """For each record found: the check it carries, and whether the drain lever moves it.

    Route 53 moves a record's traffic only through what the record itself carries: its
    ``HealthCheckId`` (a check Route 53 evaluates, inverted or not; an ARC routing control
    is read through a RECOVERY_CONTROL check), its weight, or an alias target's health
    (``EvaluateTargetHealth``). Source: ResourceRecordSet, HealthCheckId and
    EvaluateTargetHealth, Amazon Route 53 API Reference,
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html

    A CALCULATED check is healthy while at least ``HealthThreshold`` of its children are
    ("How Amazon Route 53 determines whether a health check is healthy",
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html;
    HealthThreshold, UpdateHealthCheck,
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_UpdateHealthCheck.html), so
    a lever moves a record carrying one when the children it turns unhealthy (the
    region's own checks inverted, its routing controls' checks Off) leave fewer healthy
    than the threshold: an ARC setup where the record's check is the endpoint check and
    the routing control's check together.
    """
    lever = lever or region.traffic.drain_lever
    own = {c.id: c for c in t.health_checks}
    carried = {c.id: c for c in t.carried_checks}
    controls = set(region.traffic.routing_controls)
    out = []
    for rec in t.records:
        if not rec.found:
            continue
        label = f"{rec.name} ({rec.set_identifier})"
        check = own.get(rec.health_check_id or "") or carried.get(rec.health_check_id or "")
        parts = _calculated_parts(check, own, carried)
        if rec.health_check_id is None:
            carries = "alias target health" if rec.evaluate_target_health else "no health check"
        elif rec.health_check_id in own:
            carries = f"health check {own[rec.health_check_id].name}"
        elif check is not None and check.routing_control_arn:
            carries = f"routing control {check.routing_control_arn}"
        elif check is not None and parts is not None:
            carries = (
                f"calculated health check {check.id} ({check.health_threshold} of "
                f"{len(check.children)} healthy: {', '.join(parts)})"
            )
        else:
            carries = f"health check {rec.health_check_id}, not one of this region's"
        moves: bool | None
        if lever == "health_check_inversion":
            moves = rec.health_check_id in own or _drops_below_threshold(
                check, lambda c: c.id in own, carried
            )
        elif lever == "routing_control":
            moves = (check is not None and check.routing_control_arn in controls) or (
                _drops_below_threshold(check, lambda c: c.routing_control_arn in controls, carried)
            )
        elif lever == "weight":
            moves = rec.routing_policy == "weighted"
        else:
            moves = None
        out.append(Attachment(label, carries, moves))
    return tuple(out)


def _calculated_parts(
    check: HealthCheckFinding | None,
    own: Mapping[str, HealthCheckFinding],
    carried: Mapping[str, HealthCheckFinding],
) -> list[str] | None:
    """What a CALCULATED check's children are, in words; None for another check."""
    if check is None or check.type != "CALCULATED":
        return None
    out = []
    for child in check.children:
        c = own.get(child) or carried.get(child)
        if child in own:
            out.append(f"health check {own[child].name}")
        elif c is not None and c.routing_control_arn:
            out.append(f"routing control {c.routing_control_arn}")
        else:
            out.append(f"health check {child}")
    return out


def _drops_below_threshold(
    check: HealthCheckFinding | None,
    turned: Callable[[HealthCheckFinding], bool],
    carried: Mapping[str, HealthCheckFinding],
) -> bool:
    """A CALCULATED ``check`` goes unhealthy when the children ``turned`` picks do."""
    if check is None or check.type != "CALCULATED" or check.health_threshold is None:
        return False
    children = [
        carried.get(c) or HealthCheckFinding(c, c, 0, False, False, None) for c in check.children
    ]
    staying = sum(1 for c in children if not turned(c))
    return any(turned(c) for c in children) and staying < check.health_threshold


def lever_problems(region: Region, t: TrafficStatus, *, lever: str | None = None) -> list[str]:
    """Why flipping the region's drain lever would leave some record's traffic in place."""
    lever = lever or region.traffic.drain_lever
    words = lever.replace("_", " ")
    return [
        f"record {a.record} carries {a.carries}: the {words} lever does not move its traffic"
        for a in attachments(region, t, lever=lever)
        if a.lever_moves_it is False
    ]


def _same_value(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def traffic_drift(region: Region, t: TrafficStatus) -> list[Drift]:
    """Declared record and health check facts that Route 53 reports otherwise."""
    out: list[Drift] = []
    for spec, rec in zip(region.traffic.records, t.records, strict=False):
        if not rec.found:
            continue
        where = f"record {rec.name} ({rec.set_identifier})"
        if rec.routing_policy != spec.routing_policy:
            out.append(Drift(where, "routing policy", spec.routing_policy, str(rec.routing_policy)))
        elif spec.failover is not None and rec.failover != spec.failover:
            out.append(Drift(where, "failover", spec.failover, str(rec.failover)))
        if rec.ttl is not None and rec.ttl != spec.ttl:
            out.append(Drift(where, "ttl", str(spec.ttl), str(rec.ttl)))
        if rec.values and not any(_same_value(v, spec.value) for v in rec.values):
            out.append(Drift(where, "value", spec.value, ", ".join(rec.values)))
    for hc_spec, hc in zip(region.traffic.health_checks, t.health_checks, strict=False):
        where = f"health check {hc.name}"
        pairs: list[tuple[str, object, object]] = [
            ("type", hc_spec.type, hc.type),
            ("port", hc_spec.port, hc.port),
            ("request interval", hc_spec.request_interval, hc.request_interval),
            ("failure threshold", hc_spec.failure_threshold, hc.failure_threshold),
        ]
        if hc_spec.fqdn is not None:
            pairs.append(("host", hc_spec.fqdn, hc.fqdn))
        if hc_spec.type != "TCP":
            pairs.append(("path", hc_spec.path, hc.path))
        for field_name, declared, observed in pairs:
            if observed is not None and declared != observed:
                out.append(Drift(where, field_name, str(declared), str(observed)))
    return out


def _judge_traffic(t: TrafficStatus, reasons: list[str], warnings: list[str]) -> bool:
    """Adds the traffic findings; returns whether the region is drained."""
    for hc in t.health_checks:
        raw = hc.raw_healthy
        if hc.disabled:
            # Route 53 stops checking a disabled check: its status is healthy, inverted
            # unhealthy, whatever the endpoint does (rule route53-disabled-inverted).
            if hc.inverted:
                warnings.append(
                    f"traffic: health check {hc.name} is disabled and inverted: Route 53 "
                    "treats it as unhealthy whatever the endpoint does"
                )
            else:
                warnings.append(
                    f"traffic: health check {hc.name} is disabled: Route 53 treats it as "
                    "healthy whatever the endpoint does"
                )
        elif raw is False:
            reasons.append(
                f"traffic: health check {hc.name}: the endpoint is failing ({hc.health_words})"
            )
        elif raw is None:
            warnings.append(f"traffic: health check {hc.name}: health unknown: {hc.health_words}")
    for rec in t.records:
        if not rec.found:
            reasons.append(f"traffic: record {rec.name} ({rec.set_identifier}) not found")
    checks_off = bool(t.health_checks) and all(
        hc.effective_healthy is False and hc.raw_healthy is not False for hc in t.health_checks
    )
    weighted = [r for r in t.records if r.found and r.routing_policy == "weighted"]
    weights_off = bool(weighted) and all(r.weight == 0 for r in weighted)
    return checks_off or weights_off


def _routing_controls(
    region: str, arns: Sequence[str], found: object
) -> tuple[RoutingControlFinding, ...]:
    """What the data plane said, or every control of the region in state unknown."""
    if isinstance(found, tuple):
        return found
    from mr_failover.resources.arc import RoutingControlFinding

    return tuple(RoutingControlFinding(arn, "", region, None) for arn in arns)


def _judge_routing_controls(
    rcs: Sequence[RoutingControlFinding],
    found: object,
    reasons: list[str],
    warnings: list[str],
) -> bool:
    """Adds the routing controls' findings; any control OFF drains the region."""
    off = [rc for rc in rcs if rc.state == "Off"]
    for rc in off:
        warnings.append(
            f"traffic: routing control {rc.label} is OFF: drained (mr-failover undrain)"
        )
    if isinstance(found, tuple):  # read, yet not on the cluster: ARC cannot switch it
        for rc in rcs:
            if rc.state is None:
                reasons.append(f"traffic: routing control {rc.arn} not found on the ARC cluster")
    return bool(off)


SECTION = TrafficSection()
