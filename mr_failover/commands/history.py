"""``mr-failover history``: the runs recorded in the journal directory."""

from __future__ import annotations

import json

import click

from mr_failover.cli import AppContext, pass_app


@click.command()
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@pass_app
def history(app: AppContext, limit: int) -> None:
    """List mutating runs: id, command, who, when, outcome, duration.

    \b
    Example:
      mr-failover history --limit 5
      mr-failover --output json history
    """
    from rich.table import Table

    from mr_failover import journal

    runs = journal.list_runs(limit)
    if app.output == "json":
        click.echo(json.dumps({"runs": [r.to_json() for r in runs]}, indent=2))
        return
    if not runs:
        click.echo(f"no runs yet in {journal.runs_dir()}")
        return
    table = Table(box=None)
    for col in ("RUN ID", "COMMAND", "WHO", "STARTED", "OUTCOME", "DURATION"):
        table.add_column(col, no_wrap=col not in ("COMMAND", "WHO"), overflow="fold")
    for r in runs:
        args = " ".join(f"--{k} {v}" for k, v in r.params.items() if k != "reason")
        table.add_row(
            r.run_id,
            f"{r.command} {args}".strip(),
            # The ARN's resource part names the role or user; --output json has it whole.
            f"{r.who.os_user}@{r.who.host} ({r.who.caller_arn.split(':', 5)[-1]})",
            journal.iso(r.started),
            r.outcome,
            f"{r.seconds:.1f}s",
        )
    app.console().print(table)
