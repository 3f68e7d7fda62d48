"""aws.py: client settings, the cache, error translation, the account guard."""

from __future__ import annotations

import threading
from typing import Any

import botocore.exceptions
import botocore.loaders
import pytest
from botocore.stub import Stubber

from mr_failover import __version__, aws
from mr_failover.aws import (
    ClientFactory,
    Timeouts,
    call,
    check_account,
    translate,
)
from mr_failover.errors import AwsCallError, CredentialsError, RegionUnreachableError
from mr_failover.topology import Topology


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def _topology(account: str = "123456789012") -> Topology:
    return Topology.model_validate(
        {
            "application": "shop",
            "account_id": account,
            "primary_region": "us-east-1",
            "policy": {"rpo_seconds": 60, "rto_seconds": 900},
            "regions": {"us-east-1": {}, "us-west-2": {}},
        }
    )


def test_clients_carry_user_agent_retries_timeouts_and_endpoint() -> None:
    factory = ClientFactory(
        endpoint_url="http://127.0.0.1:4566", timeouts=Timeouts(connect=1.5, read=4, max_attempts=2)
    )
    client = factory.client("dynamodb", "us-west-2")
    config = client.meta.config
    assert f"mr-failover/{__version__}" in config.user_agent_extra
    assert config.retries["mode"] == "standard"
    # The first try included; errors that answer at once (throttling, 5xx) get
    # error_attempts, a call that hangs only max_attempts (see _limit_hung_attempts).
    assert config.retries["total_max_attempts"] == 5
    assert (config.connect_timeout, config.read_timeout) == (1.5, 4)
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert client.meta.region_name == "us-west-2"


def test_standard_aws_endpoint_url_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    client = ClientFactory().client("s3", "us-east-1")
    assert client.meta.endpoint_url == "http://127.0.0.1:5000"


def test_one_client_per_service_and_region_even_across_threads() -> None:
    factory = ClientFactory()
    seen: list[Any] = []
    threads = [
        threading.Thread(target=lambda: seen.append(factory.client("rds", "us-west-2")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1
    assert factory.client("rds", "us-east-1") is not seen[0]


def test_with_timeouts_shares_sessions_not_clients() -> None:
    factory = ClientFactory(_topology())
    first = factory.client("rds", "us-east-1")
    bounded = factory.with_timeouts(Timeouts.for_deadline(3))
    second = bounded.client("rds", "us-east-1")
    assert second is not first
    assert second.meta.config.read_timeout == 1.0
    assert bounded._sessions is factory._sessions  # no second AssumeRole per region


def test_deadline_timeouts() -> None:
    t = Timeouts.for_deadline(6)
    assert (t.connect, t.read, t.max_attempts) == (2.0, 2.0, 2)
    assert Timeouts.for_deadline(30).connect == 3.0
    with pytest.raises(ValueError):
        Timeouts.for_deadline(0)


def _client_error(code: str, message: str = "msg") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}}, "DescribeTable"
    )


@pytest.mark.parametrize(
    ("exc", "cls", "text"),
    [
        (
            botocore.exceptions.NoCredentialsError(),
            CredentialsError,
            "dynamodb:DescribeTable in us-west-2: no AWS credentials found (set AWS_PROFILE, "
            "run `aws sso login`, or give the region a profile / role_arn in the topology)",
        ),
        (
            _client_error("ExpiredTokenException"),
            CredentialsError,
            "dynamodb:DescribeTable in us-west-2: credentials expired (refresh them and retry)",
        ),
        (
            _client_error("AccessDeniedException", "no dynamodb:DescribeTable"),
            CredentialsError,
            "dynamodb:DescribeTable in us-west-2: access denied: no dynamodb:DescribeTable "
            "(check the IAM policy of the caller or role)",
        ),
        (
            _client_error("ThrottlingException"),
            AwsCallError,
            "dynamodb:DescribeTable in us-west-2 failed: throttled (ThrottlingException) "
            "(retry in a minute)",
        ),
        (
            botocore.exceptions.ReadTimeoutError(endpoint_url="https://dynamodb.us-west-2"),
            RegionUnreachableError,
            "dynamodb:DescribeTable in us-west-2 failed: no answer: Read timeout on endpoint URL: "
            '"https://dynamodb.us-west-2" (the region may be impaired; retry or fail over)',
        ),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="https://x"),
            RegionUnreachableError,
            "dynamodb:DescribeTable in us-west-2 failed: no answer: Could not connect to the "
            'endpoint URL: "https://x" (the region may be impaired; retry or fail over)',
        ),
    ],
)
def test_translate_is_one_line_with_region_call_and_fix(
    exc: BaseException, cls: type[Exception], text: str
) -> None:
    err = translate(exc, "us-west-2", "dynamodb:DescribeTable")
    assert type(err) is cls
    assert str(err) == text


