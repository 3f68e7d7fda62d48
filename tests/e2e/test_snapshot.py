"""Sandbox checkpoints (what ``e2e_topology`` restores instead of reseeding each test).

A restore must give back the seeded state exactly, every time: objects' bytes, not only
their names (moto's reset closes every S3 key it tracks, and copies are tracked too),
call log, health check assignments; and a test's changes must not leak into the next.
"""

from __future__ import annotations

from typing import Any

import pytest

from mr_failover.engine.lock import KEY
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.seed_edge import TEMPLATE_BODY, TEMPLATE_KEY
from mr_failover.sandbox.snapshot import Checkpoint, checkpoint, restore
from mr_failover.topology import Topology

EAST, WEST = "us-east-1", "us-west-2"
BUCKETS = (("arc309-templates-use1", EAST), ("arc309-templates-usw2", WEST))


def _templates(aws: Any) -> list[tuple[bytes, str]]:
    out = []
    for bucket, region in BUCKETS:
        got = aws("s3", region).get_object(Bucket=bucket, Key=TEMPLATE_KEY)
        out.append((got["Body"].read(), got["ETag"]))
    return out


def _inverted(aws: Any, check_id: str) -> bool:
    config = aws("route53", EAST).get_health_check(HealthCheckId=check_id)["HealthCheck"]
    return bool(config["HealthCheckConfig"].get("Inverted", False))


def test_each_restore_gives_back_the_seeded_state(
    e2e_sandbox: Sandbox,
    e2e_topology: Topology,
    e2e_seeded: dict[str, tuple[Topology, Checkpoint]],
    control: SandboxClient,
    aws: Any,
) -> None:
    _, saved = e2e_seeded["example"]
    check_id = e2e_topology.regions[EAST].traffic.health_checks[0].id
    assert check_id is not None
    lock = e2e_topology.lock
    assert lock is not None
    seeded_calls = control.calls()
    seeded_regions = control.state()["health_check_regions"]
    assert _templates(aws) == [(TEMPLATE_BODY, _templates(aws)[0][1])] * 2
    assert not _inverted(aws, check_id)

    for _ in range(2):  # the checkpoint itself must survive a restore and a reset
        aws("s3", WEST).delete_object(Bucket=BUCKETS[1][0], Key=TEMPLATE_KEY)
        aws("route53", EAST).update_health_check(HealthCheckId=check_id, Inverted=True)
        aws("dynamodb", lock.region).put_item(TableName=lock.table, Item={KEY: {"S": "left-over"}})
        control.reset()
        assert aws("s3", EAST).list_buckets()["Buckets"] == []
        restore(e2e_sandbox, saved)

        assert _templates(aws) == [(TEMPLATE_BODY, _templates(aws)[0][1])] * 2
        assert not _inverted(aws, check_id)
        assert aws("dynamodb", lock.region).scan(TableName=lock.table)["Items"] == []
        assert control.calls()[: len(seeded_calls)] == seeded_calls
        assert control.state()["health_check_regions"] == seeded_regions


def test_a_checkpoint_only_restores_into_its_own_sandbox(e2e_sandbox: Sandbox) -> None:
    other = Sandbox()  # never started: a checkpoint needs no server
    saved = checkpoint(other)
    with pytest.raises(ValueError, match="only be restored into the sandbox that took it"):
        restore(e2e_sandbox, saved)
