"""How results look: rich tables for people, JSON for machines.

The core returns frozen dataclasses and never prints; this module turns them into rich
renderables (the command decides where they go). Cells are short on purpose: the table
answers "could each region take over?", and the reasons are listed under it in full.
"""

from __future__ import annotations

import json
import re
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


# C0 and C1 controls, DEL, and the invisible characters that reorder or hide text on a
# terminal (zero-width, line/paragraph separators, bidi overrides and isolates, BOM).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, limit: int | None = None) -> str:
    """``text`` safe to print on a terminal: one line, no escape sequence, no control.

    Text from the topology, scenario files, journals and AWS answers goes through this
    before it is shown (tables and error messages): a newline is shown as ``\\n`` and an
    escape as ``\\x1b``, so no input can forge a line, move the cursor or recolour the
    screen. With ``limit``, longer text is cut and says how long it was.
    """
    out = _UNSAFE.sub(_escape, str(text))
    if limit is not None and len(out) > limit:
        return f"{out[: max(limit - 24, 1)]}... ({len(out)} characters)"
    return out


def safe(text: object) -> Text:
    """``printable(text)`` as a rich Text: shown as is, never read as markup."""
    return Text(printable(text))


def to_json(data: Any, indent: int | None = 2) -> str:
    """Stable JSON text: sorted keys, so diffs between runs show only real changes."""
    return json.dumps(data, indent=indent, sort_keys=True, default=str)


def report_table(title: str | Text | None = None) -> Table:
    """The house table of read-only reports: header rule only, title on the left."""
    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )


def status_table(report: StatusReport) -> RenderableType:
    """The status screen: one row per region, then the reasons and warnings."""
    table = report_table(safe(f"{report.application}: could each region take over?"))
    for header in ("Region", "Verdict", "Takeover", "Traffic", "Aurora", "DynamoDB", "S3"):
        table.add_column(header, no_wrap=header in ("Region", "Verdict", "Takeover"))
    table.add_column("Compute")
    # Columns for optional components appear only when some region has them.
    extra = [
        (header, cell)
        for header, cell, section in (
            ("Accelerator", accelerator_cell, "accelerator"),
            ("Cache", elasticache_cell, "elasticache"),
        )
        if any(
            getattr(r, section) is not None or _section_error(r, section) for r in report.regions
        )
    ]
    for header, _ in extra:
        table.add_column(header)
    for r in report.regions:
        # Cells hold names and states from the topology and AWS: escaped, never markup.
        table.add_row(
            safe(r.name),
            Text(r.verdict.upper(), style=VERDICT_STYLE[r.verdict]),
            Text("yes", style="green") if r.can_take_over else Text("no", style="red"),
            safe(traffic_cell(r)),
            Text(printable(aurora_cell(r)), style="bold red" if r.split_brain else ""),
            safe(dynamodb_cell(r)),
            safe(s3_cell(r)),
            safe(compute_cell(r)),
            *(safe(cell(r)) for _, cell in extra),
        )
    lines: list[RenderableType] = [table]
    for r in report.regions:
        # API endpoints and readiness items get a line, not columns: the table must fit.
        if r.api is not None or r.readiness is not None or _section_error(r, "api"):
            lines.append(safe(f"{r.name}: api {api_cell(r)}; readiness {readiness_cell(r)}"))
    for r in report.regions:
        for reason in r.reasons:
            lines.append(Text(printable(f"{r.name}: {reason}"), style="red"))
        for warning in r.warnings:
            lines.append(Text(printable(f"{r.name}: warning: {warning}"), style="yellow"))
    for d in report.cloudfront:
        for g in d.groups:
            lines.append(safe(cloudfront_line(d.name, g)))
    for warning in report.warnings:
        lines.append(Text(printable(f"warning: {warning}"), style="yellow"))
    for r in report.regions:
        if r.split_brain:
            lines.append(
                Text(
                    f"SPLIT BRAIN in {r.name}: its database accepts writes without being the "
                    f"writer; it cannot take over. Fence it: mr-failover fence --region {r.name}",
                    style="bold red",
                )
            )
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
    # Routing controls come from the ARC data plane: Route 53's API may still have failed.
    parts = [e] if (e := _section_error(r, "traffic")) else []
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
    return ", ".join(parts) or "-"


def aurora_cell(r: RegionStatus) -> str:
    a: AuroraStatus | None = r.aurora
    if a is None:
        return _section_error(r, "aurora") or "-"
    if r.split_brain:
        return "SPLIT BRAIN"
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


def accelerator_cell(r: RegionStatus) -> str:
    a = r.accelerator
    if a is None:
        return _section_error(r, "accelerator") or "-"
    if a.group is None:
        return "no endpoint group"
    g = a.group
    text = f"dial {g.dial:g}%, {g.healthy}/{g.endpoints} healthy"
    if a.accelerator.status != "DEPLOYED":
        text += f", {a.accelerator.status}"
    return text


def elasticache_cell(r: RegionStatus) -> str:
    e = r.elasticache
    if e is None:
        return _section_error(r, "elasticache") or "-"
    member = e.member
    if member is None:
        return "not a member"
    parts = [member.role.lower() or "?"]
    if e.datastore.status not in ("available", "primary-only"):
        parts.append(e.datastore.status)
    return ", ".join(parts)


def api_cell(r: RegionStatus) -> str:
    a = r.api
    if a is None:
        return _section_error(r, "api") or "-"
    parts = []
    for st in a.endpoints:
        e = st.endpoint
        if not e.found:
            parts.append("missing")
        elif e.certificate is None or e.certificate.status != "ISSUED":
            parts.append("cert " + (e.certificate.status.lower() if e.certificate else "none"))
        elif st.certificate_days_left is not None:
            parts.append(f"cert {max(st.certificate_days_left, 0):.0f}d")
        else:
            parts.append("ok")
    return ", ".join(parts) or "-"


def readiness_cell(r: RegionStatus) -> str:
    rd = r.readiness
    if rd is None:
        return _section_error(r, "readiness") or "-"
    missing = sum(1 for reason in r.reasons if reason.startswith("readiness:"))
    items = (
        (rd.templates is not None)
        + (rd.code is not None)
        + len(rd.secrets)
        + (len(rd.parameters.checked) if rd.parameters else 0)
    )
    return f"{missing} missing" if missing else f"{items} ok"


def cloudfront_line(distribution: str, g: Any) -> str:
    """``cloudfront assets/g: us-east-1 -> us-west-2 on 500,502,503,504``."""
    pri = g.primary.region if g.primary else "?"
    sec = g.secondary.region if g.secondary else "?"
    codes = ",".join(map(str, g.status_codes)) or "no failover criteria"
    return f"cloudfront {distribution}/{g.id}: {pri} -> {sec} on {codes}"