def test_translate_keeps_bugs_as_bugs() -> None:
    with pytest.raises(KeyError):
        translate(KeyError("x"), "us-east-1", "x")


def test_call_names_the_api_operation() -> None:
    client = ClientFactory().client("dynamodb", "eu-west-1")
    with Stubber(client) as stub:
        stub.add_client_error("describe_table", service_error_code="ResourceNotFoundException")
        with pytest.raises(AwsCallError) as info:
            call(client, "describe_table", TableName="orders")
    assert str(info.value).startswith(
        "dynamodb:DescribeTable in eu-west-1 failed: ResourceNotFoundException"
    )


@pytest.mark.parametrize(("account", "matches"), [("123456789012", True), ("999999999999", False)])
def test_check_account(account: str, matches: bool) -> None:
    factory = ClientFactory()
    sts = factory.client("sts", "us-east-1")
    with Stubber(sts) as stub:
        stub.add_response(
            "get_caller_identity",
            {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/sre", "UserId": "A"},
        )
        check = check_account(factory, _topology(account))
    assert (check.matches, check.actual, check.expected, check.region) == (
        matches,
        "123456789012",
        account,
        "us-east-1",
    )
    if not matches:
        assert check.message() == (
            "credentials are for account 123456789012 (arn:aws:iam::123456789012:user/sre) but "
            "the topology is account 999999999999 (use the right AWS_PROFILE or fix account_id)"
        )


def test_check_account_expired_token_names_sts() -> None:
    factory = ClientFactory()
    with Stubber(factory.client("sts", "us-east-1")) as stub:
        stub.add_client_error("get_caller_identity", service_error_code="ExpiredToken")
        with pytest.raises(CredentialsError) as info:
            check_account(factory, _topology())
    assert str(info.value) == (
        "sts:GetCallerIdentity in us-east-1: credentials expired (refresh them and retry)"
    )


def test_a_hung_assume_role_does_not_block_other_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    from mr_failover import aws

    release = threading.Event()
    entered = threading.Event()

    def hung_assume(base: Any, role_arn: str, region: str, factory: Any) -> Any:
        entered.set()
        release.wait(5)  # an STS endpoint that does not answer (until the test ends)
        return base

    monkeypatch.setattr(aws, "_assume", hung_assume)
    t = Topology.model_validate(
        {
            "application": "shop",
            "account_id": "123456789012",
            "primary_region": "us-east-1",
            "policy": {"rpo_seconds": 60, "rto_seconds": 900},
            "regions": {
                "us-east-1": {},
                "us-west-2": {"role_arn": "arn:aws:iam::123456789012:role/ops"},
            },
        }
    )
    factory = ClientFactory(t)
    stuck = threading.Thread(target=lambda: factory.client("rds", "us-west-2"), daemon=True)
    stuck.start()
    assert entered.wait(5)
    try:
        # Made while the other region's AssumeRole still hangs.
        east = factory.client("rds", "us-east-1")
        assert east.meta.region_name == "us-east-1"
        assert stuck.is_alive()
    finally:
        release.set()
        stuck.join(5)


# Status in under a second (issue 16): the same models, parsed once per process.
@pytest.mark.parametrize("service", ["rds", "route53", "s3", "dynamodb"])
def test_models_parse_to_what_botocore_parses_as_plain_dicts(service: str) -> None:
    theirs = botocore.loaders.create_loader()
    ours = botocore.loaders.create_loader()
    ours.file_loader = aws._PlainJsonFileLoader()
    model = ours.load_service_model(service, "service-2")
    assert type(model) is dict
    assert model == theirs.load_service_model(service, "service-2")
    assert ours.load_data("endpoints") == theirs.load_data("endpoints")


def test_every_session_of_the_process_shares_one_loader() -> None:
    first = ClientFactory(endpoint_url="http://127.0.0.1:1")
    second = ClientFactory(endpoint_url="http://127.0.0.1:1")
    first.client("rds", "us-east-1")
    second.client("rds", "us-west-2")
    loaders = {
        id(s.get_component("data_loader")) for f in (first, second) for s in f._sessions.values()
    }
    assert loaders == {id(aws._LOADER[0])}
    assert isinstance(aws._LOADER[0].file_loader, aws._PlainJsonFileLoader)
