"""Shared fixtures for tests that talk to the sandbox over HTTP (tests/sandbox, tests/e2e).

``sandbox`` starts one in-process sandbox per test module on a loopback port, with
long simulated durations so that real time passing during a test changes nothing: tests
move the sandbox clock with ``control.advance(s)`` instead of sleeping. ``control``
resets the sandbox through the control API before each test. ``aws(service, region)``
makes boto3 clients with one attempt and short timeouts, so a fault costs no retries.

tests/e2e reuses them with, in tests/e2e/conftest.py::

    from tests.sandbox.conftest import aws, control, sandbox  # noqa: F401

Never mix these with moto's ``mock_aws`` in one process (see the Makefile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.config
import pytest

from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox, SandboxSettings

# Long enough that a slow test never sees a move finish by itself.
TEST_SETTINGS = SandboxSettings(
    aurora_failover_seconds=60.0,
    health_check_interval=10.0,
    dynamodb_replication_lag=5.0,
    dynamodb_replica_creation_seconds=5.0,
    ecs_task_start_seconds=30.0,
    s3_replication_lag=5.0,
    blackhole_max_seconds=5.0,
)
AwsFactory = Callable[[str, str], Any]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(settings=TEST_SETTINGS)
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def control(sandbox: Sandbox) -> SandboxClient:
    client = SandboxClient(sandbox.endpoint_url)
    client.reset()
    return client


@pytest.fixture
def aws(sandbox: Sandbox, control: SandboxClient) -> AwsFactory:
    config = botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=4
    )

    def make(service: str, region: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=sandbox.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    return make
