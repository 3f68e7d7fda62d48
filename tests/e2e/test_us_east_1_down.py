"""The headline of issue 8: us-east-1 is down, and a drain that needs it cannot happen.

Route 53's API (health checks, records) is a control plane served from us-east-1 only;
ARC routing controls are a data plane served by five regional endpoints. With every
service of us-east-1 down (``fail_region``, which also takes the cluster's us-east-1
endpoint away), ``drain --region us-east-1`` with ``drain_lever: routing_control`` goes
through one of the four other endpoints, then ``promote --mode failover`` moves the
writer to us-west-2 and ``status`` shows the result. The same drain with
``drain_lever: health_check_inversion`` fails in planning, in one line, with nothing
changed. Draining us-east-1 while us-west-2 is drained is still refused.

The topology is the outage test's (lock with ``fallback_regions: [us-west-2]``); the
executor's clock is the sandbox's, so the records' 60 s TTL wait does not sleep.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mr_failover.errors import EXIT_FAILED, EXIT_NOT_READY, EXIT_REFUSED
from mr_failover.sandbox.client import SandboxClient
from tests.e2e.conftest import SandboxAdvancingClock
from tests.e2e.test_arc_drain import arc_config, served_updates, states  # noqa: F401
from tests.e2e.test_outage_primary_down import e2e_topology  # noqa: F401
from tests.e2e.test_promote_e2e import writer_region

EAST, WEST = "us-east-1", "us-west-2"


def test_routing_control_drain_and_failover_while_us_east_1_is_down(
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    arc_config: Path,  # noqa: F811
    clock: SandboxAdvancingClock,
) -> None:
    config = str(arc_config)
    control.fail_region(EAST)  # every service, the ARC endpoint in us-east-1 too
    (east_endpoint,) = [e for e in control.arc_endpoints() if e["region"] == EAST]
    assert east_endpoint["region_down"] is True
    updates_before = len(served_updates(control))
    r53_before = len(control.calls(service="route53"))

    drained = run_cli("--config", config, "drain", "--region", EAST, "--yes")
    assert drained.exit_code == 0, drained.output
    # The one mutating ARC call, served once, by an endpoint outside us-east-1.
    (served,) = served_updates(control)[updates_before:]
    assert served["region"] != EAST
    # Route 53's API was asked (status reads) but never answered, and no change went to it.
    r53 = control.calls(service="route53")[r53_before:]
    assert r53, "status should have tried Route 53's API"
    assert all(int(c["status"]) == 0 for c in r53), r53
    assert not any(c["mutating"] for c in r53)
    # The plan says what it could not read about the region taking the traffic.
    assert (
        f"{WEST}: not verified: its health checks and records were not read "
        f"(route53:ListHealthChecks in {EAST} did not answer)" in " ".join(drained.stdout.split())
    )

    promoted = run_cli(
        "--config",
        config,
        "promote",
        "--region",
        WEST,
        "--mode",
        "failover",
        "--allow-data-loss",
        # The writer's region is down, so the measured lag grows past the RPO: a failover
        # beyond it must be asked for (issue 15 item 5).
        "--beyond-rpo",
        "--yes",
    )
    assert promoted.exit_code == 0, promoted.output
    assert writer_region(aws) == WEST

    shown = run_cli("--config", config, "status")
    # NOT READY: us-east-1 does not answer; that is the outage, not a failure of the run.
    assert shown.exit_code == EXIT_NOT_READY, shown.output
    east_row = next(line for line in shown.stdout.splitlines() if line.startswith(EAST))
    assert "UNREACHABLE" in east_row
    doc = json.loads(run_cli("--config", config, "--output", "json", "status").stdout)
    regions = {r["name"]: r for r in doc["regions"]}
    assert regions[EAST]["verdict"] == "unreachable"
    assert regions[WEST]["verdict"] == "serving"
    assert regions[WEST]["is_writer"] is True
    assert states(run_cli, arc_config) == {EAST: ["OFF"], WEST: ["ON"]}


def test_health_check_inversion_drain_fails_in_planning_in_one_line(
    run_cli: Any, control: SandboxClient, e2e_env: dict[str, str], clock: SandboxAdvancingClock
) -> None:
    # The example topology's lever: inverting us-east-1's health checks.
    control.fail_region(EAST)
    mutating_before = len(control.calls(mutating=True))

    result = run_cli("drain", "--region", EAST, "--yes")
    assert result.exit_code == EXIT_FAILED, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: route53:GetHealthCheck in {EAST} failed: ")
    assert f"a control plane served only from {EAST}" in line
    assert f"drain_lever health_check_inversion cannot drain {EAST}" in line
    assert "nothing was changed" in line
    assert "use drain_lever: routing_control" in line and f"wait until {EAST} answers" in line
    # Refused in planning: not even an attempt at a change (no lock, no scale-up).
    assert control.calls(mutating=True)[mutating_before:] == []


def test_draining_us_east_1_is_refused_when_us_west_2_is_drained(
    run_cli: Any,
    control: SandboxClient,
    arc_config: Path,  # noqa: F811
    clock: SandboxAdvancingClock,
) -> None:
    config = str(arc_config)
    west = run_cli("--config", config, "drain", "--region", WEST, "--no-scale-up", "--yes")
    assert west.exit_code == 0, west.output
    control.fail_region(EAST)
    updates_before = len(served_updates(control))

    refused = run_cli("--config", config, "drain", "--region", EAST, "--yes")
    assert refused.exit_code == EXIT_REFUSED, refused.output
    assert f"refused: draining {EAST} would leave no region able to serve" in refused.stderr
    assert f"its routing control {WEST}/" in refused.stderr
    assert served_updates(control)[updates_before:] == []
    assert states(run_cli, arc_config) == {EAST: ["ON"], WEST: ["OFF"]}
