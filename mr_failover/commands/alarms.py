"""``mr-failover alarms apply``: CloudWatch alarms on the readiness metrics (mutating)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands._mutation import (
    cli_hooks,
    current_clock,
    interrupted,
    mutation_options,
)

if TYPE_CHECKING:
    from rich.table import Table

    from mr_failover.operations.alarms import AlarmsView


@click.group("alarms")
def alarms_group() -> None:
    """CloudWatch alarms on the metrics `status --publish` writes.

    \b
    Example:
      mr-failover alarms apply --dry-run
      mr-failover alarms apply --alarm-action arn:aws:sns:us-east-1:123456789012:oncall --yes
    """


def check_region_code(region: str | None) -> None:
    """Refuse a --region that is not an AWS region code, before any AWS call (exit 2)."""
    import re

    from mr_failover.errors import UsageError
    from mr_failover.text import printable

    if region is not None and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", region):
        raise UsageError(f"'{printable(region, 60)}' is not an AWS region code (like us-east-1)")


def changes_table(view: AlarmsView) -> Table:
    from rich.table import Table

    table = Table(
        title=f"Alarms in {view.publish_region} (namespace MrFailover)",
        title_justify="left",
        box=None,
    )
    for col in ("ALARM", "CONDITION", "ACTION", "CHANGE"):
        table.add_column(col, overflow="fold")
    for c in view.changes:
        table.add_row(c.spec.name, c.spec.condition, c.action.upper(), c.detail)
    return table


@alarms_group.command("apply")
@click.option(
    "--region",
    "-r",
    help="Region of the metrics and alarms. Default: the lock table's region, else the "
    "primary region (the same rule as status --publish).",
)
@click.option(
    "--minutes",
    type=click.IntRange(1, 1440),
    default=5,
    show_default=True,
    help="Minutes a condition must hold before an alarm fires (one datapoint a minute).",
)
@click.option(
    "--alarm-action",
    "alarm_actions",
    multiple=True,
    metavar="ARN",
    help="Notify this SNS topic (or other alarm action) on ALARM and on OK (repeatable).",
)
@mutation_options
@pass_app
def apply(
    app: AppContext,
    region: str | None,
    minutes: int,
    alarm_actions: tuple[str, ...],
    yes: bool,
    dry_run: bool,
    resume: str | None,
) -> None:
    """Create or update the readiness alarms; only what differs is changed.

    Per region: cannot take over for --minutes (missing data breaches: a silent
    publisher pages too), replication lag above the topology's RPO, and, when the
    topology opts in, blocking parity mismatches and quotas short of the take-over.
    Reads the existing alarms first; a second run changes nothing. Like every mutating
    command: plan, confirmation (or --yes), account guard and lock. docs/SCHEDULED.md.

    \b
    Example:
      mr-failover alarms apply --dry-run
      mr-failover --output json alarms apply --dry-run
      mr-failover alarms apply --minutes 3 --alarm-action "$TOPIC_ARN" --yes
    """
    from mr_failover.commands import preflight
    from mr_failover.engine import run
    from mr_failover.operations import alarms as core

    check_region_code(region)
    preflight(app, None, dry_run=dry_run)
    topology = app.topology()
    # Bad input (no region to watch) is refused before any AWS call.
    core.desired_alarms(topology, minutes=minutes, actions=alarm_actions)
    params: dict[str, Any] = {
        "region": region,
        "minutes": minutes,
        "alarm_actions": list(alarm_actions) or None,
    }
    out = app.console()
    err = app.console(stderr=True)
    request = run.Request(core.COMMAND, params, yes=yes, dry_run=dry_run, resume=resume)
    factory = app.factory()
    try:
        hooks = cli_hooks(app, yes=yes)
        done = run.run(topology, factory, request, core.AlarmsJob(), hooks, clock=current_clock())
    except core.AlarmsUpToDate as exc:
        if app.output == "json":
            click.echo(json.dumps({"changed": 0, "message": str(exc)}, indent=2))
        else:
            out.print(str(exc))
        return
    except KeyboardInterrupt as exc:
        interrupted(exc, err)
    if done.finished is None:  # the dry run
        view = core.compare(
            topology,
            factory,
            region=str(done.plan.params["region"]),
            minutes=minutes,
            actions=alarm_actions,
        )
        if app.output == "json":
            doc = {"dry_run": True, **view.to_json(), "plan": done.plan.to_json()}
            click.echo(json.dumps(doc, indent=2))
        else:
            out.print(changes_table(view))
            for name in view.unmanaged:
                out.print(f"note: not implied by the topology any more, left as is: {name}")
            out.print(f"dry run: {len(done.plan.steps)} alarm(s) would change; no change made")
        return
    result = done.finished.result
    assert result is not None
    if app.output == "json":
        click.echo(
            json.dumps(
                {
                    "run_id": done.run_id,
                    "outcome": "succeeded",
                    "changed": result.applied,
                    "plan": done.plan.to_json(),
                    "journal": done.journal_path,
                },
                indent=2,
            )
        )
    else:
        from mr_failover.render import Prose, safe, show

        show(
            out,
            Prose(
                f"run {done.run_id} succeeded: {result.applied} alarm(s) created or updated, "
                f"{result.skipped} already in place, {result.seconds:.1f}s"
            ),
            Prose(safe(f"journal: {done.journal_path}")),  # a long path stays whole
        )
