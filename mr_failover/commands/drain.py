"""``mr-failover drain|undrain --region R``: move a region's traffic away, and back."""

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


def _build_drain(topology: Topology, factory: ClientFactory, params: Mapping[str, Any]) -> Plan:
    from mr_failover.operations.drain import plan_drain

    scale_up = params.get("scale_up")
    return plan_drain(
        topology,
        factory,
        require_region(params),
        scale_up=scale_up is not False,
        clock=current_clock(),
        override_safety_rules=requested_overrides(params),
    )


def _build_undrain(topology: Topology, factory: ClientFactory, params: Mapping[str, Any]) -> Plan:
    from mr_failover.operations.drain import plan_undrain

    scale_back = params.get("scale_back")
    return plan_undrain(
        topology,
        factory,
        require_region(params),
        scale_back=None if scale_back is None else bool(scale_back),
        clock=current_clock(),
        override_safety_rules=requested_overrides(params),
    )


@click.command()
@click.option("--region", "-r", shell_complete=complete_region, help="Region to drain.")
@click.option(
    "--scale-up/--no-scale-up",
    default=None,
    help="Raise the other regions' ECS services and Auto Scaling groups to their "
    "takeover_desired first (default: on where takeover_desired is set).",
)
@override_option
@mutation_options
@pass_app
def drain(
    app: AppContext,
    region: str | None,
    scale_up: bool | None,
    override_safety_rules: tuple[str, ...],
    yes: bool,
    dry_run: bool,
    resume: str | None,
) -> None:
    """Move a region's traffic to the other regions, with the topology's drain lever.

    Refuses when no other region serves and can absorb the load. Scales the other
    regions up to takeover_desired, inverts the region's health checks, sets its
    weighted records to weight 0, its Global Accelerator dial to 0 or its ARC routing
    controls OFF, waits until Route 53 treats it as out and for the records' TTL, then
    verifies. An ARC safety rule that would block the change refuses the drain (exit 3)
    unless overridden with --override-safety-rule.

    \b
    Example:
      mr-failover drain --region us-east-1 --dry-run
      mr-failover drain --region us-east-1 --yes
      mr-failover drain --region us-east-1 --no-scale-up --yes
      mr-failover drain --region us-east-1 --override-safety-rule "$RULE_ARN"
    """
    preflight(app, region, dry_run=dry_run)
    run_mutation(
        app,
        command="drain",
        params={
            "region": region,
            "scale_up": scale_up,
            "override_safety_rules": list(override_safety_rules) or None,
        },
        build=_build_drain,
        yes=yes,
        dry_run=dry_run,
        resume=resume,
    )


@click.command()
@click.option(
    "--region", "-r", shell_complete=complete_region, help="Region to bring traffic back to."
)
@click.option(
    "--scale-back/--no-scale-back",
    default=None,
    help="Return the other regions' capacity to the counts the last drain recorded "
    "(default: on when this machine's journal has them).",
)
@override_option
@mutation_options
@pass_app
def undrain(
    app: AppContext,
    region: str | None,
    scale_back: bool | None,
    override_safety_rules: tuple[str, ...],
    yes: bool,
    dry_run: bool,
    resume: str | None,
) -> None:
    """Bring traffic back to a drained region, then scale the other regions back.

    Clears the health checks' inversion, restores the topology's declared weights or
    dial, or turns the ARC routing controls back ON, waits until Route 53 serves the
    region again and for the records' TTL, then scales the other regions back to what
    the drain recorded.

    \b
    Example:
      mr-failover undrain --region us-east-1 --dry-run
      mr-failover undrain --region us-east-1 --yes
      mr-failover undrain --region us-east-1 --no-scale-back --yes
    """
    preflight(app, region, dry_run=dry_run)
    run_mutation(
        app,
        command="undrain",
        params={
            "region": region,
            "scale_back": scale_back,
            "override_safety_rules": list(override_safety_rules) or None,
        },
        build=_build_undrain,
        yes=yes,
        dry_run=dry_run,
        resume=resume,
    )
