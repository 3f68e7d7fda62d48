"""DNS answers as clients get them: the zone's name servers asked directly.

Route 53's API is a control plane served from us-east-1; its name servers are a data
plane that answers while that API is down. So what clients are sent to is read here by
asking the name servers themselves, over UDP (TCP when the answer is truncated), with a
deadline on every query. For latency records the question is asked "as a client near
region X": an EDNS client subnet option (RFC 7871) carries a representative subnet of X
(:data:`REGION_SUBNETS`), which Route 53 uses instead of the resolver's address.

Which name servers: ``MR_FAILOVER_DNS_SERVER`` (``host[:port]``, comma-separated; ``mr-failover
sandbox up`` exports the sandbox's), or ``zone``: the zone's NS records, asked of this
machine's resolver, then each name server's address. Unset: DNS answers are not read.

Sources: TestDNSAnswer, Amazon Route 53 API Reference (``EDNS0ClientSubnetIP``: "specify
the IPv4 or IPv6 address of a client in the applicable location"; without a resolver
address it simulates "a DNS resolver in the AWS US East (N. Virginia) Region"),
https://docs.aws.amazon.com/Route53/latest/APIReference/API_TestDNSAnswer.html;
"Latency-based routing", Amazon Route 53 Developer Guide,
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-latency.html.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.errors import UsageError
from mr_failover.resources.section import GlobalSection, RegionStatus

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Topology

ENV_DNS_SERVER = "MR_FAILOVER_DNS_SERVER"
ZONE_SERVERS = "zone"  # MR_FAILOVER_DNS_SERVER=zone: the zone's own NS records
QUERY_TIMEOUT = 2.0  # seconds for one query to one name server
# Weighted answers are drawn at random per query: a few draws per vantage show the
# regions that currently get a share (a region at weight 0 never appears).
WEIGHTED_SAMPLES = 4

# A representative client subnet per region, sent as the EDNS client subnet (/24) to ask
# "as a client near region X". Each is the first /24 of a block AWS publishes for EC2 in
# that region (ip-ranges.json), so Route 53's latency data places it next to the region.
# This is an assumption (docs/STATUS.md): Route 53 does not document its latency map.
REGION_SUBNETS: dict[str, str] = {
    "us-east-1": "3.80.0.0/24",
    "us-east-2": "18.216.0.0/24",
    "us-west-1": "13.56.0.0/24",
    "us-west-2": "34.208.0.0/24",
    "ca-central-1": "35.182.0.0/24",
    "sa-east-1": "18.228.0.0/24",
    "eu-west-1": "34.240.0.0/24",
    "eu-west-2": "35.176.0.0/24",
    "eu-west-3": "35.180.0.0/24",
    "eu-central-1": "18.184.0.0/24",
    "eu-north-1": "13.48.0.0/24",
    "ap-south-1": "13.232.0.0/24",
    "ap-northeast-1": "13.112.0.0/24",
    "ap-northeast-2": "13.124.0.0/24",
    "ap-southeast-1": "13.228.0.0/24",
    "ap-southeast-2": "13.54.0.0/24",
}


def region_of_address(address: str) -> str | None:
    """The region whose representative subnet holds ``address`` (None: none does)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for region, subnet in REGION_SUBNETS.items():
        if ip in ipaddress.ip_network(subnet):
            return region
    return None


class DnsUnreachable(Exception):
    """No name server answered in time (or at all)."""


