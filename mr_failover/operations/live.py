"""``validate --live``: does the account still hold what the topology file says?

One status observation (:func:`mr_failover.status.observe`, concurrent, with its deadline)
and, from it, only the differences between the file and AWS, not the health of the
regions: status's drift (records' and health checks' configuration), what the file names
but AWS does not have (a read that failed with an error other than "no answer", a record,
service, function or API domain not found), and the roles the file designs against the
roles AWS reports (the Aurora writer, the ElastiCache primary, a DynamoDB replica or an
S3 replication rule missing). A region whose reads got no answer is *not compared*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mr_failover.aws import ClientSource
from mr_failover.errors import EXIT_DRIFT, EXIT_FAILED, EXIT_OK
from mr_failover.resources.aurora import AuroraStatus
from mr_failover.resources.compute import ComputeStatus
from mr_failover.resources.dynamodb import DynamoDbStatus
from mr_failover.resources.elasticache import ElastiCacheStatus
from mr_failover.resources.route53 import TrafficStatus
from mr_failover.resources.s3 import S3Status
from mr_failover.resources.section import RegionStatus
from mr_failover.status import DEFAULT_DEADLINE, observe
from mr_failover.topology import Region, Topology


@dataclass(frozen=True)
class Difference:
    region: str
    kind: str  # drift | missing | role | replication
    text: str

    def __str__(self) -> str:
        return f"{self.region}: {self.text}"


@dataclass(frozen=True)
class LiveReport:
    differences: tuple[Difference, ...]
    not_compared: tuple[str, ...]  # "us-west-2: aurora: no answer within 8 s"

    @property
    def exit_code(self) -> int:
        if self.differences:
            return EXIT_DRIFT
        return EXIT_FAILED if self.not_compared else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "differences": [
                {"region": d.region, "kind": d.kind, "text": d.text} for d in self.differences
            ],
            "not_compared": list(self.not_compared),
            "exit_code": self.exit_code,
        }


def compare(
    topology: Topology, factory: ClientSource, *, deadline: float = DEFAULT_DEADLINE
) -> LiveReport:
    report = observe(topology, factory, deadline=deadline)
    out: list[Difference] = []
    skipped: list[str] = []
    for r in report.regions:
        spec = topology.regions[r.name]
        for e in r.errors:
            if e.unreachable:
                skipped.append(f"{r.name}: {e.section}: {e.message}")
            else:
                out.append(Difference(r.name, "missing", f"{e.section}: {e.message}"))
        out += [Difference(r.name, "drift", str(d)) for d in r.drift]
        out += region_differences(r, spec, topology)
    return LiveReport(tuple(out), tuple(skipped))


def region_differences(r: RegionStatus, spec: Region, topology: Topology) -> list[Difference]:
    """What one region's observed sections say against the file (no AWS call)."""
    out: list[Difference] = []

    def add(kind: str, text: str) -> None:
        out.append(Difference(r.name, kind, text))

    traffic = r.sections.get("traffic")
    if isinstance(traffic, TrafficStatus):
        for rec in traffic.records:
            if not rec.found:
                add("missing", f"record {rec.name} ({rec.set_identifier}) not in Route 53")
    compute = r.sections.get("compute")
    if isinstance(compute, ComputeStatus):
        for svc in compute.services:
            if not svc.found:
                add("missing", f"{svc.kind} {svc.name} not found")
        for fn in compute.functions:
            if not fn.found:
                add("missing", f"lambda {fn.name} not found")
    api = r.sections.get("api")
    for endpoint in getattr(api, "endpoints", ()):
        if not endpoint.endpoint.found:
            add("missing", f"API domain {endpoint.endpoint.domain} not found")
    db = r.sections.get("aurora")
    if isinstance(db, AuroraStatus) and spec.aurora is not None:
        declared = spec.aurora.role == "writer"
        if r.is_writer is not None and r.is_writer != declared:
            add(
                "role",
                f"aurora {spec.aurora.cluster}: the file says {spec.aurora.role}, AWS says "
                f"{'writer' if r.is_writer else 'secondary'}",
            )
    cache = r.sections.get("elasticache")
    if isinstance(cache, ElastiCacheStatus) and spec.elasticache is not None:
        member = cache.member
        if member is None:
            add(
                "missing",
                f"elasticache {spec.elasticache.replication_group} is not a member of "
                f"{cache.datastore.id}",
            )
        elif (member.role == "PRIMARY") != (spec.elasticache.role == "primary"):
            add(
                "role",
                f"elasticache {spec.elasticache.replication_group}: the file says "
                f"{spec.elasticache.role}, AWS says {member.role.lower()}",
            )
    tables = r.sections.get("dynamodb")
    if isinstance(tables, DynamoDbStatus):
        for t in tables.tables:
            holders = {
                n for n, other in topology.regions.items() if t.name in other.dynamodb_tables
            }
            observed = {rep.region for rep in t.replicas} | {t.region}
            for missing in sorted(holders - observed):
                add("replication", f"table {t.name} has no replica in {missing}")
    buckets = r.sections.get("s3")
    if isinstance(buckets, S3Status):
        found = {b.name: b for b in buckets.buckets}
        for b in spec.s3_buckets:
            finding = found.get(b.name)
            if finding is None:
                continue
            for target in b.replicate_to:
                rule = finding.rule_to(target.bucket)
                if rule is None:
                    add("replication", f"bucket {b.name} has no rule to {target.bucket}")
                elif not rule.enabled:
                    add("replication", f"bucket {b.name}: the rule to {target.bucket} is disabled")
                elif b.rtc and not rule.rtc:
                    add("replication", f"bucket {b.name}: no RTC on the rule to {target.bucket}")
    return out
