"""How results look: rich tables for people, JSON for machines.

The core returns frozen dataclasses and never prints; this module turns them into rich
renderables (the command decides where they go). Everything is laid out for the width it
is printed at, 80 columns first (:func:`mr_failover.text.terminal_width` decides it):

- a table has one line per row: its columns never wrap an identifier, and the columns that
  do not fit go into lines under the table (a wider terminal gets them as columns);
- prose (reasons, notes, plan steps' titles) wraps only at spaces, with a hanging indent;
  a word longer than a whole line (a long ARN) is left whole on its own line, never cut,
  so it can still be copied;
- a plan is one line per step (what, where, undoable); the calls' parameters are shown
  under ``--verbose`` and are always in ``--output json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from mr_failover.text import printable
from mr_failover.text import to_json as to_json  # here for the commands; defined without rich

if TYPE_CHECKING:
    from mr_failover.drill_report import DrillReport
    from mr_failover.engine.plan import Plan, Step
    from mr_failover.status import StatusReport

# Between two columns of a table (one cell of padding on each side).
GAP = 2
# A column of prose (a step's title, a run's command) is never narrower than this.
MIN_PROSE = 30


def show(console: Console, *renderables: RenderableType) -> None:
    """Print without cropping: a word longer than the width (an ARN) stays whole."""
    console.print(*renderables, crop=False)


_WORD = re.compile(r"\S+")
# Where a URL too long for any line may break: before a slash, "?" or "&" (never inside
# the path segment, which may be an id).
_URL_BREAK = re.compile(r"(?<=.)(?=[/?&][^/])")


def _chunks(text: str, room: int, unit: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """The units of ``text`` (words by default); a unit longer than ``room`` in words, and
    a URL longer than ``room`` in its path's segments."""
    for match in unit.finditer(text):
        start, end = match.span()
        if unit is not _WORD and cell_len(match.group()) > room:
            yield from ((start + a, start + b) for a, b in _chunks(match.group(), room, _WORD))
            continue
        scheme = match.group().find("://")
        if scheme < 0 or cell_len(match.group()) <= room:
            yield start, end
            continue
        cuts = [start + m.start() for m in _URL_BREAK.finditer(match.group(), scheme + 3)]
        yield from zip([start, *cuts], [*cuts, end], strict=True)


def wrap_spans(
    text: str, width: int, indent: int = 0, unit: re.Pattern[str] = _WORD
) -> list[tuple[int, int]]:
    """Where ``text`` breaks into lines of ``width`` cells (later lines ``indent`` less):
    only at spaces, and with ``unit`` only between units that fit a line. A word longer
    than a line is kept whole on a line of its own (an ARN can still be copied), except
    a URL, which breaks before a slash."""
    spans: list[tuple[int, int]] = []
    start = end = 0
    room = width
    for chunk_start, chunk_end in _chunks(text, max(width - indent, 1), unit):
        if end and cell_len(text[start:chunk_end]) > room:
            spans.append((start, end))
            start, room = chunk_start, max(width - indent, 1)
        end = chunk_end
    spans.append((start, end))
    return spans


# The parts of a "name: part; part; part" line, each kept on one line when it fits.
PARTS = re.compile(r"[^;\s][^;]*;?")


class Prose:
    """Text wrapped at spaces only, later lines indented (never a word cut in two)."""

    def __init__(
        self,
        text: str | Text,
        style: str = "",
        indent: str = "  ",
        unit: re.Pattern[str] = _WORD,
    ) -> None:
        self.text = text if isinstance(text, Text) else Text(text, style=style)
        self.indent = indent
        self.unit = unit

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        plain = self.text.plain
        spans = wrap_spans(plain, options.max_width, len(self.indent), self.unit)
        for i, (start, end) in enumerate(spans):
            line = self.text[start:end]
            if i:
                line = Text(self.indent) + line
            line.no_wrap, line.overflow, line.end = True, "ignore", "\n"
            yield line


class Fitted:
    """A renderable laid out when it is printed, for the width it gets."""

    def __init__(self, layout: Callable[[int], Sequence[RenderableType]]) -> None:
        self.layout = layout

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.layout(options.max_width)


def width_of(values: Iterable[object]) -> int:
    """The cells the widest of ``values`` takes on one line."""
    return max((cell_len(str(v)) for v in values), default=0)


