"""The sandbox's DNS answers, asked with dnspython over UDP and TCP as a resolver would.

Each routing policy with healthy, unhealthy (a region outage, FailureThreshold applied),
inverted and disabled checks; alias records with EvaluateTargetHealth; calculated and
routing-control checks; TTLs; the client subnet of latency records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from mr_failover.resources.dns import REGION_SUBNETS
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from tests.sandbox.conftest import TEST_SETTINGS, AwsFactory
from tests.sandbox.test_arc_cluster import data_plane, make_panel
from tests.sandbox.test_route53 import make_check

# us-east-1 is never failed here: Route 53's API lives there.
EAST, WEST, EU, AP = "us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"
INTERVAL = TEST_SETTINGS.health_check_interval
ZONE = "dns.example.com"
Ask = Callable[..., dns.message.Message]


@pytest.fixture(params=["udp", "tcp"])
def ask(request: pytest.FixtureRequest, sandbox: Sandbox, control: SandboxClient) -> Ask:
    """``ask(name, type, subnet=None)``: the sandbox's answer, over UDP or TCP."""
    port = sandbox.dns_port()
    assert port is not None

    def query(name: str, rdtype: str = "A", subnet: str | None = None) -> dns.message.Message:
        opts = []
        if subnet:
            address, bits = subnet.split("/")
            opts.append(dns.edns.ECSOption(address, int(bits)))
        q = dns.message.make_query(name, rdtype, use_edns=0, options=opts)
        send = dns.query.udp if request.param == "udp" else dns.query.tcp
        return send(q, "127.0.0.1", port=port, timeout=3)

    return query


def values(answer: dns.message.Message) -> list[str]:
    return sorted(r.to_text().rstrip(".") for rrset in answer.answer for r in rrset)


def zone(aws: AwsFactory) -> str:
    zid: str = aws("route53", EAST).create_hosted_zone(Name=ZONE, CallerReference=ZONE)[
        "HostedZone"
    ]["Id"]
    return zid


def check(
    aws: AwsFactory,
    control: SandboxClient,
    region: str,
    *,
    threshold: int = 1,
    **flags: Any,
) -> str:
    """A health check watching ``region`` (one failed round turns it unhealthy)."""
    check_id = make_check(aws, control, region, threshold)
    if flags:
        aws("route53", EAST).update_health_check(HealthCheckId=check_id, **flags)
    return check_id


def put(aws: AwsFactory, zone_id: str, *records: dict[str, Any]) -> None:
    changes = [
        {"Action": "UPSERT", "ResourceRecordSet": {"Type": "A", "TTL": 60, **r}} for r in records
    ]
    aws("route53", EAST).change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": changes}
    )


def ip(value: str) -> list[dict[str, str]]:
    return [{"Value": value}]


def failover(
    name: str, primary: str | None, secondary: str | None, ips: tuple[str, str]
) -> list[dict[str, Any]]:
    """A PRIMARY and a SECONDARY record named ``name``, each with its check (or none)."""
    out = []
    for role, hc, value in (("PRIMARY", primary, ips[0]), ("SECONDARY", secondary, ips[1])):
        rec: dict[str, Any] = {
            "Name": name,
            "SetIdentifier": role[0].lower(),
            "Failover": role,
            "ResourceRecords": ip(value),
        }
        if hc:
            rec["HealthCheckId"] = hc
        out.append(rec)
    return out


