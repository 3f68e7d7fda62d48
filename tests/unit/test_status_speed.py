"""What makes status fast (issue 16) keeps its meaning: same models, one loader, reads at once."""

from __future__ import annotations

import threading
import time

import botocore.loaders
import pytest

from mr_failover import aws
from mr_failover.aws import ClientFactory
from mr_failover.resources.readiness import _at_once


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


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


def test_readiness_items_are_read_at_the_same_time() -> None:
    both = threading.Barrier(2, timeout=5)  # broken (an error) unless both wait at once
    assert _at_once(lambda: both.wait() >= 0, lambda: both.wait() >= 0) == [True, True]


def test_the_first_failure_in_order_is_raised_as_one_after_another_would() -> None:
    def late_first() -> None:
        time.sleep(0.05)
        raise KeyError("first in order")

    def early_second() -> None:
        raise ValueError("second in order")

    with pytest.raises(KeyError, match="first in order"):
        _at_once(lambda: 0, late_first, early_second)
