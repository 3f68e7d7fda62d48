"""``mr-failover promote --region R``: make a region's Aurora cluster the writer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import preflight
from mr_failover.commands._complete import complete_region
from mr_failover.commands._mutation import (
    current_clock,
    mutation_options,
    require_region,
    run_mutation,
)

if TYPE_CHECKING:
    from mr_failover.aws import ClientFactory
    from mr_failover.engine.plan import Plan
    from mr_failover.topology import Topology


@click.command()
@click.option(
    "--region",
    "-r",
    shell_complete=complete_region,
    help="Region whose Aurora cluster becomes the writer.",
)
@click.option(
    "--mode",
    type=click.Choice(["switchover", "failover", "replica"]),
    help="switchover: planned, no data loss (default while the writer region answers); "
    "failover: the writer region is down (default then; needs --allow-data-loss); "
    "replica: promote a cross-region read replica cluster (aurora.mode: replica).",
)
@click.option(
    "--allow-data-loss",
    is_flag=True,
    help="Accept losing the writes not yet replicated (failover; replica promotion).",
)
@click.option(
    "--beyond-rpo",
    is_flag=True,
    help="Let a failover lose more than the RPO, or an amount no lag datapoint measures.",
)
@mutation_options
@pass_app
def promote(
    app: AppContext,
    region: str | None,
    mode: str | None,
    allow_data_loss: bool,
    beyond_rpo: bool,
    yes: bool,
    dry_run: bool,
    resume: str | None,
) -> None:
    """Promote a region's Aurora cluster to writer (global switchover/failover or replica).

    Checks before the first change: the target exists, is available and has a DB
    instance, engine versions allow the move, a failover's measured lag is within the
    RPO (a switchover loses nothing), the target's traffic is healthy. Waits
    for the move to end, verifies the new writer, prints its endpoint.

    \b
    Example:
      mr-failover promote --region us-west-2 --dry-run
      mr-failover promote --region us-west-2 --yes
      mr-failover promote --region us-west-2 --mode failover --allow-data-loss --yes
    """
    from mr_failover.operations.promote import NothingToDo, promoted_writer
    from mr_failover.render import Prose, safe, show
    from mr_failover.text import printable

    planned: dict[str, str] = {}

    def build(topology: Topology, factory: ClientFactory, params: Mapping[str, Any]) -> Plan:
        from datetime import UTC, datetime

        from mr_failover.operations.promote import plan_promotion

        target = require_region(params)
        planned["region"] = target
        return plan_promotion(
            topology,
            factory,
            target,
            mode=params.get("mode"),
            allow_data_loss=bool(params.get("allow_data_loss")),
            beyond_rpo=bool(params.get("beyond_rpo")),
            resuming=resume is not None,
            # Metrics are judged at the executor's "now" (tests inject the clock).
            now=datetime.fromtimestamp(current_clock().time(), UTC),
        )

    # None, not False: a resume given no flag must not clash with the journaled options.
    params = {
        "region": region,
        "mode": mode,
        "allow_data_loss": True if allow_data_loss else None,
        "beyond_rpo": True if beyond_rpo else None,
    }
    out = app.console(stderr=app.output == "json")
    preflight(app, region, dry_run=dry_run)
    try:
        run_mutation(
            app,
            command="promote",
            params=params,
            build=build,
            yes=yes,
            dry_run=dry_run,
            resume=resume,
        )
    except NothingToDo as done:
        if app.output == "json":
            message = printable(str(done))
            click.echo(json.dumps({"nothing_to_do": True, "message": message, "exit_code": 0}))
        else:
            out.print(safe(str(done)))
        return
    if dry_run:
        return
    writer = promoted_writer(app.topology(), app.factory(), planned["region"])
    lines = [
        Prose(
            printable(
                f"writer: {writer.cluster} in {writer.region} ({writer.status}), endpoint "
                f"{writer.endpoint or 'not reported'}"
            )
        )
    ]
    if writer.rebuilding:
        text = (
            f"rebuilding: {', '.join(writer.rebuilding)} (pending-resync): AWS rebuilds these "
            "secondaries after a failover, minutes to hours; they serve no reads meanwhile"
        )
        lines.append(Prose(printable(text)))
    lines.append(
        Prose(
            "reminder: parameter groups and alarms are not inherited from the old writer; "
            "check the new writer's, and point the application at its endpoint"
        )
    )
    show(out, *lines)
