"""How results look: rich tables for people, JSON for machines.

The core returns frozen dataclasses and never prints; this module turns them into rich
renderables (the command decides where they go). Cells are short on purpose: the table
answers "could each region take over?", and the reasons are listed under it in full.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from mr_failover.status import (
        AuroraStatus,
        ComputeStatus,
        DynamoDbStatus,
        RegionStatus,
        S3Status,
        StatusReport,
        TrafficStatus,
    )

VERDICT_STYLE = {
    "serving": "green",
    "drained": "cyan",
    "degraded": "yellow",
    "unreachable": "bold red",
}


def to_json(data: Any, indent: int | None = 2) -> str:
    """Stable JSON text: sorted keys, so diffs between runs show only real changes."""
    return json.dumps(data, indent=indent, sort_keys=True, default=str)


def status_table(report: StatusReport) -> RenderableType:
    """The status screen: one row per region, then the reasons and warnings."""
    table = Table(
        title=f"{report.application}: could each region take over?",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for header in ("Region", "Verdict", "Takeover", "Traffic", "Aurora", "DynamoDB", "S3"):
        table.add_column(header, no_wrap=header in ("Region", "Verdict", "Takeover"))
    table.add_column("Compute")
    for r in report.regions:
        table.add_row(
            r.name,
            Text(r.verdict.upper(), style=VERDICT_STYLE[r.verdict]),
            Text("yes", style="green") if r.can_take_over else Text("no", style="red"),
            traffic_cell(r),
            aurora_cell(r),
            dynamodb_cell(r),
            s3_cell(r),
            compute_cell(r),
        )
    lines: list[RenderableType] = [table]
    for r in report.regions:
        for reason in r.reasons:
            lines.append(Text(f"{r.name}: {reason}", style="red"))
        for warning in r.warnings:
            lines.append(Text(f"{r.name}: warning: {warning}", style="yellow"))
    for warning in report.warnings:
        lines.append(Text(f"warning: {warning}", style="yellow"))
    verdict = "all regions ready" if report.healthy else "NOT READY"
    lines.append(Text(f"{verdict} (observed in {report.elapsed_seconds:.1f} s)"))
    return Group(*lines)


def _section_error(r: RegionStatus, section: str) -> str | None:
    for e in r.errors:
        if e.section == section:
            return "no answer" if e.unreachable else "error"
    return None


def traffic_cell(r: RegionStatus) -> str:
    t: TrafficStatus | None = r.traffic
    if t is None:
        return _section_error(r, "traffic") or "-"
    parts = []
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
    return ", ".join(parts) or "-"


def aurora_cell(r: RegionStatus) -> str:
    a: AuroraStatus | None = r.aurora
    if a is None:
        return _section_error(r, "aurora") or "-"
    parts: list[str] = []
    member = a.global_cluster.member(a.cluster.arn) if a.global_cluster else None
    writer = member.is_writer if member else a.cluster.replication_source is None
    if writer:
        parts.append("writer")
    if a.cluster.status != "available":
        parts.append(a.cluster.status)
    if member and member.synchronization not in (None, "connected"):
        parts.append(str(member.synchronization))
    if a.global_cluster and a.global_cluster.failover:
        parts.append(a.global_cluster.failover.status)
    if not writer:
        parts.append("lag ?" if a.lag_seconds is None else f"lag {a.lag_seconds:.1f}s")
    return ", ".join(parts)


def dynamodb_cell(r: RegionStatus) -> str:
    d: DynamoDbStatus | None = r.dynamodb
    if d is None:
        return _section_error(r, "dynamodb") or "-"
    active = sum(1 for t in d.tables if t.status == "ACTIVE")
    text = f"{active}/{len(d.tables)} ok"
    lags = [i.milliseconds for i in r.dynamodb_incoming if i.milliseconds is not None]
    if lags:
        text += f", lag {max(lags) / 1000:.1f}s"
    return text


def s3_cell(r: RegionStatus) -> str:
    st: S3Status | None = r.s3
    if st is None:
        return _section_error(r, "s3") or "-"
    rules = [rule for b in st.buckets for rule in b.rules]
    parts = [f"{sum(1 for rule in rules if rule.enabled)}/{len(rules)} on"]
    if any(b.versioning != "Enabled" for b in st.buckets):
        parts.append("unversioned")
    if any(rule.rtc for rule in rules):
        parts.append("RTC")
    failed = sum(b.failed or 0 for b in st.backlog)
    if failed:
        parts.append(f"{failed:g} failed")
    return ", ".join(parts)


def compute_cell(r: RegionStatus) -> str:
    c: ComputeStatus | None = r.compute
    if c is None:
        return _section_error(r, "compute") or "-"
    parts = []
    for kind in ("ecs", "asg"):
        found = [s for s in c.services if s.kind == kind]
        if found:
            running = sum(s.running for s in found)
            desired = sum(s.desired for s in found)
            parts.append(f"{kind} {running}/{desired}")
    if c.functions:
        active = sum(1 for f in c.functions if f.state == "Active")
        parts.append(f"fn {active}/{len(c.functions)}")
    return " ".join(parts) or "-"
