"""``mr-failover fence --region R``: a split-brain region's database stops taking writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import preflight
from mr_failover.commands._complete import complete_region
from mr_failover.commands._mutation import (
    current_clock,
    mutation_options,
    override_option,
    requested_overrides,
    require_region,
    run_mutation,
)

if TYPE_CHECKING:
    from mr_failover.aws import ClientFactory
    from mr_failover.engine.plan import Plan
    from mr_failover.topology import Topology


def _build(topology: Topology, factory: ClientFactory, params: Mapping[str, Any]) -> Plan:
    from mr_failover.operations.fence import plan_fence

    return plan_fence(
        topology,
        factory,
        require_region(params),
        database=params.get("database"),
        clock=current_clock(),
        override_safety_rules=requested_overrides(params),
    )


@click.command()
@click.option(
    "--region",
    "-r",
    shell_complete=complete_region,
    help="Region whose database accepts writes it must not.",
)
@click.option(
    "--database",
    type=click.Choice(["stop", "rejoin"]),
    help="stop (default): StopDBCluster, the diverged data is kept; rejoin: rename the "
    "diverged cluster to <id>-fenced-<UTC stamp>, stop it, and create <id> again as a new "
    "secondary of the global cluster (global mode only).",
)
@override_option
@mutation_options
@pass_app
def fence(
    app: AppContext,
    region: str | None,
    database: str | None,
    override_safety_rules: tuple[str, ...],
    yes: bool,
    dry_run: bool,
    resume: str | None,
) -> None:
    """Fence a split-brain region: its traffic stays drained, its database takes no writes.

    For a region whose Aurora cluster accepts writes without being the global writer (a
    cluster detached by hand, an old primary back after an unplanned failover). Refuses
    when the region holds the writer; when its database is already fenced (stopped, or a
    secondary), says so and only keeps its traffic drained. Keeping the traffic drained
    uses drain's lever; an ARC safety rule that blocks it is named in the plan, and
    --override-safety-rule overrides it as for drain.

    \b
    Example:
      mr-failover fence --region us-east-1 --dry-run
      mr-failover fence --region us-east-1 --yes
      mr-failover fence --region us-east-1 --database rejoin --yes
      mr-failover fence --region us-east-1 --override-safety-rule "$RULE_ARN"
    """
    preflight(app, region, dry_run=dry_run)
    run_mutation(
        app,
        command="fence",
        params={
            "region": region,
            "database": database,
            "override_safety_rules": list(override_safety_rules) or None,
        },
        build=_build,
        yes=yes,
        dry_run=dry_run,
        resume=resume,
    )
