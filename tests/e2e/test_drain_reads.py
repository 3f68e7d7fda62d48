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
    # The Aurora writer as AWS reports it, for drain's note about the region it drains
    # (issue 13: decide from AWS, not from the file's roles).
    "rds",
    # Route 53's health metrics (AWS/Route53, us-east-1): GetHealthCheckStatus is a
    # diagnostic call, not for production use (issue 15).
    "cloudwatch",
}


def services_called(control: SandboxClient, run: Any) -> set[str]:
    return {c["service"] for c in calls_made(control, run)}


def calls_made(control: SandboxClient, run: Any) -> list[dict[str, Any]]:
    before = len(control.calls())
    run()
    return list(control.calls()[before:])


def test_a_drain_dry_run_reads_only_what_judging_the_absorbers_needs(
    run_cli: Any, control: SandboxClient, e2e_topology: Topology
) -> None:
    results: list[Any] = []
    calls = calls_made(
        control, lambda: results.append(run_cli("drain", "--region", "us-east-1", "--dry-run"))
    )
    drain_read = {c["service"] for c in calls}
    (result,) = results
    assert result.exit_code == 0, result.output
    assert "regions taking the traffic: us-west-2" in result.stdout
    assert drain_read <= DRAIN_READS
    assert {"route53", "ecs", "autoscaling", "globalaccelerator"} <= drain_read
    # CloudWatch only for the health checks' metrics, in us-east-1 where Route 53 sends them.
    metric_reads = {(c["region"], c["action"]) for c in calls if c["service"] == "cloudwatch"}
    assert metric_reads == {("us-east-1", "GetMetricData")}

    status_read = services_called(
        control, lambda: results.append(run_cli("--output", "json", "status"))
    )
    west = next(r for r in json.loads(results[-1].stdout)["regions"] if r["name"] == "us-west-2")
    assert west["dynamodb"] is not None and west["s3"] is not None
    assert {"dynamodb", "s3", "cloudfront"} <= status_read - drain_read
    rds_reads = {c["action"] for c in calls if c["service"] == "rds"}
    assert rds_reads <= {"DescribeGlobalClusters", "DescribeDBClusters"}
