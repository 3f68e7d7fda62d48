"""What a drain dry run reads in the sandbox: the other region's traffic and compute, not
its data stores, API endpoints, readiness items or CloudFront (status still reads them)."""

from __future__ import annotations

import json
from typing import Any

from mr_failover.sandbox.client import SandboxClient
from mr_failover.topology import Topology

# The account guard, Route 53, the ARC data plane (and its endpoints' cache), compute, and
# the accelerator: all that judging the other regions as absorbers and planning needs.
DRAIN_READS = {
    "sts",
    "route53",
    "route53-recovery-cluster",
    "route53-recovery-control-config",
    "ecs",
    "autoscaling",
    # The absorbers' scaling policies: autoscaling must not undo the take-over (issue 15).
    "application-autoscaling",
    "lambda",
    "globalaccelerator",
}


def services_called(control: SandboxClient, run: Any) -> set[str]:
    before = len(control.calls())
    run()
    return {c["service"] for c in control.calls()[before:]}


def test_a_drain_dry_run_reads_only_what_judging_the_absorbers_needs(
    run_cli: Any, control: SandboxClient, e2e_topology: Topology
) -> None:
    results: list[Any] = []
    drain_read = services_called(
        control, lambda: results.append(run_cli("drain", "--region", "us-east-1", "--dry-run"))
    )
    (result,) = results
    assert result.exit_code == 0, result.output
    assert "regions taking the traffic: us-west-2" in result.stdout
    assert drain_read <= DRAIN_READS
    assert {"route53", "ecs", "autoscaling", "globalaccelerator"} <= drain_read

    status_read = services_called(
        control, lambda: results.append(run_cli("--output", "json", "status"))
    )
    west = next(r for r in json.loads(results[-1].stdout)["regions"] if r["name"] == "us-west-2")
    assert west["dynamodb"] is not None and west["s3"] is not None
    assert {"dynamodb", "s3", "rds", "cloudwatch", "cloudfront"} <= status_read - drain_read
