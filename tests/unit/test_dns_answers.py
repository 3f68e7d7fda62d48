"""The tool's DNS reading without a sandbox: settings, judgements, a silent name server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mr_failover import topology as topo
from mr_failover.errors import UsageError
from mr_failover.resources import dns
from mr_failover.resources.dns import (
    DnsAnswerFinding,
    NameServer,
    VantageAnswer,
    answer_problems,
    observe_answers,
    parse_servers,
    region_of_address,
)
from mr_failover.resources.dns_steps import UNREACHABLE_LOOKS, AnswersFollow, judge
from tests.clocks import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
RECORD = "api.arc309.example.com."


@pytest.fixture(scope="module")
def example() -> topo.Topology:
    return topo.load(EXAMPLE)


def finding(*by_vantage: tuple[str, tuple[str, ...]]) -> DnsAnswerFinding:
    answers = tuple(VantageAnswer(v, regions, regions, 60, "NOERROR") for v, regions in by_vantage)
    return DnsAnswerFinding(RECORD, "CNAME", "127.0.0.1:53", answers)


def test_servers_parse_with_default_port_and_bad_input_is_a_usage_error() -> None:
    assert parse_servers("127.0.0.1:5353, ns-1.example.net") == (
        NameServer("127.0.0.1", 5353),
        NameServer("ns-1.example.net", 53),
    )
    with pytest.raises(UsageError, match="bad port"):
        parse_servers("127.0.0.1:abc")
    with pytest.raises(UsageError, match="bad port"):
        parse_servers("127.0.0.1:70000")
    with pytest.raises(UsageError, match="is empty"):
        parse_servers(" , ")
    assert dns.setting({}) is None and dns.setting({dns.ENV_DNS_SERVER: " "}) is None


def test_each_representative_subnet_maps_back_to_its_region() -> None:
    for region, subnet in dns.REGION_SUBNETS.items():
        assert region_of_address(subnet.split("/")[0]) == region
    assert region_of_address("192.0.2.1") is None
    assert region_of_address("not an address") is None


def test_a_drained_region_still_answered_and_a_serving_one_never_answered_are_warned(
    example: topo.Topology,
) -> None:
    both_east = finding(("us-east-1", ("us-east-1",)), ("us-west-2", ("us-east-1",)))
    per_region, report = answer_problems(
        example, [both_east], {"us-east-1": "drained", "us-west-2": "serving"}
    )
    assert per_region["us-east-1"][0].startswith(
        f"dns: {RECORD} still answers with us-east-1 although it is drained"
    )
    assert per_region["us-west-2"] == [
        f"dns: {RECORD} answers no client with us-west-2 although it is serving"
    ]
    assert report == []
    fine = finding(("us-east-1", ("us-west-2",)), ("us-west-2", ("us-west-2",)))
    per_region, _ = answer_problems(
        example, [fine], {"us-east-1": "drained", "us-west-2": "serving"}
    )
    assert per_region == {}
    failed = DnsAnswerFinding(RECORD, "CNAME", None, error="name server x did not answer")
    _, report = answer_problems(example, [failed], {})
    assert report == [f"dns: {RECORD} not checked: name server x did not answer"]


def test_a_standby_region_missing_from_the_answers_is_no_problem(example: topo.Topology) -> None:
    spec = example.regions["us-west-2"].traffic.records[0]
    standby = spec.model_copy(update={"routing_policy": "failover", "failover": "SECONDARY"})
    t = example.model_copy(deep=True)
    t.regions["us-west-2"].traffic.records[0] = standby
    east_only = finding(("us-east-1", ("us-east-1",)), ("us-west-2", ("us-east-1",)))
    serving = {"us-east-1": "serving", "us-west-2": "serving"}
    per_region, _ = answer_problems(t, [east_only], serving)
    assert per_region == {}
    assert judge(t, "us-west-2", (east_only,), drained=False)[0] is True  # nothing to see


def test_judge_drained_wants_no_vantage_restored_wants_its_own(example: topo.Topology) -> None:
    moved = finding(("us-east-1", ("us-west-2",)), ("us-west-2", ("us-west-2",)))
    back = finding(("us-east-1", ("us-east-1",)), ("us-west-2", ("us-west-2",)))
    assert judge(example, "us-east-1", (moved,), drained=True) == (
        True,
        f"{RECORD} -> us-west-2",
    )
    assert judge(example, "us-east-1", (back,), drained=True)[0] is False
    assert judge(example, "us-east-1", (back,), drained=False)[0] is True
    assert judge(example, "us-east-1", (moved,), drained=False)[0] is False
    silent = DnsAnswerFinding(RECORD, "CNAME", None, error="no answer")
    assert judge(example, "us-east-1", (silent,), drained=True) == (None, f"{RECORD}: no answer")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback UDP port that receives and never answers (a black-holed name server)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_a_silent_name_server_is_bounded_by_the_query_deadline(
    example: topo.Topology, silent_server: str
) -> None:
    started = time.monotonic()
    (found,) = observe_answers(example, f"{silent_server},{silent_server}", timeout=0.3)
    elapsed = time.monotonic() - started
    assert found.error == f"name server {silent_server} did not answer within 0.3 s"
    assert found.answers == ()
    # Two vantages, the same server listed twice: asked once, then known dead.
    assert elapsed < 1.5


def test_the_drain_confirmation_gives_up_on_a_silent_name_server_with_a_warning(
    example: topo.Topology, silent_server: str
) -> None:
    clock = FakeClock(1_800_000_000.0)
    action = AnswersFollow(
        example, "us-east-1", silent_server, drained=True, clock=clock, timeout=0.2
    )
    assert action.holds() is False
    looks = 0
    while not action.settled():
        looks += 1
        assert looks < UNREACHABLE_LOOKS
    assert action.verify() is None  # a warning, not a failure
    assert action.note() == (
        "WARNING: not confirmed by DNS, no name server answered "
        f"({RECORD}: name server {silent_server} did not answer within 0.2 s)"
    )


def test_a_bad_name_server_setting_is_refused_when_planning(
    example: topo.Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mr_failover.resources.dns_steps import answers_step

    clock = FakeClock(0.0)
    monkeypatch.setenv(dns.ENV_DNS_SERVER, "127.0.0.1:notaport")
    with pytest.raises(UsageError, match="bad port"):
        answers_step(example, "us-east-1", drained=True, clock=clock, timeout=60)
    monkeypatch.delenv(dns.ENV_DNS_SERVER)
    assert answers_step(example, "us-east-1", drained=True, clock=clock, timeout=60) is None
    monkeypatch.setenv(dns.ENV_DNS_SERVER, "127.0.0.1:5353")
    step = answers_step(example, "us-east-1", drained=True, clock=clock, timeout=60)
    assert step is not None and (step.plane, step.region) == ("data", "-")


def test_zone_name_servers_from_a_silent_resolver_is_a_bounded_clear_error(
    example: topo.Topology, silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dns.resolver

    host, port = silent_server.split(":")

    class Local(dns.resolver.Resolver):
        def __init__(self) -> None:
            super().__init__(configure=False)
            self.nameservers = [host]
            self.port = int(port)

    monkeypatch.setattr(dns.resolver, "Resolver", Local)
    started = time.monotonic()
    (found,) = observe_answers(example, "zone", timeout=0.5)
    assert time.monotonic() - started < 3
    assert found.error is not None
    assert found.error.startswith("could not find the name servers of arc309.example.com.")
