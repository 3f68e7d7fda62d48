"""Route 53 as status sees it: health checks (raw and effective health) and records.

Route 53 is a global service whose API (the control plane) is served from us-east-1;
the clients passed here are for that region. The raw status is what the checkers see;
the effective status is what DNS routing uses once ``Disabled`` and ``Inverted`` are
applied (see :func:`effective_health`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mr_failover.aws import call
from mr_failover.errors import AwsCallError
from mr_failover.topology import HealthCheck, Record

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
