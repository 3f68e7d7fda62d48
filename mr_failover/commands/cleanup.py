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
    from mr_failover.operations.promote import NothingToDo

    preflight(app, None, dry_run=dry_run)
    if run_id is not None:
        _drill_records(run_id)  # before any AWS call: an unknown run is a usage error
    elif resume is None:
        from mr_failover.errors import UsageError

        raise UsageError("give --run RUN_ID (the drill run, see mr-failover history)")

    def build(topology: Topology, factory: ClientFactory, params: Mapping[str, Any]) -> Plan:
        from mr_failover import drill as core

        target = str(params["run"])
        return core.plan_cleanup(topology, factory, target, _drill_records(target))

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


def _drill_records(run_id: str) -> list[dict[str, Any]]:
    """The journal records of drill run ``run_id`` (a torn last line from a crash is left
    out); UsageError when there is no such run or it is not a drill."""
    from mr_failover.engine import journal
    from mr_failover.errors import UsageError

    records = journal.read_records(run_id)  # a malformed id is a usage error
    head = next((r for r in records if r.get("type") == "run"), None)
    if head is None:
        raise UsageError(f"no run {run_id} in {journal.runs_dir()} (see mr-failover history)")
    if head.get("command") != "drill":
        raise UsageError(f"run {run_id} was `{head.get('command')}`, not a drill")
    return records
