"""Route 53's name servers for the sandbox: DNS answers for its hosted zones, on loopback.

moto stores record sets but answers no DNS. Here one loopback port (UDP and TCP, the same
number) answers queries for the sandbox's public hosted zones the way Route 53 chooses
records (docs/SANDBOX.md, "DNS answers"; each ``# rule:`` below cites its page):

- simple, failover, weighted, latency and multivalue answer records, and alias records
  to other records of the sandbox's zones (``EvaluateTargetHealth``);
- a record's health is its health check's status as the sandbox's Route 53 simulation
  has it (:func:`mr_failover.sandbox.route53.effective_status`: FailureThreshold,
  ``Disabled``, ``Inverted``, calculated and routing-control checks), read when the
  query arrives, as Route 53 reads the last status it holds;
- latency records by the EDNS client subnet's region (the tool's representative subnets,
  :data:`mr_failover.resources.dns.REGION_SUBNETS`), else the resolver's assumed region
  (us-east-1, as ``TestDNSAnswer`` assumes); distance stands in for measured latency;
- each answer carries its record's TTL (an alias takes its target's).

The wire format is dnspython's. Route 53's DNS is a global data plane: region faults do
not touch it.
"""

from __future__ import annotations

import contextlib
import math
import random
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from mr_failover.resources.dns import region_of_address
from mr_failover.sandbox import route53
from mr_failover.sandbox.state import shutdown_servers

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

RESIDENT_KEY = "dns_server"
# Where a query without a client subnet is assumed to come from: TestDNSAnswer's default
# resolver ("a DNS resolver in the AWS US East (N. Virginia) Region").
RESOLVER_REGION = "us-east-1"
MAX_MULTIVALUE = 8
MAX_ALIAS_DEPTH = 8
TCP_IDLE_SECONDS = 10.0

# Approximate location of each region (latitude, longitude): the sandbox's stand-in for
# Route 53's latency data is the great-circle distance between the client's region and
# the record's (an assumption, docs/SANDBOX.md).
REGION_PLACES: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4),
    "us-east-2": (40.0, -83.0),
    "us-west-1": (37.4, -121.9),
    "us-west-2": (45.8, -119.7),
    "ca-central-1": (45.5, -73.6),
    "sa-east-1": (-23.5, -46.6),
    "eu-west-1": (53.3, -6.3),
    "eu-west-2": (51.5, -0.1),
    "eu-west-3": (48.9, 2.4),
    "eu-central-1": (50.1, 8.7),
    "eu-north-1": (59.3, 18.1),
    "ap-south-1": (19.1, 72.9),
    "ap-northeast-1": (35.7, 139.7),
    "ap-northeast-2": (37.6, 127.0),
    "ap-southeast-1": (1.35, 103.8),
    "ap-southeast-2": (-33.9, 151.2),
}


def distance(a: str, b: str) -> float:
    """Great-circle distance (km) between two regions; unknown regions are far away."""
    if a == b:
        return 0.0
    pa, pb = REGION_PLACES.get(a), REGION_PLACES.get(b)
    if pa is None or pb is None:
        return 1e6
    la1, lo1, la2, lo2 = map(math.radians, (*pa, *pb))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


@dataclass
class Answer:
    """What Route 53 would answer: rcode, answer RRsets (name, type, ttl, values), SOA."""

    rcode: str = "NOERROR"
    rrsets: list[tuple[str, str, int, list[str]]] = field(default_factory=list)
    soa: tuple[str, int, str] | None = None  # (zone, ttl, SOA text) for NXDOMAIN / NODATA
    client_region: str = RESOLVER_REGION
    scope: int = 0  # EDNS client subnet scope: 24 when the answer depended on the subnet


def _zone_for(backend: Any, qname: str) -> Any | None:
    """The public hosted zone whose name is the longest suffix of ``qname``."""
    best = None
    for zone in backend.zones.values():
        if zone.private_zone:  # private zones answer only inside their VPCs
            continue
        z = _norm(zone.name)
        if (qname == z or qname.endswith("." + z)) and (
            best is None or len(z) > len(_norm(best.name))
        ):
            best = zone
    return best


