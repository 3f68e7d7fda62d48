"""The account guard refuses credentials for another account before anything else."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover.engine.guard import require_account
from mr_failover.errors import CredentialsError, RefusedError
from mr_failover.topology import Topology

TOPOLOGY = Topology.model_validate(
    {
        "application": "arc309",
        "account_id": "123456789012",
        "primary_region": "us-west-2",
        "policy": {"rpo_seconds": 60, "rto_seconds": 900},
        "regions": {"us-east-1": {}, "us-west-2": {}},
    }
)


class Clients:
    def __init__(self, sts: Any) -> None:
        self.sts = sts
        self.asked: list[tuple[str, str]] = []

    def client(self, service: str, region: str) -> Any:
        self.asked.append((service, region))
        return self.sts


@pytest.fixture
def sts() -> Any:
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client("sts", region_name="us-west-2")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def identity(account: str) -> dict[str, str]:
    return {
        "UserId": "AIDEXAMPLE",
        "Account": account,
        "Arn": f"arn:aws:sts::{account}:assumed-role/Ops/alice",
    }


def test_same_account_passes_and_returns_the_caller(sts: Any) -> None:
    client, stub = sts
    stub.add_response("get_caller_identity", identity("123456789012"), {})
    clients = Clients(client)
    check = require_account(clients, TOPOLOGY)
    assert check.arn == "arn:aws:sts::123456789012:assumed-role/Ops/alice"
    assert clients.asked == [("sts", "us-west-2")]  # the primary region


def test_another_account_is_refused_with_the_fix(sts: Any) -> None:
    client, stub = sts
    stub.add_response("get_caller_identity", identity("999999999999"), {})
    with pytest.raises(RefusedError) as err:
        require_account(Clients(client), TOPOLOGY)
    assert err.value.exit_code == 3
    assert str(err.value) == (
        "refused: the credentials are for account 999999999999 "
        "(arn:aws:sts::999999999999:assumed-role/Ops/alice), but the topology's account_id "
        "is 123456789012; switch credentials (AWS_PROFILE, or the region's profile / "
        "role_arn in the topology) and retry"
    )


def test_expired_credentials_are_a_credentials_error_not_a_refusal(sts: Any) -> None:
    client, stub = sts
    stub.add_client_error("get_caller_identity", service_error_code="ExpiredToken")
    with pytest.raises(CredentialsError) as err:
        require_account(Clients(client), TOPOLOGY)
    assert err.value.exit_code == 5