def longest_word(values: Iterable[object]) -> int:
    return max((len(w) for v in values for w in str(v).split()), default=0)


def fit_optional(room: int, widths: Sequence[tuple[str, int]]) -> list[str]:
    """The optional columns that fit in ``room`` cells, in order, each ``GAP`` apart: the
    first that does not fit ends the list (what follows is shown under the table)."""
    shown = []
    for name, width in widths:
        if width + GAP > room:
            break
        room -= width + GAP
        shown.append(name)
    return shown


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
    # Right padding only: two cells between columns (one of them the divider).
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )


def finding_lines(
    region: str, reasons: Sequence[str], warnings: Sequence[str], errors: Sequence[str] = ()
) -> list[RenderableType]:
    """A region's reasons (red), failed reads (red) and warnings (yellow), each wrapped at
    spaces (:class:`Prose`)."""
    return [
        *(Prose(printable(f"{region}: {reason}"), style="red") for reason in reasons),
        *(Prose(printable(f"{region}: not checked: {e}"), style="red") for e in errors),
        *(Prose(printable(f"{region}: warning: {w}"), style="yellow") for w in warnings),
    ]


def status_table(report: StatusReport) -> RenderableType:
    """The status screen: one line per region, then its details, reasons and warnings.

    Columns, line parts and global lines come from the registered service sections
    (:mod:`mr_failover.resources.registry`); nothing here names a service. The sections'
    columns are shown in order while they fit on one line; those that do not (and the
    sections laid out as a line) are listed under the table, one paragraph per region.
    """
    return Fitted(lambda width: _status_lines(report, width))


def _status_lines(report: StatusReport, width: int) -> list[RenderableType]:
    from mr_failover.resources.registry import GLOBAL_SECTIONS, SECTIONS

    regions = report.regions
    # Columns for optional components appear only when some region has them.
    columns = [
        s
        for s in SECTIONS
        if s.layout == "column"
        or (s.layout == "optional-column" and any(s.present(r) for r in regions))
    ]
    cells = {s.name: [s.cell(r) for r in regions] for s in columns}
    fixed = {
        "Region": [printable(r.name) for r in regions],
        "Verdict": [r.verdict.upper() for r in regions],
        "Takeover": ["yes" if r.can_take_over else "no" for r in regions],
    }
    # The last column keeps its right padding: one cell.
    used = sum(width_of([h, *v]) for h, v in fixed.items()) + GAP * (len(fixed) - 1) + 1
    fits = fit_optional(
        width - used,
        [
            (s.name, width_of([s.title, *(printable(c.text) for c in cells[s.name])]))
            for s in columns
        ],
    )
    shown = [s for s in columns if s.name in fits]
    table = report_table()
    for header in (*fixed, *(s.title for s in shown)):
        table.add_column(header, no_wrap=True)
    for i, r in enumerate(regions):
        # Cells hold names and states from the topology and AWS: escaped, never markup.
        table.add_row(
            safe(r.name),
            Text(r.verdict.upper(), style=VERDICT_STYLE[r.verdict]),
            Text("yes", style="green") if r.can_take_over else Text("no", style="red"),
            *(Text(printable(cells[s.name][i].text), style=cells[s.name][i].style) for s in shown),
        )
    lines: list[RenderableType] = [
        Prose(safe(f"{report.application}: could each region take over?")),
        table,
    ]
    # The columns that did not fit, then the sections laid out as a line (API endpoints,
    # readiness), as one paragraph per region. Like an optional column, a line part only
    # when some region has it (parity, headroom).
    below = [s for s in columns if s not in shown]
    inline = [s for s in SECTIONS if s.layout == "line" and any(s.present(r) for r in regions)]
    for r in regions:
        parts = [s for s in below if s.layout == "column" or s.present(r)]
        if any(s.present(r) for s in inline):
            parts += inline
        if parts:
            text = safe(f"{r.name}: ")
            for n, s in enumerate(parts):
                cell = s.cell(r)
                text.append(("; " if n else "") + printable(f"{s.title} "))
                text.append(printable(cell.text), style=cell.style or "")
            lines.append(Prose(text, unit=PARTS))
    for r in regions:
        lines += finding_lines(r.name, r.reasons, r.warnings)
        for drift in r.drift:
            lines.append(Prose(printable(f"{r.name}: drift: {drift}"), style="yellow"))
    for g in GLOBAL_SECTIONS:
        lines.extend(Prose(safe(line)) for line in g.lines(report.global_found.get(g.name, ())))
    for warning in report.warnings:
        lines.append(Prose(printable(f"warning: {warning}"), style="yellow"))
    for r in regions:
        if r.split_brain:
            lines.append(
                Prose(
                    printable(
                        f"SPLIT BRAIN in {r.name}: its database accepts writes without being "
                        f"the writer; it cannot take over. Fence it: mr-failover fence "
                        f"--region {r.name}"
                    ),
                    style="bold red",
                )
            )
    verdict = "all regions ready" if report.healthy else "NOT READY"
    if report.healthy and report.drifted:
        verdict += ", but AWS differs from the topology file (drift)"
    lines.append(Prose(f"{verdict} (observed in {report.elapsed_seconds:.1f} s)"))
    return lines