def _texts(records: list[Any]) -> list[str]:
    """moto keeps a record's values as ``{"Value": ...}`` (API) or plain strings (defaults)."""
    return [str(r["Value"] if isinstance(r, dict) else r) for r in records or ()]


def _policy(rs: Any) -> str:
    if rs.failover:
        return "failover"
    if rs.weight is not None:
        return "weighted"
    if rs.region:
        return "latency"
    if rs.multi_value_answer:
        return "multivalue"
    return "simple"


class Resolver:
    """Answers one query from the sandbox's Route 53 state (call with the sandbox lock held)."""

    def __init__(self, sandbox: SandboxState, client_region: str, rng: random.Random) -> None:
        self.sandbox = sandbox
        self.backend = sandbox.backend("route53", "aws")
        self.client_region = client_region
        self.rng = rng
        self.used_region = False

    # -- health -----------------------------------------------------------------------

    def healthy(self, rs: Any, depth: int = 0) -> bool:
        """A record's health: its health check, then (alias) its target's health.

        "Records without a health check are always healthy"; an alias record with
        Evaluate target health checks the records it refers to.
        """
        # rule: route53-dns-record-health
        # "How Amazon Route 53 chooses records when health checking is configured"
        ok = True
        if rs.health_check_id:
            status = route53.effective_status(self.sandbox, rs.health_check_id)
            ok = status is not False  # unseen yet: healthy until checkers report
        target = rs.alias_target or {}
        if ok and target.get("EvaluateTargetHealth") and depth < MAX_ALIAS_DEPTH:
            sets = self._sets_of(str(target.get("DNSName", "")), rs.type)
            if sets is not None:  # a target outside the sandbox's zones counts as healthy
                ok = any(self.healthy(t, depth + 1) for t in sets)
        return ok

    def _sets_of(self, name: str, rdtype: str) -> list[Any] | None:
        zone = _zone_for(self.backend, _norm(name))
        if zone is None:
            return None
        return [rs for rs in zone.rrsets if _norm(rs.name) == _norm(name) and rs.type == rdtype]

    # -- choosing ----------------------------------------------------------------------

    def choose(self, group: list[Any]) -> list[Any]:
        """The record sets whose values answer, from one group (same name and type)."""
        policy = _policy(group[0])
        healthy = [rs for rs in group if self.healthy(rs)]
        if policy == "multivalue":
            # rule: route53-dns-multivalue
            # Up to eight healthy records; all unhealthy: up to eight unhealthy records.
            pool = healthy or group
            return self.rng.sample(pool, min(len(pool), MAX_MULTIVALUE))
        # rule: route53-dns-all-unhealthy
        # "If no record is healthy, all records are healthy": Route 53 must answer something.
        eligible = healthy or list(group)
        if policy == "failover":
            # rule: route53-dns-failover
            # The primary while it is healthy, else a healthy secondary.
            for role in ("PRIMARY", "SECONDARY"):
                found = [rs for rs in eligible if rs.failover == role]
                if found:
                    return found[:1]
            return eligible[:1]
        if policy == "weighted":
            # rule: route53-dns-weighted
            # Chosen by weight among healthy records; zero-weight records only when no
            # record with a weight above zero is healthy.
            nonzero = [rs for rs in eligible if int(rs.weight or 0) > 0]
            pool = nonzero or eligible
            weights = [int(rs.weight or 0) for rs in pool]
            if sum(weights) == 0:
                return [self.rng.choice(pool)]
            return self.rng.choices(pool, weights=weights, k=1)
        if policy == "latency":
            # rule: route53-dns-latency
            # The healthy record whose region is nearest (lowest latency) to the client.
            self.used_region = True
            return [
                min(eligible, key=lambda rs: (distance(self.client_region, rs.region), rs.region))
            ]
        return group[:1]  # simple: one record set holding every value

    def values(self, rs: Any, qtype: str, depth: int) -> tuple[str, int, list[str]] | None:
        """(type, ttl, values) of a chosen record set; an alias answers with its target's."""
        target = rs.alias_target
        if not target:
            return rs.type, int(rs.ttl or 0), _texts(rs.records)
        # rule: route53-dns-alias
        # An alias to another record in the hosted zone answers with that record's values
        # (and TTL); the sandbox cannot resolve other AWS targets: it answers a CNAME.
        dns_name = str(target.get("DNSName", ""))
        if depth < MAX_ALIAS_DEPTH and _zone_for(self.backend, _norm(dns_name)) is not None:
            inner = self.resolve(_norm(dns_name), qtype, depth + 1)
            if inner.rrsets:
                _, rtype, ttl, vals = inner.rrsets[-1]
                return rtype, ttl, vals
            return None
        return "CNAME", 60, [dns_name if dns_name.endswith(".") else dns_name + "."]

    def resolve(self, qname: str, qtype: str, depth: int = 0) -> Answer:
        zone = _zone_for(self.backend, qname)
        if zone is None:
            return Answer(rcode="REFUSED")
        answer = Answer(client_region=self.client_region)
        named = [rs for rs in zone.rrsets if _norm(rs.name) == qname]
        for rtype in (qtype, "CNAME"):
            group = [rs for rs in named if rs.type == rtype]
            if not group or (rtype == "CNAME" and qtype == "CNAME" and answer.rrsets):
                continue
            for rs in self.choose(group):
                got = self.values(rs, qtype, depth)
                if got is not None:
                    answer.rrsets.append((qname, got[0], got[1], got[2]))
            if answer.rrsets:
                break
        if not answer.rrsets:
            below = any(_norm(rs.name).endswith("." + qname) for rs in zone.rrsets)
            answer.rcode = "NOERROR" if named or below else "NXDOMAIN"
            soa = next((rs for rs in zone.rrsets if rs.type == "SOA"), None)
            if soa is not None and soa.records:
                answer.soa = (_norm(zone.name), int(soa.ttl or 900), _texts(soa.records)[0])
        if self.used_region:
            answer.scope = 24
        return answer