@dataclass(frozen=True)
class NameServer:
    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_servers(text: str) -> tuple[NameServer, ...]:
    """``127.0.0.1:5353,ns-1.example.net`` -> name servers; UsageError for bad input."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        host, _, port = part.rpartition(":") if part.count(":") == 1 else (part, "", "")
        host = host or part
        try:
            number = int(port) if port else 53
        except ValueError:
            number = -1
        if not 0 < number < 65536:
            raise UsageError(
                f"{ENV_DNS_SERVER}: bad port in {part!r} (host[:port], comma-separated)"
            )
        out.append(NameServer(host, number))
    if not out:
        raise UsageError(f"{ENV_DNS_SERVER} is empty: give host[:port] or '{ZONE_SERVERS}'")
    return tuple(out)


def setting(env: Mapping[str, str] | None = None) -> str | None:
    """``MR_FAILOVER_DNS_SERVER`` (None when unset or blank: DNS answers not read)."""
    value = (os.environ if env is None else env).get(ENV_DNS_SERVER, "").strip()
    return value or None


def zone_name_servers(zone: str, *, timeout: float = QUERY_TIMEOUT) -> tuple[NameServer, ...]:
    """The zone's name servers (its NS records, then their addresses) from this machine's
    resolver: DNS all the way, so no Route 53 API call."""
    import dns.exception  # dnspython is imported when DNS is asked, not by every command
    import dns.resolver

    resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    try:
        hosts = [str(r.target) for r in resolver.resolve(zone, "NS")]
        out = []
        for host in hosts:
            out += [NameServer(str(a)) for a in resolver.resolve(host, "A")]
    except dns.exception.DNSException as exc:
        raise DnsUnreachable(f"could not find the name servers of {zone}: {exc}") from None
    return tuple(out)


@dataclass(frozen=True)
class Reply:
    """One name server's answer to one question."""

    server: str
    rcode: str  # NOERROR, NXDOMAIN, REFUSED, ...
    values: tuple[str, ...]  # the answer's data for the asked type (or its CNAME)
    ttl: int | None


def _norm(value: str) -> str:
    return value.rstrip(".").lower()