def plan_view(plan: Plan, verbose: bool = False) -> RenderableType:
    """A plan, one line per step where its title fits: what, where, undoable.

    A wider terminal also gets each step's plane (control or data) and call
    (``service:Operation``); ``verbose`` adds every call with its plane and parameters
    under the table (``--output json`` always has them).
    """
    return Fitted(lambda width: _plan_lines(plan, width, verbose))


def _plane(step: Step) -> str:
    if step.plane != "control":
        return "data"
    # Named only when the control plane is not where the call goes.
    same = step.plane_region in (None, step.region)
    return "control" if same else f"control {step.plane_region}"


def _call(step: Step) -> str:
    return f"{step.service}:{step.call}"


def _plan_lines(plan: Plan, width: int, verbose: bool) -> list[RenderableType]:
    steps = plan.steps
    titles = [printable(s.title) for s in steps]
    fixed = {
        "#": [str(len(steps))],
        "Where": [printable(s.region) for s in steps],
        "Undo": ["yes"],
    }
    # box=None: two cells between columns, none at the edges.
    used = sum(width_of([h, *v]) for h, v in fixed.items()) + GAP * len(fixed)
    # The plane, then the call, get a column only where the titles keep their room: a
    # line each (up to 56 cells), never less than the longest word.
    keep = max(min(width_of(titles), 56), longest_word(titles))
    extra = fit_optional(
        width - used - keep,
        [
            ("Plane", width_of(["Plane", *(_plane(s) for s in steps)])),
            ("Call", width_of(["Call", *(_call(s) for s in steps)])),
        ],
    )
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("#", no_wrap=True, justify="right")
    table.add_column("Step")
    if "Call" in extra:
        table.add_column("Call", no_wrap=True)
    table.add_column("Where", no_wrap=True)
    if "Plane" in extra:
        table.add_column("Plane", no_wrap=True)
    table.add_column("Undo", no_wrap=True)
    for i, (step, title) in enumerate(zip(steps, titles, strict=True), start=1):
        call = [Text(_call(step))] if "Call" in extra else []
        plane = [_plane(step)] if "Plane" in extra else []
        table.add_row(
            str(i),
            Text(title),
            *call,
            Text(printable(step.region)),
            *plane,
            "yes" if step.undoable else "no",
        )
    lines: list[RenderableType] = [Prose(safe(f"Plan: {plan.command}")), table]
    if verbose:
        lines.append(Prose("Calls, with the parameters as they will be sent:"))
        pad = " " * (len(str(len(steps))) + 2)
        for i, step in enumerate(steps, start=1):
            where = f"{step.region}, {_plane(step)} plane"
            lines.append(
                Prose(printable(f"{i:>{len(pad) - 2}}  {_call(step)} ({where})"), indent=pad)
            )
            for key, value in step.params.items():
                # "key: value": a long value (an ARN) can go to the next line, whole.
                lines.append(Prose(printable(f"{pad}  {key}: {value}"), indent=pad + "    "))
    return lines


def drill_report_view(report: DrillReport) -> RenderableType:
    """A drill's report on the terminal: what the Markdown file says, laid out to fit."""
    return Fitted(lambda width: _drill_report_lines(report, width))


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _yes(met: bool) -> str:
    return "met" if met else "NOT met"


