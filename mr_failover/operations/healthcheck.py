"""``health-check invert|restore``: flip the inversion of one region's Route 53 checks.

Inverting a region's checks makes Route 53 treat the region as unhealthy, which moves
its traffic to the other regions: the classic manual failover lever. The plan refuses
what would hurt: inverting the last region that serves healthy traffic (Route 53 then
answers as if every record were healthy), and inverting checks whose checkers already
fail (inversion would make a dead region look healthy). A disabled check is inverted
like any other: Route 53 treats a disabled check as healthy, so a disabled, inverted
check is unhealthy (UpdateHealthCheck, Amazon Route 53 API Reference; rule
``route53-disabled-inverted``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mr_failover.engine.plan import Plan
from mr_failover.errors import RefusedError, UsageError
from mr_failover.resources.route53 import (
    METRICS_REGION,
    HealthCheckFinding,
    observe_checks_of,
    require_lever_moves_traffic,
)
from mr_failover.resources.route53_steps import ROUTE53_REGION, describe, inversion_step

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Topology


def observe_checks(
    topology: Topology, factory: ClientSource
) -> dict[str, list[HealthCheckFinding]]:
    """Every region's health checks, read now."""
    client = factory.client("route53", ROUTE53_REGION)
    return observe_checks_of(
        client,
        {name: region.traffic for name, region in topology.regions.items()},
        cloudwatch=factory.client("cloudwatch", METRICS_REGION),
    )


def serving(checks: list[HealthCheckFinding]) -> bool:
    """A region serves healthy traffic when it has checks and all are effectively healthy."""
    return bool(checks) and all(c.effective_healthy is True for c in checks)


def plan_inversion(topology: Topology, factory: ClientSource, region: str, *, invert: bool) -> Plan:
    """The plan for ``health-check invert`` (``invert``) or ``restore`` of ``region``."""
    if region not in topology.regions:
        raise UsageError(
            f"unknown region {region!r}; the topology declares {', '.join(topology.regions)}"
        )
    checks = topology.regions[region].traffic.health_checks
    if not checks:
        raise UsageError(
            f"{region} has no health checks in the topology (regions.{region}.traffic)"
        )
    observed = observe_checks(topology, factory)
    command = f"health-check {'invert' if invert else 'restore'}"
    if invert:
        for state in observed[region]:
            if state.raw_healthy is False and not state.inverted and not state.disabled:
                raise RefusedError(
                    f"refused: {describe(state)}: the region already looks unhealthy, and "
                    "inverting would make it look healthy and send traffic to it"
                )
        others = {n: c for n, c in observed.items() if n != region}
        if not any(serving(c) for c in others.values()):
            why = "; ".join(
                ", ".join(describe(c) for c in cs) or f"{n} has no health checks"
                for n, cs in others.items()
            )
            raise RefusedError(
                f"refused: inverting {region} would leave no region serving healthy traffic "
                f"({why}); restore another region first (mr-failover health-check restore "
                "--region R)"
            )
    client = factory.client("route53", ROUTE53_REGION)
    cloudwatch = factory.client("cloudwatch", METRICS_REGION)
    if invert:
        require_lever_moves_traffic(
            client,
            region,
            topology.regions[region],
            observed[region],
            lever="health_check_inversion",
        )
    steps = tuple(
        inversion_step(client, hc, state.id, region=region, inverted=invert, cloudwatch=cloudwatch)
        for hc, state in zip(checks, observed[region], strict=True)
    )
    notes: tuple[str, ...] = (
        f"Route 53 UpdateHealthCheck is a control-plane call served from {ROUTE53_REGION}.",
        "Traffic moves after about request interval x failure threshold + record TTL "
        "+ resolver caching (typically 1-3 minutes).",
    )
    disabled = [s.name for s in observed[region] if s.disabled]
    if disabled and not invert:
        notes += (
            f"{', '.join(disabled)} disabled: restored, Route 53 treats it as healthy "
            "whatever the endpoint does (its checkers do not run); enable it to have the "
            "endpoint checked again.",
        )
    return Plan(command=command, params={"region": region}, steps=steps, notes=notes)