def test_the_port_answers_authoritatively_with_ttl_nxdomain_and_refused(
    aws: AwsFactory, ask: Ask, sandbox: Sandbox
) -> None:
    zid = zone(aws)
    put(
        aws,
        zid,
        {"Name": f"www.{ZONE}", "TTL": 42, "ResourceRecords": ip("192.0.2.1") + ip("192.0.2.2")},
    )
    got = ask(f"www.{ZONE}")
    assert got.flags & dns.flags.AA
    assert values(got) == ["192.0.2.1", "192.0.2.2"]  # simple: every value
    assert got.answer[0].ttl == 42
    missing = ask(f"nope.{ZONE}")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority and missing.authority[0].rdtype == dns.rdatatype.SOA
    nodata = ask(f"www.{ZONE}", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert ask("www.elsewhere.example.org").rcode() == dns.rcode.REFUSED
    assert sandbox.snapshot()["dns"]["port"] == sandbox.dns_port()


def test_failover_answers_the_primary_until_its_check_fails_inverts_or_is_disabled(
    aws: AwsFactory, control: SandboxClient, ask: Ask
) -> None:
    zid = zone(aws)
    primary = check(aws, control, WEST)
    put(aws, zid, *failover(f"fo.{ZONE}", primary, None, ("192.0.2.10", "192.0.2.20")))
    control.advance(INTERVAL)
    assert values(ask(f"fo.{ZONE}")) == ["192.0.2.10"]
    control.fail_region(WEST)
    control.advance(INTERVAL)
    assert values(ask(f"fo.{ZONE}")) == ["192.0.2.20"]  # unhealthy primary
    r53 = aws("route53", EAST)
    r53.update_health_check(HealthCheckId=primary, Disabled=True)
    assert values(ask(f"fo.{ZONE}")) == ["192.0.2.10"]  # disabled: healthy whatever it sees
    control.heal_region(WEST)
    r53.update_health_check(HealthCheckId=primary, Disabled=False, Inverted=True)
    control.advance(INTERVAL)
    assert values(ask(f"fo.{ZONE}")) == ["192.0.2.20"]  # inverted healthy: out


def test_failover_with_every_record_unhealthy_answers_the_primary(
    aws: AwsFactory, control: SandboxClient, ask: Ask
) -> None:
    zid = zone(aws)
    a, b = check(aws, control, WEST), check(aws, control, EU)
    put(aws, zid, *failover(f"fo.{ZONE}", a, b, ("192.0.2.10", "192.0.2.20")))
    control.fail_region(WEST)
    control.fail_region(EU)
    control.advance(INTERVAL)
    assert values(ask(f"fo.{ZONE}")) == ["192.0.2.10"]


def test_failure_threshold_delays_the_change_of_answers(
    aws: AwsFactory, control: SandboxClient, ask: Ask
) -> None:
    zid = zone(aws)
    primary = check(aws, control, WEST, threshold=3)
    put(aws, zid, *failover(f"fo.{ZONE}", primary, None, ("192.0.2.10", "192.0.2.20")))
    control.advance(INTERVAL)
    control.fail_region(WEST)
    control.advance(INTERVAL)
    control.advance(INTERVAL)
    assert values(ask(f"fo.{ZONE}")) == ["192.0.2.10"]  # two failed rounds of three
    control.advance(INTERVAL)
    assert values(ask(f"fo.{ZONE}")) == ["192.0.2.20"]


def _seen(ask: Ask, name: str, draws: int = 40, **kw: Any) -> set[str]:
    return {v for _ in range(draws) for v in values(ask(name, **kw))}


def test_weighted_leaves_out_weight_zero_and_unhealthy_records(
    aws: AwsFactory, control: SandboxClient, ask: Ask
) -> None:
    zid = zone(aws)
    east, west = check(aws, control, AP), check(aws, control, WEST)
    eu = check(aws, control, EU, Disabled=True, Inverted=True)  # disabled, inverted: unhealthy

    def record(sid: str, weight: int, hc: str, value: str) -> dict[str, Any]:
        return {
            "Name": f"w.{ZONE}",
            "SetIdentifier": sid,
            "Weight": weight,
            "HealthCheckId": hc,
            "ResourceRecords": ip(value),
        }

    put(
        aws,
        zid,
        record("e", 10, east, "192.0.2.1"),
        record("w", 10, west, "192.0.2.2"),
        record("eu", 10, eu, "192.0.2.3"),
    )
    control.advance(INTERVAL)
    assert _seen(ask, f"w.{ZONE}") == {"192.0.2.1", "192.0.2.2"}
    put(aws, zid, record("w", 0, west, "192.0.2.2"))  # drained by weight
    assert _seen(ask, f"w.{ZONE}") == {"192.0.2.1"}
    control.fail_region(AP)
    control.advance(INTERVAL)
    # The only record above zero is unhealthy: the healthy zero-weight one answers.
    assert _seen(ask, f"w.{ZONE}") == {"192.0.2.2"}
    control.fail_region(WEST)
    control.advance(INTERVAL)
    # Every record unhealthy: all count as healthy; weights above zero first.
    assert _seen(ask, f"w.{ZONE}") == {"192.0.2.1", "192.0.2.3"}


def test_latency_answers_by_client_subnet_else_the_resolver_region(
    aws: AwsFactory, control: SandboxClient, ask: Ask
) -> None:
    zid = zone(aws)
    eu, west = check(aws, control, EU), check(aws, control, WEST)
    put(
        aws,
        zid,
        {
            "Name": f"lat.{ZONE}",
            "SetIdentifier": "eu",
            "Region": EU,
            "HealthCheckId": eu,
            "ResourceRecords": ip("192.0.2.1"),
        },
        {
            "Name": f"lat.{ZONE}",
            "SetIdentifier": "w",
            "Region": WEST,
            "HealthCheckId": west,
            "ResourceRecords": ip("192.0.2.2"),
        },
    )
    control.advance(INTERVAL)
    assert values(ask(f"lat.{ZONE}", subnet=REGION_SUBNETS[EU])) == ["192.0.2.1"]
    west_answer = ask(f"lat.{ZONE}", subnet=REGION_SUBNETS[WEST])
    assert values(west_answer) == ["192.0.2.2"]
    echoed = [o for o in west_answer.options if isinstance(o, dns.edns.ECSOption)]
    assert echoed and echoed[0].scopelen == 24  # the answer depended on the subnet
    assert values(ask(f"lat.{ZONE}", subnet=REGION_SUBNETS[AP])) == ["192.0.2.2"]
    assert values(ask(f"lat.{ZONE}", subnet=REGION_SUBNETS["eu-central-1"])) == ["192.0.2.1"]
    assert values(ask(f"lat.{ZONE}")) == ["192.0.2.2"]  # no subnet: a us-east-1 resolver
    assert values(ask(f"lat.{ZONE}", subnet=REGION_SUBNETS[EAST])) == ["192.0.2.2"]
    control.fail_region(WEST)
    control.advance(INTERVAL)
    assert values(ask(f"lat.{ZONE}", subnet=REGION_SUBNETS[WEST])) == ["192.0.2.1"]


def test_multivalue_answers_up_to_eight_healthy_records_else_unhealthy_ones(
    aws: AwsFactory, control: SandboxClient, ask: Ask
) -> None:
    zid = zone(aws)
    east = check(aws, control, WEST)
    records = [
        {
            "Name": f"mv.{ZONE}",
            "SetIdentifier": f"r{i}",
            "MultiValueAnswer": True,
            "HealthCheckId": east,
            "ResourceRecords": ip(f"192.0.2.{i}"),
        }
        for i in range(1, 4)
    ]
    records += [
        {
            "Name": f"mv.{ZONE}",
            "SetIdentifier": f"n{i}",
            "MultiValueAnswer": True,
            "ResourceRecords": ip(f"198.51.100.{i}"),
        }
        for i in range(1, 10)
    ]
    put(aws, zid, *records)
    control.advance(INTERVAL)
    assert len(values(ask(f"mv.{ZONE}"))) == 8  # twelve healthy: eight of them
    control.fail_region(WEST)
    control.advance(INTERVAL)
    assert _seen(ask, f"mv.{ZONE}", draws=20) == {f"198.51.100.{i}" for i in range(1, 10)}
    put(aws, zid, *({**r, "HealthCheckId": east} for r in records[3:]))
    got = values(ask(f"mv.{ZONE}"))
    assert len(got) == 8  # every record unhealthy: up to eight of them


def test_alias_evaluates_its_targets_health_and_answers_with_its_values_and_ttl(
    aws: AwsFactory, control: SandboxClient, ask: Ask
) -> None:
    zid = zone(aws)
    east = check(aws, control, WEST)
    put(
        aws,
        zid,
        {
            "Name": f"east.{ZONE}",
            "TTL": 30,
            "SetIdentifier": "e",
            "Weight": 1,
            "HealthCheckId": east,
            "ResourceRecords": ip("192.0.2.1"),
        },
        {"Name": f"west.{ZONE}", "TTL": 20, "ResourceRecords": ip("192.0.2.2")},
    )
    alias = {"HostedZoneId": zid.rsplit("/", 1)[-1], "EvaluateTargetHealth": True}
    changes = [
        {
            "Name": f"app.{ZONE}",
            "SetIdentifier": "p",
            "Failover": "PRIMARY",
            "AliasTarget": {**alias, "DNSName": f"east.{ZONE}"},
        },
        {
            "Name": f"app.{ZONE}",
            "SetIdentifier": "s",
            "Failover": "SECONDARY",
            "AliasTarget": {**alias, "DNSName": f"west.{ZONE}"},
        },
    ]
    aws("route53", EAST).change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Changes": [
                {"Action": "UPSERT", "ResourceRecordSet": {"Type": "A", **c}} for c in changes
            ]
        },
    )
    control.advance(INTERVAL)
    got = ask(f"app.{ZONE}")
    assert values(got) == ["192.0.2.1"] and got.answer[0].ttl == 30
    control.fail_region(WEST)
    control.advance(INTERVAL)
    got = ask(f"app.{ZONE}")
    assert values(got) == ["192.0.2.2"] and got.answer[0].ttl == 20
    # Without EvaluateTargetHealth the alias stays healthy whatever its target does.
    control.heal_region(WEST)  # (no change: the target check still fails this round)
    aws("route53", EAST).change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Type": "A",
                        **changes[0],
                        "AliasTarget": {
                            **alias,
                            "DNSName": f"east.{ZONE}",
                            "EvaluateTargetHealth": False,
                        },
                    },
                }
            ]
        },
    )
    assert values(ask(f"app.{ZONE}")) == ["192.0.2.1"]