def _drill_report_lines(r: DrillReport, width: int) -> list[RenderableType]:
    from mr_failover import drill_report
    from mr_failover.engine.journal import iso

    verdict_style = {"pass": "green", "ran": "bold"}.get(r.verdict, "bold red")
    head = safe(f"Drill report: {r.scenario}: ")
    head.append(r.verdict.upper(), style=verdict_style)
    lines: list[RenderableType] = [
        Prose(head),
        Prose(printable(f"run {r.run_id}, started {iso(r.started)}, outcome {r.outcome}")),
        Prose(printable(f"by {r.who}")),
    ]
    if r.description:
        lines.append(Prose(printable(f"scenario: {r.description}")))
    if r.stopped_by:
        lines.append(
            Prose(printable(f"stopped by {r.stopped_by}; the failback steps ran"), "bold red")
        )
    if not r.disrupted:
        lines.append(Prose(drill_report.NOT_DISRUPTED))
    for f in r.fenced:
        kept = (
            f", its diverged writes kept in {f['fenced_cluster']}"
            if f.get("fenced_cluster")
            else ""
        )
        text = (
            f"fenced {f['region']} (split brain): {f['cluster']} accepted writes without being "
            f"the writer; database {f['database']}{kept}"
        )
        lines.append(Prose(printable(text), "bold red"))
    lines += [
        Prose(
            f"RTO {_secs(r.rto_seconds)} of {r.rto_target}s: {_yes(r.rto_met)} (first "
            "disruptive step to the target serving and taking writes)"
        ),
        Prose(
            f"RPO {_secs(r.rpo_lag_seconds)} of {r.rpo_target}s: {_yes(r.rpo_met)} (replication "
            f"lag at cut-over); canary writes lost: {r.canaries_lost} of {r.canaries_written}"
            if r.cut_over
            else "RPO: not applicable (the writer did not move: no write was at risk)"
        ),
        *(
            Prose(printable(f"clients: {line}"))
            for line in (drill_report.client_lines(r.client) if r.client else [])
        ),
        Prose(printable(f"steady state before: {'; '.join(r.steady_before) or 'steady'}")),
        Prose(
            printable(
                "steady state after: "
                + (
                    "not checked"
                    if r.steady_after is None
                    else ("; ".join(r.steady_after) or "steady")
                )
            )
        ),
    ]
    lines += [Prose("Steps"), _drill_steps_table(r, width)]
    lines.append(Prose("Static stability: steps that fail if a region is down"))
    for f in r.stability:
        names = ", ".join(f"{s['title']} ({s['why']})" for s in f["steps"]) or "none"
        lines.append(Prose(printable(f"  if {f['region']} is down: {names}"), indent="    "))
    return lines


def _drill_steps_table(r: DrillReport, width: int) -> Table:
    """Phases in bold, their steps under them; start and end times when there is room."""
    from mr_failover.engine.journal import iso

    rows: list[tuple[str, Text | Padding, str, str, str, str]] = []
    for p in r.phases:
        start, end = (iso(p.start) if p.start else "-"), (iso(p.end) if p.end else "-")
        rows.append(
            (
                p.phase,
                Text(printable(p.title), style="bold"),
                start,
                end,
                _secs(p.seconds),
                printable(p.outcome),
            )
        )
        for s in p.steps:
            # Indented under its phase, continuation lines too.
            indented = Padding(Text(printable(s["title"])), (0, 0, 0, 2))
            outcome = printable(s.get("outcome", "-"))
            rows.append(("", indented, "", "", _secs(s.get("seconds")), outcome))
    titles = [p.title for p in r.phases] + [s["title"] for p in r.phases for s in p.steps]
    fixed = (
        width_of(["phase", *(row[0] for row in rows)])
        + width_of(["time", *(row[4] for row in rows)])
        + width_of(["outcome", *(row[5] for row in rows)])
        + GAP * 3
    )
    times = width_of(["start", *(row[2] for row in rows)]) * 2 + GAP * 2
    with_times = width - fixed - times >= max(MIN_PROSE, longest_word(titles) + 2)
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("phase", no_wrap=True)
    table.add_column("step")
    if with_times:
        table.add_column("start", no_wrap=True)
        table.add_column("end", no_wrap=True)
    table.add_column("time", no_wrap=True, justify="right")
    table.add_column("outcome", no_wrap=True)
    for phase, step, start, end, secs, outcome in rows:
        middle = [start, end] if with_times else []
        table.add_row(phase, step, *middle, secs, outcome)
    return table
