"""``mr-failover cleanup --run RUN_ID``: remove the canary writes a drill left behind.

A drill journals each canary write before making it (DynamoDB items, S3 objects); its
cleanup phase removes them from every replica. When the drill was interrupted or
crashed and will not be resumed, this command finds them in the run's journal and
removes them, through the same plan / confirm / lock / journal flow as every mutation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import preflight
from mr_failover.commands._mutation import mutation_options, run_mutation

if TYPE_CHECKING:
    from mr_failover.aws import ClientFactory
    from mr_failover.engine.plan import Plan
    from mr_failover.topology import Topology


@click.command()
@click.option(
    "--run", "run_id", metavar="RUN_ID", help="The drill run whose canary writes to remove."
)
@mutation_options
@pass_app
def cleanup(
    app: AppContext, run_id: str | None, yes: bool, dry_run: bool, resume: str | None
) -> None:
    """Remove every canary a drill run wrote (DynamoDB items, S3 objects with every
    version and delete marker), in every replica region and bucket.

    \b
    Example:
      mr-failover cleanup --run 20260101T120000Z-a1b2c3 --dry-run
      mr-failover cleanup --run 20260101T120000Z-a1b2c3 --yes
    """
    from mr_failover.errors import UsageError
    from mr_failover.operations.promote import NothingToDo

    preflight(app, None, dry_run=dry_run)

    def build(topology: Topology, factory: ClientFactory, params: Mapping[str, Any]) -> Plan:
        from mr_failover import drill as core
        from mr_failover.engine import journal

        target = params.get("run")
        if not target:
            raise UsageError("give --run RUN_ID (see mr-failover history)")
        found = journal.read_run(str(target))  # a clear error for an unknown run
        if found.command != "drill":
            raise UsageError(f"run {found.run_id} was `{found.command}`, not a drill")
        return core.plan_cleanup(topology, factory, found.run_id, journal.read_records(target))

    try:
        run_mutation(
            app,
            command="cleanup",
            params={"run": run_id},
            build=build,
            yes=yes,
            dry_run=dry_run,
            resume=resume,
        )
    except NothingToDo as done:
        app.console(stderr=app.output == "json").print(str(done))