def ask(
    server: NameServer,
    name: str,
    rdtype: str,
    *,
    subnet: str | None = None,
    timeout: float = QUERY_TIMEOUT,
    tcp: bool = False,
) -> Reply:
    """Ask ``server`` for ``name``/``rdtype`` (as a client in ``subnet``), without recursion.

    Raises DnsUnreachable when the server does not answer within ``timeout`` or refuses
    the connection; a truncated UDP answer is asked again over TCP.
    """
    import dns.edns  # dnspython is imported when DNS is asked, not by every command
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    options: list[dns.edns.Option] = []
    if subnet:
        net = ipaddress.ip_network(subnet, strict=False)
        options.append(dns.edns.ECSOption(str(net.network_address), net.prefixlen))
    query = dns.message.make_query(name, rdtype, use_edns=0, options=options)
    query.flags &= ~dns.flags.RD  # an authoritative question, as a resolver asks it
    try:
        if tcp:
            response = dns.query.tcp(query, server.host, port=server.port, timeout=timeout)
        else:
            response = dns.query.udp(query, server.host, port=server.port, timeout=timeout)
            if response.flags & dns.flags.TC:
                response = dns.query.tcp(query, server.host, port=server.port, timeout=timeout)
    except dns.exception.Timeout:
        raise DnsUnreachable(f"name server {server} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise DnsUnreachable(f"name server {server}: {exc.strerror or exc}") from None
    except dns.exception.DNSException as exc:
        raise DnsUnreachable(f"name server {server} sent a bad answer: {exc}") from None
    wanted = dns.rdatatype.from_text(rdtype)
    values: list[str] = []
    ttl: int | None = None
    for rrset in response.answer:
        if rrset.rdtype in (wanted, dns.rdatatype.CNAME):
            values += [_norm(r.to_text()) for r in rrset]
            ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
    return Reply(str(server), dns.rcode.to_text(response.rcode()), tuple(values), ttl)


# --- what status reads ----------------------------------------------------------------


@dataclass(frozen=True)
class VantageAnswer:
    """What a client near ``vantage`` is sent to (``vantage`` "resolver": no subnet sent)."""

    vantage: str
    values: tuple[str, ...]
    regions: tuple[str, ...]  # the regions whose record values the answer holds
    ttl: int | None
    rcode: str


@dataclass(frozen=True)
class DnsAnswerFinding:
    name: str
    type: str
    server: str | None
    answers: tuple[VantageAnswer, ...] = ()
    error: str | None = None  # no name server answered

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region some vantage is sent to, in topology order of first appearance."""
        seen: list[str] = []
        for a in self.answers:
            seen += [r for r in a.regions if r not in seen]
        return tuple(seen)

    @property
    def ttl(self) -> int | None:
        ttls = [a.ttl for a in self.answers if a.ttl is not None]
        return max(ttls) if ttls else None


def record_values(topology: Topology, name: str, rdtype: str) -> dict[str, str]:
    """Record value (normalised) -> the region whose record answers with it."""
    out: dict[str, str] = {}
    for region, spec in topology.regions.items():
        for rec in spec.traffic.records:
            if _norm(rec.name) == _norm(name) and rec.type == rdtype:
                out.setdefault(_norm(rec.value), region)
    return out


def record_names(topology: Topology) -> list[tuple[str, str, str]]:
    """(name, type, zone) of every record the topology declares, once each, in order."""
    seen: list[tuple[str, str, str]] = []
    for spec in topology.regions.values():
        for rec in spec.traffic.records:
            key = (rec.name, rec.type, rec.zone)
            if all(_norm(k[0]) != _norm(rec.name) or k[1] != rec.type for k in seen):
                seen.append(key)
    return seen


@dataclass
class _Servers:
    """The name servers to ask; a server that failed once is not asked again this run."""

    listed: tuple[NameServer, ...]
    dead: dict[NameServer, str] = field(default_factory=dict)

    def ask(self, name: str, rdtype: str, **kw: Any) -> Reply:
        for server in self.listed:
            if server in self.dead:
                continue
            try:
                return ask(server, name, rdtype, **kw)
            except DnsUnreachable as exc:
                self.dead[server] = str(exc)
        raise DnsUnreachable("; ".join(self.dead.values()) or "no name server to ask")


def servers_for(zone: str, configured: str, *, timeout: float) -> tuple[NameServer, ...]:
    if configured.lower() == ZONE_SERVERS:
        return zone_name_servers(zone, timeout=timeout)
    return parse_servers(configured)


def observe_answers(
    topology: Topology,
    configured: str,
    *,
    timeout: float = QUERY_TIMEOUT,
    samples: int = WEIGHTED_SAMPLES,
    vantages: Sequence[str] | None = None,
    region: str | None = None,
) -> tuple[DnsAnswerFinding, ...]:
    """For each record name (``region``: only that region's): what a client near each
    region (``vantages``, default the topology's regions) is sent to now. Never raises
    for an unreachable name server: the finding carries the error."""
    out = []
    pools: dict[str, _Servers] = {}
    names = record_names(topology)
    if region is not None:
        mine = {_norm(r.name) for r in topology.regions[region].traffic.records}
        names = [n for n in names if _norm(n[0]) in mine]
    for name, rdtype, zone in names:
        try:
            pool = pools.get(zone)
            if pool is None:
                pool = pools[zone] = _Servers(servers_for(zone, configured, timeout=timeout))
            found = answers_for(topology, pool, name, rdtype, vantages, samples, timeout)
        except DnsUnreachable as exc:
            out.append(DnsAnswerFinding(name, rdtype, None, error=str(exc)))
            continue
        out.append(found)
    return tuple(out)


def standby(topology: Topology, region: str, name: str) -> bool:
    """Whether ``region``'s records for ``name`` answer only when others are out (failover
    SECONDARY, weight 0): DNS not answering with it is then no sign of trouble."""
    mine = [r for r in topology.regions[region].traffic.records if _norm(r.name) == _norm(name)]
    return bool(mine) and all(r.failover == "SECONDARY" or r.weight == 0 for r in mine)


def _weighted(topology: Topology, name: str) -> bool:
    return any(
        rec.routing_policy == "weighted" and _norm(rec.name) == _norm(name)
        for spec in topology.regions.values()
        for rec in spec.traffic.records
    )


def answers_for(
    topology: Topology,
    pool: _Servers,
    name: str,
    rdtype: str,
    vantages: Sequence[str] | None,
    samples: int,
    timeout: float,
) -> DnsAnswerFinding:
    by_value = record_values(topology, name, rdtype)
    draws = samples if _weighted(topology, name) else 1
    answers = []
    server = None
    for vantage in vantages if vantages is not None else list(topology.regions):
        subnet = REGION_SUBNETS.get(vantage)
        values: list[str] = []
        reply = None
        for _ in range(draws):
            reply = pool.ask(name, rdtype, subnet=subnet, timeout=timeout)
            values += [v for v in reply.values if v not in values]
        assert reply is not None
        server = reply.server
        regions = tuple(dict.fromkeys(by_value[v] for v in values if v in by_value))
        answers.append(
            VantageAnswer(
                vantage if subnet else "resolver", tuple(values), regions, reply.ttl, reply.rcode
            )
        )
    return DnsAnswerFinding(name, rdtype, server, tuple(answers))


def answer_problems(
    topology: Topology, found: Iterable[DnsAnswerFinding], verdicts: Mapping[str, str]
) -> tuple[dict[str, list[str]], list[str]]:
    """Region warnings (a drained region still answered; a serving one never answered)
    and report warnings (name servers that did not answer)."""
    per_region: dict[str, list[str]] = {}
    report: list[str] = []
    for f in found:
        if f.error:
            report.append(f"dns: {f.name} not checked: {f.error}")
            continue
        answered = set(f.regions)
        for region, spec in topology.regions.items():
            mine = [r for r in spec.traffic.records if _norm(r.name) == _norm(f.name)]
            if not mine:
                continue
            verdict = verdicts.get(region)
            if verdict == "drained" and region in answered:
                per_region.setdefault(region, []).append(
                    f"dns: {f.name} still answers with {region} although it is drained: its "
                    "records do not carry the lever, or Route 53 has not caught up"
                )
            if (
                verdict == "serving"
                and region not in answered
                and not standby(topology, region, f.name)
            ):
                per_region.setdefault(region, []).append(
                    f"dns: {f.name} answers no client with {region} although it is serving"
                )
    return per_region, report


class DnsSection(GlobalSection):
    """Per record name, which regions DNS answers with now (asked once for all regions)."""

    name = "dns"
    api_region = "DNS name servers"

    def declared(self, topology: Topology) -> bool:
        return setting() is not None and bool(record_names(topology))

    def read(self, topology: Topology, factory: ClientSource) -> tuple[Any, ...]:
        configured = setting()
        if configured is None:
            return ()
        return observe_answers(topology, configured, timeout=QUERY_TIMEOUT)

    def apply(
        self, topology: Topology, regions: tuple[RegionStatus, ...], found: tuple[Any, ...]
    ) -> tuple[tuple[RegionStatus, ...], list[str]]:
        from dataclasses import replace

        per_region, report = answer_problems(topology, found, {r.name: r.verdict for r in regions})
        out = []
        for r in regions:
            extra = per_region.get(r.name)
            out.append(replace(r, warnings=(*r.warnings, *extra)) if extra else r)
        return tuple(out), report

    def lines(self, found: tuple[Any, ...]) -> list[str]:
        """``dns api.example.com. CNAME (TTL 60): from us-east-1 -> us-east-1; ...``."""
        return [answer_line(f) for f in found]

    def to_json(self, found: tuple[Any, ...]) -> Any:
        from dataclasses import asdict

        return [{**asdict(f), "regions": list(f.regions)} for f in found]


def answer_line(f: DnsAnswerFinding) -> str:
    if f.error:
        return f"dns {f.name} {f.type}: not checked ({f.error})"
    parts = []
    for a in f.answers:
        to = ", ".join(a.regions) or (", ".join(a.values) if a.values else a.rcode.lower())
        parts.append(f"from {a.vantage} -> {to}")
    ttl = f" (TTL {f.ttl})" if f.ttl is not None else ""
    return f"dns {f.name} {f.type}{ttl}: " + "; ".join(parts)


SECTION = DnsSection()
