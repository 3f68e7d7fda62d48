"""Shared fixtures for tests that talk to the sandbox over HTTP (tests/sandbox, tests/e2e).

``sandbox`` starts one in-process sandbox per test module on a loopback port, with
long simulated durations so that real time passing during a test changes nothing: tests
move the sandbox clock with ``control.advance(s)`` instead of sleeping. ``control``
resets the sandbox through the control API before each test (and exports its token).
``aws(service, region)`` makes boto3 clients with one attempt and short timeouts, so a
fault costs no retries.

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

from mr_failover.sandbox.client import TOKEN_ENV, SandboxClient
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
def control(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> SandboxClient:
    """The control API client, after a reset. The sandbox's token is also exported as
    ``MR_FAILOVER_SANDBOX_TOKEN``, so the CLI (in-process or a child) reaches the
    control API, as after ``sandbox up`` in the user's folder."""
    monkeypatch.setenv(TOKEN_ENV, sandbox.token)
    client = SandboxClient(sandbox.endpoint_url, token=sandbox.token)
    client.reset()
    return client


def client_factory(endpoint_url: str, config: botocore.config.Config) -> AwsFactory:
    """``make(service, region)``: boto3 clients for the sandbox at ``endpoint_url``."""

    def make(service: str, region: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    return make


@pytest.fixture
def aws(sandbox: Sandbox, control: SandboxClient) -> AwsFactory:
    config = botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=4
    )
    return client_factory(sandbox.endpoint_url, config)


# --- a frozen-clock sandbox: only ``advance()`` moves it ----------------------------------

FROZEN_LAG = 0.2  # DynamoDB and S3 replication lag of ``frozen_sandbox``


@pytest.fixture(scope="module")
def frozen_sandbox() -> Iterator[Sandbox]:
    """One sandbox per module on a frozen clock, with ``FROZEN_LAG`` replication lag."""
    sb = Sandbox(
        settings=SandboxSettings(
            dynamodb_replication_lag=FROZEN_LAG, s3_replication_lag=FROZEN_LAG, tick=0.05
        ),
        clock=lambda: 1000.0,  # frozen: only advance() moves it
    )
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def sb(frozen_sandbox: Sandbox) -> Sandbox:
    """``frozen_sandbox``, reset before the test."""
    frozen_sandbox.reset()
    return frozen_sandbox


@pytest.fixture
def client(sb: Sandbox) -> AwsFactory:
    """boto3 clients for ``sb``: one attempt, short timeouts."""
    config = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
    return client_factory(sb.endpoint_url, config)