def resolve(
    sandbox: SandboxState,
    qname: str,
    qtype: str,
    *,
    client_ip: str | None = None,
    seed: int | None = None,
) -> Answer:
    """Route 53's answer to ``qname``/``qtype`` for a client at ``client_ip`` (its subnet)."""
    region = (region_of_address(client_ip) if client_ip else None) or RESOLVER_REGION
    rng = random.Random(seed)
    with sandbox.lock:
        return Resolver(sandbox, region, rng).resolve(_norm(qname), qtype.upper())


def respond(sandbox: SandboxState, wire: bytes, *, max_size: int = 65535) -> bytes | None:
    """The wire answer to a wire query (None: not even a DNS header to answer)."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    try:
        return _respond(sandbox, query, max_size)
    except Exception:  # a bug here must not leave the client waiting: SERVFAIL
        failed = dns.message.make_response(query)
        failed.set_rcode(dns.rcode.SERVFAIL)
        return failed.to_wire()


def _respond(sandbox: SandboxState, query: dns.message.Message, max_size: int) -> bytes:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.flags &= ~dns.flags.RA
    if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
        response.set_rcode(
            dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR
        )
        return response.to_wire()
    question = query.question[0]
    ecs = next((o for o in query.options if isinstance(o, dns.edns.ECSOption)), None)
    qtype = dns.rdatatype.to_text(question.rdtype)
    answer = resolve(
        sandbox, question.name.to_text(), qtype, client_ip=ecs.address if ecs else None
    )
    response.set_rcode(dns.rcode.from_text(answer.rcode))
    for name, rtype, ttl, values in answer.rrsets:
        rrset = dns.rrset.RRset(
            dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.from_text(rtype)
        )
        rrset.update_ttl(ttl)
        for value in values:
            with contextlib.suppress(dns.exception.SyntaxError):
                rrset.add(
                    dns.rdata.from_text(
                        dns.rdataclass.IN, rrset.rdtype, value, dns.name.root, relativize=False
                    )
                )
        response.answer.append(rrset)
    if answer.soa is not None:
        zone, ttl, text = answer.soa
        with contextlib.suppress(dns.exception.DNSException):
            soa = dns.rrset.RRset(dns.name.from_text(zone), dns.rdataclass.IN, dns.rdatatype.SOA)
            soa.update_ttl(ttl)
            soa.add(
                dns.rdata.from_text(
                    dns.rdataclass.IN, dns.rdatatype.SOA, text, dns.name.root, relativize=False
                )
            )
            response.authority.append(soa)
    if ecs is not None:
        # RFC 7871: the answer echoes the client subnet with the scope it depended on.
        echoed = dns.edns.ECSOption(ecs.address, ecs.srclen, answer.scope)
        response.use_edns(0, payload=query.payload, options=[echoed])
    try:
        return response.to_wire(max_size=max_size)
    except dns.exception.TooBig:
        response.answer.clear()
        response.authority.clear()
        response.flags |= dns.flags.TC
        return response.to_wire()


# --- the listeners -----------------------------------------------------------------------


class DnsServer:
    """UDP and TCP listeners on one loopback port, answering with :func:`respond`."""

    def __init__(self, sandbox: SandboxState, port: int = 0) -> None:
        self.sandbox = sandbox
        self.port = port
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def start(self) -> int:
        sandbox = self.sandbox

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                # RFC 6891: a client without EDNS accepts 512 bytes over UDP.
                try:
                    size = max(512, dns.message.from_wire(data).payload)
                except dns.exception.DNSException:
                    size = 512
                out = respond(sandbox, data, max_size=size)
                if out is not None:
                    sock.sendto(out, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(TCP_IDLE_SECONDS)
                with contextlib.suppress(OSError):
                    while True:
                        head = _read(conn, 2)
                        if head is None:
                            return
                        body = _read(conn, struct.unpack("!H", head)[0])
                        if body is None:
                            return
                        out = respond(sandbox, body)
                        if out is None:
                            return
                        conn.sendall(struct.pack("!H", len(out)) + out)

        class UdpServer(socketserver.ThreadingUDPServer):
            daemon_threads = True
            allow_reuse_address = True

        class TcpServer(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        for _ in range(20):  # the UDP port picked must be free for TCP too
            udp = UdpServer(("127.0.0.1", self.port), Udp)
            port = int(udp.server_address[1])
            try:
                tcp = TcpServer(("127.0.0.1", port), Tcp)
            except OSError:
                udp.server_close()
                if self.port:
                    raise
                continue
            break
        else:
            raise OSError("no loopback port free for both UDP and TCP")
        self.port = port
        self._servers = [udp, tcp]
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"dns-{port}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return port

    def stop(self) -> None:
        servers, self._servers = self._servers, []
        shutdown_servers(servers)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []


def _read(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def install(sandbox: SandboxState) -> None:
    """Open the DNS port (kept across resets; reopened after a stop) and describe it."""
    server: DnsServer | None = sandbox.resident.get(RESIDENT_KEY)
    if server is None:
        server = DnsServer(sandbox)
        sandbox.resident[RESIDENT_KEY] = server
        sandbox.on_stop(server.stop)
    if not server.running:
        server.start()
    sandbox.add_section("dns", lambda: describe(sandbox))


def describe(sandbox: SandboxState) -> dict[str, Any]:
    """``{"host": "127.0.0.1", "port": N, "protocols": ["udp", "tcp"]}`` (empty when off)."""
    server: DnsServer | None = sandbox.resident.get(RESIDENT_KEY)
    if server is None or not server.running:
        return {}
    return {"host": "127.0.0.1", "port": server.port, "protocols": ["udp", "tcp"]}


def port(sandbox: SandboxState) -> int | None:
    """The DNS port of ``sandbox`` (None when the DNS simulation is not running)."""
    return describe(sandbox).get("port")
