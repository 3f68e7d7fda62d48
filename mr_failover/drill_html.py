"""A drill's report as one self-contained HTML page: the figures and a timeline.

Built from the run's journal records and its :class:`~mr_failover.drill_report.DrillReport`
(so a resumed run's page covers every attempt), with no script, no font, no image and no
style sheet from anywhere else: the page opens from a file on a laptop with no network, and
can be attached to a post-incident review as it is. Every text from the journal is escaped.

The timeline is an inline SVG, seconds from the drill's start along the x axis:

- one lane per phase (the scenario's, then the failback and cleanup), a bar from its start
  to its end coloured by its outcome, a tick for each step (its title and outcome on hover);
- the marks: when the first disruptive phase started (the outage), when the target served
  again (start + RTO), each cut-over with the replication lag read then (the RPO);
- the DNS answers per record name over time, from the journal's ``dns-answers`` notes
  (the regions the zone's name servers answered with, as they changed);
- application probes over time, from ``drill-probe`` notes (ok or failed, by region).

Below it: phases and steps, the state before and after, the canaries, and the trend of
earlier drills' RTO against the target.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mr_failover.drill_report import DrillReport, PhaseRow
from mr_failover.engine.journal import iso

WIDTH = 960
LABEL = 190  # left margin for lane labels
LANE = 26
COLORS = {
    "done": "#2e7d32",
    "completed": "#2e7d32",
    "succeeded": "#2e7d32",
    "applied": "#2e7d32",
    "skipped": "#78909c",
    "running": "#f9a825",
    "pending": "#b0bec5",
    "failed": "#c62828",
    "stopped": "#c62828",
    "interrupted": "#ef6c00",
}
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #1b1b1b; max-width: 1000px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 8px 0; }
dl.meta dt { color: #555; } dl.meta dd { margin: 0; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff;
           font-weight: 600; }
.verdict-pass { background: #2e7d32; } .verdict-fail, .verdict-stopped { background: #c62828; }
.verdict-incomplete { background: #ef6c00; }
.figures { display: flex; gap: 16px; flex-wrap: wrap; }
.figure { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; min-width: 200px; }
.figure .value { font-size: 24px; font-weight: 600; } .figure .ok { color: #2e7d32; }
.figure .bad { color: #c62828; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eee;
         vertical-align: top; }
th { background: #fafafa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg .mark { stroke-width: 1.5; stroke-dasharray: 4 3; }
.muted { color: #777; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _nice_step(span: float) -> float:
    """A tick interval giving about 8 ticks over ``span`` seconds."""
    raw = max(span / 8, 0.001)
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


class _Scale:
    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.span = max(end - start, 1.0)

    def x(self, t: float) -> float:
        return LABEL + (WIDTH - LABEL - 10) * min(max((t - self.start) / self.span, 0.0), 1.0)


def _disruption_start(records: Sequence[Mapping[str, Any]]) -> float | None:
    for r in records:
        if (
            r.get("type") == "note"
            and r.get("kind") == "drill-phase"
            and r.get("event") == "start"
            and r.get("disruptive")
        ):
            return float(r["t"])
    return None


def _steps(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    steps: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("type") == "intent":
            steps[r["step"]] = {"title": r.get("call", {}).get("title", r["step"]), "t": r["t"]}
        elif r.get("type") == "outcome" and r.get("step") in steps:
            steps[r["step"]] |= {"end": r["t"], "outcome": r.get("status", "?")}
    return steps


def _notes(records: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("type") == "note" and r.get("kind") == kind]


def timeline(report: DrillReport, records: Sequence[Mapping[str, Any]]) -> str:
    """The SVG timeline (see the module docstring)."""
    times = [float(r["t"]) for r in records if isinstance(r.get("t"), int | float)]
    end = max(times, default=report.started + 1)
    scale = _Scale(report.started, end)
    phases: list[PhaseRow] = [*report.phases, *report.closing]
    steps = _steps(records)
    dns = _notes(records, "dns-answers")
    dns_names = sorted({str(n.get("name")) for n in dns})
    probes = _notes(records, "drill-probe")
    lanes = len(phases) + len(dns_names) + (1 if probes else 0)
    marks: list[tuple[str, float, str, str]] = []
    outage = _disruption_start(records)
    if outage is not None:
        marks.append(("outage", outage, "#c62828", "outage starts"))
        if report.rto_seconds is not None:
            marks.append(
                ("rto", outage + report.rto_seconds, "#2e7d32", f"RTO {report.rto_seconds:.1f}s")
            )
    for n in _notes(records, "drill-measure"):
        if n.get("measure") == "cutover":
            lag = n.get("lag_seconds")
            text = "cut-over" + (f" (lag {float(lag):.2f}s)" if lag is not None else "")
            marks.append(("rpo", float(n["t"]), "#6a1b9a", text))
    top = 14 + 12 * len(marks)  # a row of its own for each mark's label
    height = top + LANE * lanes + 40
    out = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
        f'{height}" width="{WIDTH}" height="{height}" role="img" aria-label="Timeline of '
        f'drill {_e(report.run_id)}">'
    ]
    # The axis: seconds since the drill started.
    step = _nice_step(scale.span)
    tick = 0.0
    while tick <= scale.span + 1e-9:
        x = scale.x(report.started + tick)
        out.append(
            f'<line class="tick" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" '
            f'y2="{height - 30}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{height - 16}" text-anchor="middle">{tick:g}s</text>'
        )
        tick += step
    y = top
    for p in phases:
        label = f"{p.title}"[:30]
        out.append(
            f'<g class="phase" data-phase="{_e(p.phase)}" data-outcome="{_e(p.outcome)}">'
            f'<text x="4" y="{y + 16}">{_e(label)}</text>'
        )
        if p.start is not None:
            x1, x2 = scale.x(p.start), scale.x(p.end if p.end is not None else end)
            color = COLORS.get(p.outcome, "#90a4ae")
            out.append(
                f'<rect x="{x1:.1f}" y="{y + 4}" width="{max(x2 - x1, 2):.1f}" '
                f'height="{LANE - 10}" fill="{color}" opacity="0.35">'
                f"<title>{_e(p.title)}: {_e(p.outcome)}, {_secs(p.seconds)}</title></rect>"
            )
        for sid, s in steps.items():
            if not sid.startswith(f"{p.phase}/"):
                continue
            x = scale.x(float(s["t"]))
            color = COLORS.get(str(s.get("outcome")), "#546e7a")
            out.append(
                f'<line class="step" x1="{x:.1f}" y1="{y + 3}" x2="{x:.1f}" y2="{y + LANE - 5}" '
                f'stroke="{color}" stroke-width="2"><title>{_e(s["title"])}: '
                f"{_e(s.get('outcome', 'not finished'))}</title></line>"
            )
        out.append("</g>")
        y += LANE
    for name in dns_names:
        changes = [n for n in dns if str(n.get("name")) == name]
        out.append(
            f'<g class="dns" data-name="{_e(name)}"><text x="4" y="{y + 16}">'
            f"DNS {_e(name)[:24]}</text>"
        )
        for i, n in enumerate(changes):
            x1 = scale.x(float(n["t"]))
            x2 = scale.x(float(changes[i + 1]["t"])) if i + 1 < len(changes) else scale.x(end)
            regions = ", ".join(str(r) for r in n.get("regions") or []) or "no answer"
            out.append(
                f'<rect x="{x1:.1f}" y="{y + 4}" width="{max(x2 - x1, 2):.1f}" '
                f'height="{LANE - 10}" fill="#1565c0" opacity="{0.15 + 0.1 * (i % 2):.2f}">'
                f"<title>{_e(name)} answered with {_e(regions)} from "
                f"{(float(n['t']) - report.started):.1f}s</title></rect>"
                f'<text x="{x1 + 3:.1f}" y="{y + 16}">{_e(regions)[:40]}</text>'
            )
        out.append("</g>")
        y += LANE
    if probes:
        out.append(f'<g class="probes"><text x="4" y="{y + 16}">probes</text>')
        for n in probes:
            x = scale.x(float(n["t"]))
            ok = bool(n.get("ok"))
            out.append(
                f'<circle class="probe {"ok" if ok else "failed"}" cx="{x:.1f}" '
                f'cy="{y + LANE / 2 - 1:.1f}" r="3" fill="{"#2e7d32" if ok else "#c62828"}">'
                f"<title>{_e(n.get('region', ''))}: {'ok' if ok else 'failed'}"
                f" {_e(n.get('detail', ''))}</title></circle>"
            )
        out.append("</g>")
        y += LANE
    for i, (kind, t, color, text) in enumerate(marks):
        x = scale.x(t)
        out.append(
            f'<g class="mark mark-{kind}"><line class="mark" x1="{x:.1f}" y1="{12 + 12 * i}" '
            f'x2="{x:.1f}" y2="{y}" stroke="{color}"/><text x="{x + 3:.1f}" '
            f'y="{10 + 12 * i}" fill="{color}">{_e(text)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def trend_chart(entries: Sequence[Mapping[str, Any]]) -> str:
    """Bars of RTO per drill (oldest first), the target as a line; '-' for no RTO."""
    if not entries:
        return '<p class="muted">No earlier drill.</p>'
    values = [float(e["rto_seconds"]) for e in entries if e.get("rto_seconds") is not None]
    targets = [float(e["rto_target_seconds"]) for e in entries if e.get("rto_target_seconds")]
    # Scaled to the drills, not to a target far above them (bars of a few pixels say
    # nothing); a target above the chart is said in words.
    top = max(values) * 1.25 if values else max([*targets, 1.0])
    bar_w = min(60, (WIDTH - 60) // max(len(entries), 1) - 8)
    height = 160
    out = [
        f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
        f'{height + 40}" width="{WIDTH}" height="{height + 40}" role="img" '
        'aria-label="RTO of each drill">'
    ]
    for i, e in enumerate(entries):
        x = 40 + i * (bar_w + 8)
        rto = e.get("rto_seconds")
        if rto is None:
            out.append(f'<text class="bar none" x="{x + bar_w / 2}" y="{height}">-</text>')
        else:
            h = height * float(rto) / top
            color = "#2e7d32" if e.get("verdict") == "pass" else "#c62828"
            out.append(
                f'<rect class="bar" x="{x}" y="{height - h:.1f}" width="{bar_w}" height="{h:.1f}" '
                f'fill="{color}"><title>{_e(e.get("run_id", ""))}: RTO {float(rto):.1f}s, '
                f"{_e(e.get('verdict', ''))}</title></rect>"
            )
        out.append(
            f'<text x="{x + bar_w / 2}" y="{height + 14}" text-anchor="middle">'
            f"{_e(str(e.get('run_id', ''))[:8])}</text>"
        )
    if targets and targets[-1] > top:
        out.append(
            f'<text class="target above" x="32" y="12">target {targets[-1]:g}s '
            "(above every drill's RTO)</text>"
        )
    elif targets:
        y = height - height * targets[-1] / top
        out.append(
            f'<line class="target" x1="30" y1="{y:.1f}" x2="{WIDTH - 10}" y2="{y:.1f}" '
            f'stroke="#555" stroke-dasharray="5 4"/><text x="32" y="{y - 3:.1f}">target '
            f"{targets[-1]:g}s</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], cls: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render(
    report: DrillReport,
    records: Sequence[Mapping[str, Any]],
    earlier: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The page. ``earlier``: :func:`~mr_failover.drill_report.trend` entries of earlier
    drills (oldest first, each with its ``run_id``); this drill is added last."""
    doc = report.to_json()
    rto, rpo = doc["rto"], doc["rpo"]
    verdict = report.verdict
    figures = [
        ("RTO", _secs(report.rto_seconds), f"target {report.rto_target}s", rto["met"]),
        (
            "RPO",
            _secs(report.rpo_lag_seconds)
            if report.rpo_lag_seconds is not None
            else f"{report.canaries_written - report.canaries_lost}/{report.canaries_written}",
            f"target {report.rpo_target}s; canaries lost {report.canaries_lost}",
            rpo["met"],
        ),
        *(
            [
                (
                    "Client-visible RTO",
                    _secs(report.client.get("rto_seconds")),
                    f"{report.client.get('errors', 0)} of {report.client.get('requests', 0)} "
                    f"requests failed; longest error window "
                    f"{_secs(report.client.get('longest_error_window_seconds'))}",
                    bool(report.client.get("recovered")),
                )
            ]
            if report.client
            else []
        ),
        (
            "Steady state after",
            "-" if report.steady_after is None else str(len(report.steady_after)),
            "problems found after the failback",
            report.steady_after == (),
        ),
    ]
    fig_html = "".join(
        f'<div class="figure" data-figure="{_e(name.lower())}"><div>{_e(name)}</div>'
        f'<div class="value {"ok" if ok else "bad"}">{_e(value)}</div>'
        f'<div class="muted">{_e(note)}</div></div>'
        for name, value, note, ok in figures
    )
    phase_rows = [
        (p.title, p.outcome, _secs(p.seconds), len(p.steps))
        for p in (*report.phases, *report.closing)
    ]
    step_rows = [
        (sid.split("/", 1)[0], s["title"], s.get("outcome", "not finished"))
        for sid, s in _steps(records).items()
    ]
    state_items = doc.get("state", {}).get("items", [])
    state_html = (
        _table(
            ("item", "before", "after", "same"),
            (
                (s.get("label"), s.get("before"), s.get("after"), s.get("before") == s.get("after"))
                for s in state_items
            ),
            "state",
        )
        if state_items
        else '<p class="muted">No state recorded.</p>'
    )
    canaries = doc.get("canaries", {}).get("written", [])
    canary_html = (
        _table(
            ("service", "region", "where", "removed"),
            (
                (c.get("service"), c.get("region"), c.get("where"), c.get("removed"))
                for c in canaries
            ),
            "canaries",
        )
        if canaries
        else '<p class="muted">No canary written.</p>'
    )
    this = {**doc, "rto_seconds": rto["seconds"], "rto_target_seconds": rto["target_seconds"]}
    trend = trend_chart([*earlier, {**this, "run_id": report.run_id}])
    stop = (
        f"<p><strong>Stopped by {_e(report.stopped_by)}.</strong></p>" if report.stopped_by else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Drill {_e(report.scenario)} {_e(report.run_id)}: {_e(verdict)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>Drill <code>{_e(report.scenario)}</code>
<span class="verdict verdict-{_e(verdict)}">{_e(verdict)}</span></h1>
<p>{_e(report.description)}</p>
<dl class="meta">
<dt>run</dt><dd><code>{_e(report.run_id)}</code></dd>
<dt>who</dt><dd>{_e(report.who)}</dd>
<dt>started</dt><dd>{_e(iso(report.started))}</dd>
<dt>outcome</dt><dd>{_e(report.outcome)}</dd>
</dl>
{stop}
</header>
<section id="figures"><h2>Recovery</h2><div class="figures">{fig_html}</div></section>
<section id="timeline"><h2>Timeline</h2>{timeline(report, records)}</section>
<section id="phases"><h2>Phases</h2>
{_table(("phase", "outcome", "time", "steps"), phase_rows, "phases")}
<h2>Steps</h2>
{_table(("phase", "step", "outcome"), step_rows, "steps")}
</section>
<section id="state"><h2>Before and after</h2>{state_html}</section>
<section id="canaries"><h2>Canaries</h2>{canary_html}</section>
<section id="trend"><h2>RTO of each drill</h2>{trend}</section>
<footer class="muted"><p>mr-failover drill report; the JSON report beside this page has
every figure.</p></footer>
</body>
</html>
"""
