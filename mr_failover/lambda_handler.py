"""The scheduled readiness check: ``status --publish`` as an AWS Lambda handler.

``deploy/template.yaml`` runs :func:`handler` every minute (an EventBridge schedule).
Each invocation loads the topology, observes every region as ``mr-failover status`` does,
and puts the readiness metrics to CloudWatch (:mod:`mr_failover.operations.metrics`).

Configuration (environment variables; docs/SCHEDULED.md):

``MR_FAILOVER_TOPOLOGY_S3``
    ``s3://bucket/key`` of the topology file, read at every invocation (one
    ``s3:GetObject``), so a topology change needs no redeployment. Takes precedence.
``MR_FAILOVER_CONFIG``
    Else a path to the topology file (relative paths from the function's code folder,
    ``LAMBDA_TASK_ROOT``); default ``regions.yaml`` packaged with the code.
``MR_FAILOVER_PUBLISH_REGION``
    Region to publish to; default the lock table's region, else the primary region (the
    same rule as ``status --publish`` and ``alarms apply``).
``MR_FAILOVER_DEADLINE``
    Upper bound in seconds on the reads (default 30). The reads also stop
    :data:`PUBLISH_RESERVE` seconds before the invocation's remaining time runs out, so
    that publishing always has time.

A region's ``profile`` is ignored (a function has no AWS config files: its credentials
are its role's); a region's ``role_arn`` is assumed as on the command line, which the
function's role must then be allowed (``sts:AssumeRole``, not in the shipped template).

Nothing here raises to the Lambda runtime for a problem the operator can act on (a bad
topology, denied reads, a failed publish): it is logged as one ERROR line and returned in
the result, and the invocation succeeds, so EventBridge does not retry a run a minute
later would repeat. The alarms notice: no datapoint is *breaching* for ``CanTakeOver``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mr_failover.errors import MrFailoverError, UsageError

if TYPE_CHECKING:
    from mr_failover.topology import Topology

LOG = logging.getLogger("mr_failover.lambda")

TOPOLOGY_S3_ENV = "MR_FAILOVER_TOPOLOGY_S3"
CONFIG_ENV = "MR_FAILOVER_CONFIG"
PUBLISH_REGION_ENV = "MR_FAILOVER_PUBLISH_REGION"
DEADLINE_ENV = "MR_FAILOVER_DEADLINE"
DEFAULT_CONFIG = "regions.yaml"
DEFAULT_DEADLINE = 30.0
PUBLISH_RESERVE = 10.0  # seconds kept for PutMetricData after the reads
MIN_DEADLINE = 1.0
MAX_TOPOLOGY_BYTES = 1024 * 1024


def read_deadline(context: Any, env: dict[str, str]) -> float:
    """The reads' deadline: the configured one, cut to what the invocation has left."""
    try:
        wanted = float(env.get(DEADLINE_ENV) or DEFAULT_DEADLINE)
    except ValueError:
        raise UsageError(f"{DEADLINE_ENV} must be a number of seconds") from None
    if not MIN_DEADLINE <= wanted <= 900:
        raise UsageError(f"{DEADLINE_ENV} must be between 1 and 900 seconds")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        left = float(remaining()) / 1000.0 - PUBLISH_RESERVE
        wanted = min(wanted, left)
    return max(MIN_DEADLINE, wanted)


def _s3_location(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if parts.scheme != "s3" or not bucket or not key:
        raise UsageError(f"{TOPOLOGY_S3_ENV} must look like s3://bucket/key, not {uri[:200]!r}")
    return bucket, key


def topology_path(env: dict[str, str], factory_client: Any, workdir: Path) -> Path:
    """Where the topology file is: downloaded from S3, or the configured path."""
    uri = env.get(TOPOLOGY_S3_ENV)
    if uri:
        from mr_failover.aws import call

        bucket, key = _s3_location(uri)
        body = call(factory_client("s3"), "get_object", Bucket=bucket, Key=key)["Body"]
        data = body.read(MAX_TOPOLOGY_BYTES + 1)
        if len(data) > MAX_TOPOLOGY_BYTES:
            raise UsageError(f"{uri}: the topology is larger than {MAX_TOPOLOGY_BYTES} bytes")
        path = workdir / "regions.yaml"
        path.write_bytes(data)
        return path
    configured = Path(env.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if not configured.is_absolute():
        configured = Path(env.get("LAMBDA_TASK_ROOT") or ".") / configured
    return configured


def without_profiles(topo: Topology) -> Topology:
    """The topology with no region ``profile``: a Lambda function has no AWS config files,
    its credentials are its role's (a region's ``role_arn`` is still assumed)."""
    regions = {name: r.model_copy(update={"profile": None}) for name, r in topo.regions.items()}
    return topo.model_copy(update={"regions": regions})


def run(context: Any = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One scheduled check; returns the summary the handler returns."""
    from mr_failover import status, topology
    from mr_failover.aws import ClientFactory, Timeouts
    from mr_failover.operations import metrics

    env = dict(os.environ if env is None else env)
    deadline = read_deadline(context, env)
    home = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    loader = ClientFactory(None)
    with tempfile.TemporaryDirectory() as tmp:
        path = topology_path(env, lambda service: loader.client(service, home), Path(tmp))
        topo = without_profiles(topology.load(path))
    factory = ClientFactory(topo).with_timeouts(Timeouts.for_deadline(deadline))
    report = status.observe(topo, factory, deadline=deadline)
    region = metrics.publish_region(topo, env.get(PUBLISH_REGION_ENV))
    before = metrics.last_can_take_over(factory, report, region=region)
    published = metrics.publish(factory, report, region=region)
    changes = (
        metrics.notify_changes(topo, factory, report, before, LOG.warning) if published.ok else []
    )
    return {
        "application": report.application,
        "healthy": report.healthy,
        "exit_code": report.exit_code,
        "deadline_seconds": deadline,
        "regions": {
            r.name: {"verdict": r.verdict, "can_take_over": r.can_take_over} for r in report.regions
        },
        "warnings": list(report.warnings),
        "publish": {
            "region": published.region,
            "namespace": published.namespace,
            "published": published.published,
            "calls": published.calls,
            "error": published.error,
            "changes": changes,
        },
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (``mr_failover.lambda_handler.handler``)."""
    try:
        result = run(context)
    except MrFailoverError as exc:
        LOG.error("mr-failover: readiness not checked: %s", exc)
        return {"error": str(exc), "exit_code": exc.exit_code}
    if result["publish"]["error"]:
        LOG.error("mr-failover: metrics not published: %s", result["publish"]["error"])
    LOG.info("mr-failover: %s", json.dumps(result, sort_keys=True))
    return result
