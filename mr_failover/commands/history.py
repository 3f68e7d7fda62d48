"""``mr-failover history``: the runs recorded in the journal directory.

Drills also show their verdict, RTO and RPO (read back from each run's journal), and a
bar chart of RTO per drill when there are several, so a team sees the trend.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.errors import MrFailoverError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mr_failover.engine.journal import RunRecord
    from mr_failover.engine.shared import SharedJournal

CHART_WIDTH = 40


@click.command()
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@pass_app
def history(app: AppContext, limit: int) -> None:
    """List mutating runs: id, command, who, when, outcome, duration; drills with RTO/RPO.

    With the topology's `journal` (an S3 location), the team's runs are listed too.

    \b
    Example:
      mr-failover history --limit 5
      mr-failover --output json history
    """
    from mr_failover.engine import journal
    from mr_failover.render import Fitted, Prose, safe, show
    from mr_failover.text import printable

    shared = _shared(app)
    runs, skipped = journal.scan_runs(limit, shared)
    # A bad journal or line is reported and skipped: it must not hide the other runs.
    for problem in skipped:
        click.echo(f"warning: skipped {printable(problem, 500)}", err=True)
    drills = {r.run_id: d for r in runs if (d := _drill(r, shared)) is not None}
    if app.output == "json":
        body = [
            {**r.to_json(), **({"drill": drills[r.run_id]} if r.run_id in drills else {})}
            for r in runs
        ]
        doc = {"runs": body, "skipped": [p.to_json() for p in skipped], "exit_code": 0}
        click.echo(json.dumps(doc, indent=2))
        return
    if not runs:
        click.echo(f"no runs yet in {journal.runs_dir()}")
        return
    console = app.console()
    show(console, Fitted(lambda width: [runs_table(runs, width)]))
    # Oldest first, so the table and the chart read down as time goes.
    measured = [(r, drills[r.run_id]) for r in reversed(runs) if r.run_id in drills]
    if measured:
        show(console, drill_table(measured))
        for run, d in measured:
            if d["stopped_by"]:
                show(console, Prose(safe(f"{run.run_id} was stopped by {d['stopped_by']}")))
    if len(measured) > 1:
        show(console, rto_chart(measured))


def runs_table(runs: Sequence[RunRecord], width: int) -> RenderableType:
    """One line per run where its command fits; who ran it and when it started are
    columns when there is room (the run id starts with its UTC start time)."""
    from rich.table import Table

    from mr_failover.engine import journal
    from mr_failover.render import GAP, MIN_PROSE, fit_optional, safe, width_of
    from mr_failover.text import printable

    # Journal text is shown escaped, never as markup.
    commands = [printable(f"{r.command} {_options(r.params)}".strip()) for r in runs]
    # The ARN's resource part names the role or user; --output json has it whole.
    who = [
        printable(f"{r.who.os_user}@{r.who.host} ({r.who.caller_arn.split(':', 5)[-1]})")
        for r in runs
    ]
    started = [journal.iso(r.started) for r in runs]
    outcomes = [printable(r.outcome) for r in runs]
    durations = [f"{r.seconds:.1f}s" for r in runs]
    fixed = sum(
        width_of([h, *v])
        for h, v in (
            ("RUN ID", [r.run_id for r in runs]),
            ("OUTCOME", outcomes),
            ("TIME", durations),
        )
    )
    # Who and when get columns only where the command keeps room for one line (or 50).
    room = width - fixed - GAP * 3 - max(MIN_PROSE, min(width_of(["COMMAND", *commands]), 50))
    extra = fit_optional(
        room, [("WHO", width_of(["WHO", *who])), ("STARTED", width_of(["STARTED", *started]))]
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("RUN ID", no_wrap=True)
    table.add_column("COMMAND")
    for col in extra:
        table.add_column(col, no_wrap=True)
    table.add_column("OUTCOME", no_wrap=True)
    table.add_column("TIME", no_wrap=True, justify="right")
    for i, r in enumerate(runs):
        optional = {"WHO": who[i], "STARTED": started[i]}
        table.add_row(
            r.run_id,
            safe(commands[i]),
            *(safe(optional[col]) for col in extra),
            safe(outcomes[i]),
            durations[i],
        )
    return table


def _shared(app: AppContext) -> SharedJournal | None:
    """The team's journal, when the topology (if there is a readable one) names it."""
    from pathlib import Path

    from mr_failover.engine.shared import SharedJournal
    from mr_failover.text import printable

    if not Path(app.config).is_file():
        return None
    try:
        topology = app.topology()
    except MrFailoverError as exc:
        # The local runs are still worth listing when the topology does not load.
        click.echo(f"warning: the team's journal not read: {printable(exc, 300)}", err=True)
        return None
    return SharedJournal(app.factory(), topology.journal) if topology.journal else None


