"""Route 53 as status sees it: health checks (raw and effective health) and records.

Route 53 is a global service whose API (the control plane) is served from us-east-1;
the clients passed here are for that region. The raw status is what the checkers see;
the effective status is what DNS routing uses once ``Disabled`` and ``Inverted`` are
applied (see :func:`effective_health`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call
from mr_failover.errors import AwsCallError
from mr_failover.resources.section import (
    Cell,
    ErrorKind,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
)
from mr_failover.topology import HealthCheck, Record

if TYPE_CHECKING:
    from mr_failover.resources.arc import RoutingControlFinding

CONTROL_PLANE_REGION = "us-east-1"
# Route 53 counts an endpoint healthy when more than 18% of its checkers see it healthy.
HEALTHY_CHECKER_SHARE = 0.18


@dataclass(frozen=True)
class HealthCheckFinding:
    name: str
    id: str
    version: int
    inverted: bool
    disabled: bool
    checkers_ok: int
    checkers_total: int

    @property
    def raw_healthy(self) -> bool | None:
        """What the checkers see; None when no checker has reported yet."""
        if self.checkers_total == 0:
            return None
        return self.checkers_ok / self.checkers_total > HEALTHY_CHECKER_SHARE

    @property
    def effective_healthy(self) -> bool | None:
        return effective_health(self.raw_healthy, inverted=self.inverted, disabled=self.disabled)


def effective_health(raw: bool | None, *, inverted: bool, disabled: bool) -> bool | None:
    """The health DNS routing uses: Disabled counts as healthy, Inverted flips the rest."""
    if disabled:
        return True
    if raw is None:
        return None
    return not raw if inverted else raw


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


def find_health_check_id(client: Any, name: str) -> str:
    """The id of the health check whose ``Name`` tag is ``name``."""
    ids: list[str] = []
    request: dict[str, Any] = {}
    while True:
        page = call(client, "list_health_checks", **request)
        ids.extend(hc["Id"] for hc in page.get("HealthChecks", []))
        if not page.get("IsTruncated"):
            break
        request["Marker"] = page["NextMarker"]
    for start in range(0, len(ids), 10):  # ListTagsForResources takes 10 ids at a time
        out = call(
            client,
            "list_tags_for_resources",
            ResourceType="healthcheck",
            ResourceIds=ids[start : start + 10],
        )
        for tag_set in out.get("ResourceTagSets", []):
            tags = {t["Key"]: t.get("Value") for t in tag_set.get("Tags", [])}
            if tags.get("Name") == name:
                return str(tag_set["ResourceId"])
    raise AwsCallError(
        CONTROL_PLANE_REGION,
        "route53:ListTagsForResources",
        f"no health check is tagged Name={name}",
        "tag it, or put its id in the topology",
    )


def observe_health_check(client: Any, spec: HealthCheck) -> HealthCheckFinding:
    check_id = spec.id or find_health_check_id(client, spec.name)
    hc = call(client, "get_health_check", HealthCheckId=check_id)["HealthCheck"]
    config = hc.get("HealthCheckConfig", {})
    status = call(client, "get_health_check_status", HealthCheckId=check_id)
    observations = status.get("HealthCheckObservations", [])
    ok = sum(
        1
        for o in observations
        if str(o.get("StatusReport", {}).get("Status", "")).startswith("Success")
    )
    return HealthCheckFinding(
        name=spec.name,
        id=check_id,
        version=int(hc.get("HealthCheckVersion", 0)),
        inverted=bool(config.get("Inverted", False)),
        disabled=bool(config.get("Disabled", False)),
        checkers_ok=ok,
        checkers_total=len(observations),
    )


def find_zone_id(client: Any, zone: str) -> str:
    """The id (without ``/hostedzone/``) of the public or private zone named ``zone``."""
    wanted = zone if zone.endswith(".") else zone + "."
    out = call(client, "list_hosted_zones_by_name", DNSName=wanted)
    for hz in out.get("HostedZones", []):
        if hz["Name"].lower() == wanted.lower():
            return str(hz["Id"]).removeprefix("/hostedzone/")
    raise AwsCallError(
        CONTROL_PLANE_REGION,
        "route53:ListHostedZonesByName",
        f"no hosted zone named {wanted}",
        "check traffic.records[].zone or set hosted_zone_id",
    )


def _same_name(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def observe_records(client: Any, specs: Sequence[Record]) -> list[RecordFinding]:
    """The records named in ``specs``, matched by name, type and set identifier."""
    zone_ids: dict[str, str] = {}
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for spec in specs:
        zone_id = spec.hosted_zone_id or zone_ids.get(spec.zone)
        if zone_id is None:
            zone_id = zone_ids[spec.zone] = find_zone_id(client, spec.zone)
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
    )


# --- the status section: how traffic reaches the region ---------------------------------


@dataclass(frozen=True)
class TrafficStatus:
    health_checks: tuple[HealthCheckFinding, ...]
    records: tuple[RecordFinding, ...]
    routing_controls: tuple[RoutingControlFinding, ...] = ()


class TrafficSection(Section):
    """Health checks and records (Route 53's API, us-east-1) and the region's ARC routing
    controls (the ARC cluster's data plane), judged together: either can drain it."""

    name = "traffic"
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
        value = traffic if isinstance(traffic, TrafficStatus) else None
        return Judgement(reasons, warnings, drained, value)

    def value_cell(self, t: TrafficStatus, r: RegionStatus) -> Cell:
        # Routing controls come from the ARC data plane: Route 53's API may still have failed.
        parts = [e] if (e := r.error("traffic")) else []
        for hc in t.health_checks:
            if hc.disabled:
                parts.append("disabled")
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
            "health_checks": [
                {
                    **asdict(hc),
                    "raw_healthy": hc.raw_healthy,
                    "effective_healthy": hc.effective_healthy,
                }
                for hc in value.health_checks
            ],
            "records": [asdict(rec) for rec in value.records],
            "routing_controls": [
                {**asdict(rc), "state": rc.state_word} for rc in value.routing_controls
            ],
        }


def observe_traffic(ctx: ReadContext) -> TrafficStatus:
    client = ctx.factory.client("route53", CONTROL_PLANE_REGION)
    spec = ctx.spec.traffic
    checks = tuple(observe_health_check(client, hc) for hc in spec.health_checks)
    return TrafficStatus(health_checks=checks, records=tuple(observe_records(client, spec.records)))


def _judge_traffic(t: TrafficStatus, reasons: list[str], warnings: list[str]) -> bool:
    """Adds the traffic findings; returns whether the region is drained."""
    for hc in t.health_checks:
        raw = hc.raw_healthy
        if raw is False:
            reasons.append(
                f"traffic: health check {hc.name}: checkers see the endpoint failing "
                f"({hc.checkers_ok}/{hc.checkers_total} healthy)"
            )
        elif raw is None:
            warnings.append(f"traffic: health check {hc.name}: no checker observation yet")
        if hc.disabled:
            warnings.append(
                f"traffic: health check {hc.name} is disabled: Route 53 treats it as healthy "
                "whatever the endpoint does"
            )
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
