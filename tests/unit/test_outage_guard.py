"""The account guard when a region is down: any declared region's STS answer will do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover.aws import account_regions
from mr_failover.engine.guard import require_account
from mr_failover.errors import CredentialsError, RefusedError
from mr_failover.topology import Topology

EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
ACCOUNT = "123456789012"
TOPOLOGY = Topology.model_validate(
    {
        "application": "arc309",
        "account_id": ACCOUNT,
        "primary_region": EAST,
        "policy": {"rpo_seconds": 60, "rto_seconds": 900},
        "regions": {EAST: {}, WEST: {}, EU: {}},
    }
)


class StsPerRegion:
    """A ClientSource with one Stubber-backed STS client per region, recording the order."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubs: dict[str, Stubber] = {}
        self.asked: list[str] = []
        for region in (EAST, WEST, EU):
            client = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing"
            ).client("sts", region_name=region)
            self.clients[region] = client
            self.stubs[region] = Stubber(client)
            self.stubs[region].activate()

    def client(self, service: str, region: str) -> Any:
        assert service == "sts"
        self.asked.append(region)
        return self.clients[region]

    def answers(self, region: str, account: str = ACCOUNT) -> None:
        self.stubs[region].add_response(
            "get_caller_identity",
            {"UserId": "AID", "Account": account, "Arn": f"arn:aws:iam::{account}:user/sre"},
            {},
        )

    def down(self, region: str) -> None:
        self.stubs[region].add_client_error(
            "get_caller_identity",
            service_error_code="ServiceUnavailable",
            service_message="Service unavailable",
            http_status_code=503,
        )


@pytest.fixture
def sts() -> Iterator[StsPerRegion]:
    source = StsPerRegion()
    yield source
    for stub in source.stubs.values():
        stub.assert_no_pending_responses()


def test_the_target_region_is_asked_first_then_the_primary_then_the_rest() -> None:
    assert account_regions(TOPOLOGY, WEST) == [WEST, EAST, EU]
    assert account_regions(TOPOLOGY, EU) == [EU, EAST, WEST]
    assert account_regions(TOPOLOGY) == [EAST, WEST, EU]
    assert account_regions(TOPOLOGY, "ap-south-1") == [EAST, WEST, EU]  # not declared


def test_the_targets_answer_is_enough(sts: StsPerRegion) -> None:
    sts.answers(WEST)
    check = require_account(sts, TOPOLOGY, first=WEST)
    assert (check.region, check.matches, sts.asked) == (WEST, True, [WEST])


def test_a_region_that_does_not_answer_is_skipped(sts: StsPerRegion) -> None:
    sts.down(WEST)
    sts.down(EAST)
    sts.answers(EU)
    check = require_account(sts, TOPOLOGY, first=WEST)
    assert (check.region, sts.asked) == (EU, [WEST, EAST, EU])


def test_another_account_in_the_first_answer_is_refused_without_asking_more(
    sts: StsPerRegion,
) -> None:
    sts.down(EAST)
    sts.answers(WEST, account="999999999999")
    with pytest.raises(RefusedError) as err:
        require_account(sts, TOPOLOGY)
    assert "the credentials are for account 999999999999" in str(err.value)
    assert sts.asked == [EAST, WEST]


def test_no_region_answering_is_refused_naming_each_failed_call(sts: StsPerRegion) -> None:
    for region in (EAST, WEST, EU):
        sts.down(region)
    with pytest.raises(RefusedError) as err:
        require_account(sts, TOPOLOGY, first=EU)
    assert err.value.exit_code == 3
    assert str(err.value) == (
        "refused: the account could not be verified: sts:GetCallerIdentity answered in no "
        "declared region (eu-west-1: ServiceUnavailable: Service unavailable; us-east-1: "
        "ServiceUnavailable: Service unavailable; us-west-2: ServiceUnavailable: Service "
        "unavailable); check the network path to AWS and the credentials, then retry"
    )


def test_expired_credentials_stop_at_the_first_region(sts: StsPerRegion) -> None:
    # The same everywhere: asking the other regions would only add their timeouts.
    sts.stubs[WEST].add_client_error("get_caller_identity", service_error_code="ExpiredToken")
    with pytest.raises(CredentialsError) as err:
        require_account(sts, TOPOLOGY, first=WEST)
    assert err.value.exit_code == 5
    assert sts.asked == [WEST]
