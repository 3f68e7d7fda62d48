"""How results look: rich tables for people, JSON for machines.

The core returns frozen dataclasses and never prints; this module turns them into rich
renderables (the command decides where they go). Cells are short on purpose: the table
answers "could each region take over?", and the reasons are listed under it in full.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mr_failover.text import printable
from mr_failover.text import to_json as to_json  # here for the commands; defined without rich

if TYPE_CHECKING:
    from mr_failover.status import StatusReport

VERDICT_STYLE = {
    "serving": "green",
    "drained": "cyan",
    "degraded": "yellow",
    "unreachable": "bold red",
}


def safe(text: object) -> Text:
    """``printable(text)`` as a rich Text: shown as is, never read as markup."""
    return Text(printable(text))


def report_table(title: str | Text | None = None) -> Table:
    """The house table of read-only reports: header rule only, title on the left."""
    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )


def status_table(report: StatusReport) -> RenderableType:
    """The status screen: one row per region, then the reasons and warnings.

    Columns, line parts and global lines come from the registered service sections
    (:mod:`mr_failover.resources.registry`); nothing here names a service.
    """
    from mr_failover.resources.registry import GLOBAL_SECTIONS, SECTIONS

    table = report_table(safe(f"{report.application}: could each region take over?"))
    for header in ("Region", "Verdict", "Takeover"):
        table.add_column(header, no_wrap=True)
    # Columns for optional components appear only when some region has them.
    columns = [
        s
        for s in SECTIONS
        if s.layout == "column"
        or (s.layout == "optional-column" and any(s.present(r) for r in report.regions))
    ]
    for s in columns:
        table.add_column(s.title)
    for r in report.regions:
        cells = [s.cell(r) for s in columns]
        # Cells hold names and states from the topology and AWS: escaped, never markup.
        table.add_row(
            safe(r.name),
            Text(r.verdict.upper(), style=VERDICT_STYLE[r.verdict]),
            Text("yes", style="green") if r.can_take_over else Text("no", style="red"),
            *(Text(printable(c.text), style=c.style) for c in cells),
        )
    lines: list[RenderableType] = [table]
    # Sections laid out as a line, not columns (API endpoints, readiness): the table must fit.
    inline = [s for s in SECTIONS if s.layout == "line"]
    for r in report.regions:
        if any(s.present(r) for s in inline):
            parts = "; ".join(f"{s.title} {s.cell(r).text}" for s in inline)
            lines.append(safe(f"{r.name}: {parts}"))
    for r in report.regions:
        for reason in r.reasons:
            lines.append(Text(printable(f"{r.name}: {reason}"), style="red"))
        for warning in r.warnings:
            lines.append(Text(printable(f"{r.name}: warning: {warning}"), style="yellow"))
        for drift in r.drift:
            lines.append(Text(printable(f"{r.name}: drift: {drift}"), style="yellow"))
    for g in GLOBAL_SECTIONS:
        lines.extend(safe(line) for line in g.lines(report.global_found.get(g.name, ())))
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
    if report.healthy and report.drifted:
        verdict += ", but AWS differs from the topology file (drift)"
    lines.append(Text(f"{verdict} (observed in {report.elapsed_seconds:.1f} s)"))
    return Group(*lines)
