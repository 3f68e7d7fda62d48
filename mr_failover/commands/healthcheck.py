"""``mr-failover health-check invert|restore --region R``: the Route 53 failover lever."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import preflight
from mr_failover.commands._complete import complete_region
from mr_failover.commands._mutation import mutation_options, require_region, run_mutation

if TYPE_CHECKING:
    from mr_failover.aws import ClientFactory
    from mr_failover.engine.plan import Plan
    from mr_failover.topology import Topology


@click.group("health-check")
def health_check() -> None:
    """Invert or restore a region's Route 53 health checks (moves traffic).

    \b
    Example:
      mr-failover health-check invert --region us-east-1 --dry-run
      mr-failover health-check restore --region us-east-1 --yes
    """


def _builder(invert: bool) -> Any:
    def build(topology: Topology, factory: ClientFactory, params: Mapping[str, Any]) -> Plan:
        from mr_failover.operations.healthcheck import plan_inversion

        return plan_inversion(topology, factory, require_region(params), invert=invert)

    return build


@health_check.command()
@click.option(
    "--region", "-r", shell_complete=complete_region, help="Region whose health checks to invert."
)
@mutation_options
@pass_app
def invert(
    app: AppContext, region: str | None, yes: bool, dry_run: bool, resume: str | None
) -> None:
    """Invert a region's health checks so Route 53 sends its traffic elsewhere.

    Waits until the checks' effective status is unhealthy, then verifies. Refuses to
    invert the last region serving healthy traffic.

    \b
    Example:
      mr-failover health-check invert --region us-east-1 --dry-run
      mr-failover health-check invert --region us-east-1 --yes
    """
    preflight(app, region, dry_run=dry_run)
    run_mutation(
        app,
        command="health-check invert",
        params={"region": region},
        build=_builder(invert=True),
        yes=yes,
        dry_run=dry_run,
        resume=resume,
    )


@health_check.command()
@click.option(
    "--region", "-r", shell_complete=complete_region, help="Region whose health checks to restore."
)
@mutation_options
@pass_app
def restore(
    app: AppContext, region: str | None, yes: bool, dry_run: bool, resume: str | None
) -> None:
    """Clear the inversion of a region's health checks and wait until it is healthy again.

    \b
    Example:
      mr-failover health-check restore --region us-east-1 --yes
    """
    preflight(app, region, dry_run=dry_run)
    run_mutation(
        app,
        command="health-check restore",
        params={"region": region},
        build=_builder(invert=False),
        yes=yes,
        dry_run=dry_run,
        resume=resume,
    )