def _drill(run: RunRecord, shared: SharedJournal | None = None) -> dict[str, Any] | None:
    """A drill run's verdict and measurements; None for other runs or an unreadable journal."""
    if run.command != "drill":
        return None
    from mr_failover import drill_report
    from mr_failover.engine import journal

    try:
        records = journal.read_records(run.run_id, shared)
        d = drill_report.trend(drill_report.build(run.run_id, records))
        numbers = ("rto_seconds", "rto_target_seconds", "rpo_lag_seconds", "rpo_target_seconds")
        counts = ("canaries_written", "canaries_lost")
        if all(
            _number(d[k], optional=k.endswith("lag_seconds") or k == "rto_seconds") for k in numbers
        ) and all(isinstance(d[k], int) for k in counts):
            return d
        return None  # a journal whose measurements are not numbers is not charted
    except (
        KeyError,
        StopIteration,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        OverflowError,
        OSError,
        MrFailoverError,
    ):
        return None  # a torn or foreign journal must not hide the other runs


def _number(value: object, optional: bool) -> bool:
    if value is None:
        return optional
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value < 1e9
    )


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def drill_table(measured: Sequence[tuple[RunRecord, Mapping[str, Any]]]) -> RenderableType:
    """The drills among the runs: verdict, RTO and RPO against their targets."""
    from rich.console import Group
    from rich.table import Table

    from mr_failover.render import Prose, safe

    table = Table(box=None, pad_edge=False)
    for col in ("RUN ID", "SCENARIO", "VERDICT", "RTO", "RPO", "LOST"):
        table.add_column(col, no_wrap=col != "SCENARIO")
    for run, d in measured:
        table.add_row(
            run.run_id,
            safe(d["scenario"]),
            safe(d["verdict"]),
            f"{_secs(d['rto_seconds'])}/{d['rto_target_seconds']}s",
            f"{_secs(d['rpo_lag_seconds'])}/{d['rpo_target_seconds']}s",
            f"{d['canaries_lost']}/{d['canaries_written']}",
        )
    title = (
        "Drills, oldest first: RTO and RPO (replication lag at cut-over) measured/target, "
        "canary writes lost/written"
    )
    return Group(Prose(title), table)


def rto_chart(measured: Sequence[tuple[RunRecord, Mapping[str, Any]]]) -> RenderableType:
    """One bar per drill: its RTO, scaled against the largest RTO or target shown; the
    bars take the room the terminal leaves (at most ``CHART_WIDTH`` cells)."""
    from rich.text import Text

    from mr_failover.engine.journal import iso
    from mr_failover.render import GAP, Fitted, Prose, safe, width_of
    from mr_failover.text import printable

    scale = max(max(d["rto_seconds"] or 0.0, d["rto_target_seconds"]) for _, d in measured)
    rows = [
        (
            iso(run.started),
            printable(d["scenario"]),
            d["rto_seconds"],
            d["rto_target_seconds"],
            f"{_secs(d['rto_seconds'])}/{d['rto_target_seconds']}s",
            printable(d["verdict"]),
        )
        for run, d in measured
    ]

    def layout(width: int) -> list[RenderableType]:
        from rich.table import Table

        text_cols = (0, 1, 4, 5)
        used = sum(width_of([""] + [row[c] for row in rows]) for c in text_cols) + GAP * 4
        bars = max(10, min(CHART_WIDTH, width - used))
        table = Table(box=None, pad_edge=False, show_header=False)
        for _ in range(5):
            table.add_column(no_wrap=True)
        for started, scenario, rto, target, label, verdict in rows:
            style = "green" if rto is not None and rto <= target else "red"
            bar = Text(rto_bar(rto, target, scale, bars), style=style)
            table.add_row(started, safe(scenario), bar, label, safe(verdict))
        return [Prose("RTO per drill, oldest first (| is the target)"), table]

    return Fitted(layout)


def rto_bar(rto: float | None, target: float, scale: float, width: int = CHART_WIDTH) -> str:
    """``rto`` as a bar of ``width`` cells for ``scale`` seconds, the target marked ``|``."""
    if scale <= 0:
        return ""
    filled = 0 if rto is None else min(width, round(width * rto / scale))
    cells = ["\u2588" if i < filled else " " for i in range(width)]
    mark = min(width - 1, round(width * target / scale))
    cells[mark] = "|"
    return "".join(cells).rstrip()


def _options(params: Mapping[str, object]) -> str:
    """The run's options as they would be typed: unset ones left out, flags bare."""
    words = []
    for key, value in params.items():
        if key == "reason" or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        words.append(flag if value is True else f"{flag} {value}")
    return " ".join(words)
