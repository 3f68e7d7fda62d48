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
    from rich.table import Table

    from mr_failover.engine import journal
    from mr_failover.render import safe
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
    table = Table(box=None)
    for col in ("RUN ID", "COMMAND", "WHO", "STARTED", "OUTCOME", "DURATION"):
        table.add_column(col, no_wrap=col not in ("COMMAND", "WHO"), overflow="fold")
    for r in runs:
        args = _options(r.params)
        # Journal text is shown escaped, never as markup.
        table.add_row(
            r.run_id,
            safe(f"{r.command} {args}".strip()),
            # The ARN's resource part names the role or user; --output json has it whole.
            safe(f"{r.who.os_user}@{r.who.host} ({r.who.caller_arn.split(':', 5)[-1]})"),
            journal.iso(r.started),
            safe(r.outcome),
            f"{r.seconds:.1f}s",
        )
    console = app.console()
    console.print(table)
    # Oldest first, so the table and the chart read down as time goes.
    measured = [(r, drills[r.run_id]) for r in reversed(runs) if r.run_id in drills]
    if measured:
        console.print(drill_table(measured))
        for run, d in measured:
            if d["stopped_by"]:
                console.print(safe(f"{run.run_id} was stopped by {d['stopped_by']}"))
    if len(measured) > 1:
        console.print(rto_chart(measured))


def _shared(app: AppContext) -> SharedJournal | None:
    """The team's journal, when the topology (if there is a readable one) names it."""
    from pathlib import Path

    from mr_failover.engine.shared import SharedJournal

    if not Path(app.config).is_file():
        return None
    topology = app.topology()
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
    from rich.table import Table

    table = Table(title="Drills, oldest first", title_justify="left", box=None)
    for col in ("RUN ID", "SCENARIO", "VERDICT", "RTO", "RPO (LAG)", "CANARIES LOST"):
        table.add_column(col, no_wrap=True)
    from mr_failover.render import safe

    for run, d in measured:
        table.add_row(
            run.run_id,
            safe(d["scenario"]),
            safe(d["verdict"]),
            f"{_secs(d['rto_seconds'])} of {d['rto_target_seconds']}s",
            f"{_secs(d['rpo_lag_seconds'])} of {d['rpo_target_seconds']}s",
            f"{d['canaries_lost']} of {d['canaries_written']}",
        )
    return table


def rto_chart(measured: Sequence[tuple[RunRecord, Mapping[str, Any]]]) -> RenderableType:
    """One bar per drill: its RTO, scaled against the largest RTO or target shown."""
    from rich.table import Table
    from rich.text import Text

    from mr_failover.engine.journal import iso
    from mr_failover.render import safe

    scale = max(max(d["rto_seconds"] or 0.0, d["rto_target_seconds"]) for _, d in measured)
    table = Table(
        title="RTO per drill, oldest first (| is the target)", title_justify="left", box=None
    )
    for col in ("STARTED", "SCENARIO", "RTO", "", "VERDICT"):
        table.add_column(col, no_wrap=True)
    for run, d in measured:
        rto, target = d["rto_seconds"], d["rto_target_seconds"]
        style = "green" if rto is not None and rto <= target else "red"
        table.add_row(
            iso(run.started),
            safe(d["scenario"]),
            Text(rto_bar(rto, target, scale), style=style),
            f"{_secs(rto)} of {target}s",
            safe(d["verdict"]),
        )
    return table


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
