"""``mr-failover discover`` against a plain moto server (not the sandbox).

The same three-region application as tests/e2e/test_discover.py, created with boto3 in
``python -m moto.server`` run as a child process (moto's backends are process-global, so
it never shares a process with a sandbox). A plain moto server has none of the sandbox's
simulations: no health checkers, no replication, no Global Accelerator, and (moto 5.2.5)
``UpdateTable`` with ``ReplicaUpdates`` creates no replica, so the "global" table is a
regional table there.
``discover`` must say so and leave it out (never a guess); everything else must match a
hand-written topology of the same application, by ``status``'s writer, verdicts and
reasons.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner, Result

from mr_failover import topology as topo
from tests.e2e.test_discover import REGIONS, SHOP_SEEDS, build_shop, hand_written


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert child.poll() is None, "moto.server ended at start"
                assert time.monotonic() < deadline, "moto.server did not listen within 30 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.kill()
        child.wait(timeout=10)


@pytest.fixture
def env(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": moto_server,
        "MR_FAILOVER_STATE_DIR": str(state),
        "NO_COLOR": "1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE", "MR_FAILOVER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def _cli(env: dict[str, str], *args: str) -> Result:
    from mr_failover.cli import cli

    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _status(env: dict[str, str], config: Path) -> dict[str, Any]:
    result = _cli(env, "--config", str(config), "--output", "json", "status")
    assert result.exit_code in (0, 4, 6), result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_discover_in_a_plain_moto_server_matches_a_hand_written_topology(
    moto_server: str, env: dict[str, str], tmp_path: Path
) -> None:
    def aws(service: str, region: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=moto_server,
            config=Config(retries={"max_attempts": 1}),
        )

    build_shop(aws, None)
    # The fidelity gap this test is about: moto records no replica for ReplicaUpdates.
    table = aws("dynamodb", "us-east-1").describe_table(TableName="shop-orders")["Table"]
    assert not table.get("Replicas"), "moto now creates replicas: compare the tables too"

    out = tmp_path / "discovered.yaml"
    result = _cli(
        env, "discover", "--regions", ",".join(REGIONS), "--output", str(out), *SHOP_SEEDS
    )
    assert "Traceback" not in result.output
    # A problem (the table is not global here) is exit 1, with the file written.
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())  # wrapped at 80 columns
    assert "shop-orders has no replica" in said
    # moto has no Global Accelerator: said, never a guess (and the rest is still written).
    assert "tagged accelerators (Global Accelerator) not read" in said
    assert _cli(env, "validate", str(out)).exit_code == 0

    found = topo.load(out)
    assert list(found.regions) == list(REGIONS)
    assert found.writer_region() == "us-east-1"
    assert all(not r.dynamodb_tables for r in found.regions.values())
    targets = {t.region for t in found.regions["us-east-1"].s3_buckets[0].replicate_to}
    assert targets == {"us-west-2", "eu-west-1"}
    for region, spec in found.regions.items():
        assert spec.aurora is not None and spec.aurora.cluster == f"shop-{region}"
        assert [r.set_identifier for r in spec.traffic.records] == [region]

    hand = tmp_path / "hand.yaml"
    hand.write_text(hand_written(tables=False))
    ours, theirs = _status(env, out), _status(env, hand)
    pick = ("name", "is_writer", "verdict", "can_take_over", "reasons")
    assert [{k: r[k] for k in pick} for r in ours["regions"]] == [
        {k: r[k] for k in pick} for r in theirs["regions"]
    ]
    assert [r["is_writer"] for r in ours["regions"]] == [True, False, False]