def test_calculated_and_routing_control_checks_drive_the_answers(
    aws: AwsFactory, control: SandboxClient, ask: Ask, sandbox: Sandbox
) -> None:
    zid = zone(aws)
    panel = make_panel(aws, sandbox, count=1)
    r53 = aws("route53", EAST)
    rc_check = r53.create_health_check(
        CallerReference="rc",
        HealthCheckConfig={"Type": "RECOVERY_CONTROL", "RoutingControlArn": panel.controls[0]},
    )["HealthCheck"]
    assert rc_check["HealthCheckConfig"]["RoutingControlArn"] == panel.controls[0]
    east = check(aws, control, EAST)
    calc = r53.create_health_check(
        CallerReference="calc",
        HealthCheckConfig={
            "Type": "CALCULATED",
            "ChildHealthChecks": [east, rc_check["Id"]],
            "HealthThreshold": 2,
        },
    )["HealthCheck"]["Id"]
    put(
        aws,
        zid,
        *failover(f"rc.{ZONE}", rc_check["Id"], None, ("192.0.2.1", "192.0.2.2")),
        *failover(f"calc.{ZONE}", calc, None, ("192.0.2.3", "192.0.2.4")),
    )
    control.advance(INTERVAL)
    assert values(ask(f"rc.{ZONE}")) == ["192.0.2.1"]
    assert values(ask(f"calc.{ZONE}")) == ["192.0.2.3"]
    data_plane(sandbox, 0).update_routing_control_state(
        RoutingControlArn=panel.controls[0], RoutingControlState="Off"
    )
    assert values(ask(f"rc.{ZONE}")) == ["192.0.2.2"]  # the control's state, at once
    control.advance(INTERVAL)
    assert values(ask(f"calc.{ZONE}")) == ["192.0.2.4"]  # one healthy child of two needed


def test_a_truncated_udp_answer_is_complete_over_tcp(
    aws: AwsFactory, sandbox: Sandbox, control: SandboxClient
) -> None:
    zid = zone(aws)
    many = [{"Value": f'"{"x" * 200} {i}"'} for i in range(8)]
    put(aws, zid, {"Name": f"big.{ZONE}", "Type": "TXT", "ResourceRecords": many})
    q = dns.message.make_query(f"big.{ZONE}", "TXT")  # no EDNS: 512 bytes over UDP
    port = sandbox.dns_port()
    udp = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)
    assert len(tcp.answer[0]) == 8
