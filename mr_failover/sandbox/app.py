"""A small application per region on loopback, and a front that routes by DNS answers.

So that drills and status can be judged by what clients see, the sandbox runs the
application itself: one HTTP server per region (``GET /health``, ``POST /orders``,
``GET /orders/<id>``), each naming its region in the ``x-served-by`` header and reading
and writing its region's DynamoDB table (moto's, in that region), and a front listener
that plays the clients' side of DNS: for each request it asks the sandbox's own Route 53
answer for the application's name (:func:`mr_failover.sandbox.dns.resolve`, the same
choice the DNS port gives), takes the region the answer names and passes the request to
that region's server. A region's server answers 503 while its region is down or its
application is failed (``POST /_sandbox/app`` ``{"fail": [region]}``), and the front
answers 503 "no DNS answer" when Route 53 answers nothing.

Assumptions (docs/SANDBOX.md): clients re-resolve for every request (no resolver cache
holding an answer for its TTL), and a region's answer names its region in its value (as
the example's records do: ``api-us-east-1...``, ``...execute-api.us-east-1...``).

Ports are kept across resets (like the DNS port); what the application serves (the name,
the tables, the failed regions) is simulation state, wiped by a reset.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox import dns
from mr_failover.sandbox.route53 import HEALTH_PROBE
from mr_failover.sandbox.state import shutdown_servers

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

RESIDENT_KEY = "app-servers"
HEADER = "x-served-by"
PROBE_TIMEOUT = 2.0  # seconds a health checker waits for the application's answer
_REGION = re.compile(r"(?<![a-z])([a-z]{2}(?:-gov)?-[a-z]+-\d)(?![0-9])")


@dataclass
class AppState:
    name: str | None = None  # the DNS name clients use
    tables: dict[str, str] = field(default_factory=dict)  # region -> DynamoDB table
    failed: set[str] = field(default_factory=set)  # regions whose application fails
    served: dict[str, int] = field(default_factory=dict)  # region -> requests answered 2xx


def _state(sandbox: SandboxState) -> AppState:
    """The application's settings. Kept on the resident servers, not in the sandbox's
    locked state: a health checker probes the application over HTTP while the sandbox's
    lock is held (the ticker), so answering a probe must never wait for that lock."""
    servers: _Servers | None = sandbox.resident.get(RESIDENT_KEY)
    return servers.conf if servers is not None else AppState()


def region_answered(sandbox: SandboxState, name: str) -> str | None:
    """The region Route 53's answer for ``name`` sends a client to now (None: none)."""
    answer = dns.resolve(sandbox, name, "A")
    for _, _, _, values in answer.rrsets:
        for value in values:
            if m := _REGION.search(value):
                return m.group(1)
    return None


class _Servers:
    def __init__(self, sandbox: SandboxState, regions: list[str]) -> None:
        self.sandbox = sandbox
        self.regions = regions
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.threads: list[threading.Thread] = []
        self.conf = AppState()  # wiped when the sandbox's state is (reset, restore)

    def start(self) -> None:
        for region in [*self.regions, "front"]:
            handler = type(
                "Handler", (_Handler,), {"sandbox": self.sandbox, "region": region, "apps": self}
            )
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            self.servers[region] = server
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"app-{region}",
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        servers, self.servers = self.servers, {}
        shutdown_servers(servers.values())
        for thread in self.threads:
            thread.join(timeout=5)
        self.threads = []

    def url(self, region: str) -> str:
        return f"http://127.0.0.1:{self.servers[region].server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    sandbox: SandboxState
    region: str  # "front" for the DNS-routing front
    apps: _Servers
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any], region: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if region:
            self.send_header(HEADER, region)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        region = self.region
        if region == "front":
            name = _state(self.sandbox).name
            if not name:
                self._send(503, {"error": "the sandbox application has no DNS name set"})
                return
            target = region_answered(self.sandbox, name)
            if target is None or target not in self.apps.servers:
                self._send(503, {"error": f"no DNS answer for {name}"})
                return
            region = target
        status, out = serve(self.sandbox, region, method, self.path, body)
        self._send(status, out, region)


def serve(
    sandbox: SandboxState, region: str, method: str, path: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    """One request to ``region``'s application: (status, JSON body)."""
    st = _state(sandbox)
    if sandbox.region_down(region) or region in st.failed:
        return 503, {"error": f"{region} is not serving", "region": region}
    table = st.tables.get(region)
    if path == "/health" and method == "GET":
        if table is not None and not _table_answers(sandbox, region, table):
            return 500, {"error": f"table {table} does not answer in {region}", "region": region}
        st.served[region] = st.served.get(region, 0) + 1
        return 200, {"region": region, "ok": True}
    if path == "/orders" and method == "POST" and table is not None:
        order = str(uuid.uuid4())
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        with sandbox.lock:
            backend = sandbox.backend("dynamodb", region)
            item = {**_key(backend, table, order), "body": {"S": json.dumps(payload)}}
            backend.put_item(table, item)
        st.served[region] = st.served.get(region, 0) + 1
        return 201, {"id": order, "region": region}
    if path.startswith("/orders/") and method == "GET" and table is not None:
        with sandbox.lock:
            backend = sandbox.backend("dynamodb", region)
            found = backend.get_item(table, _key(backend, table, path.rsplit("/", 1)[-1]))
        if found is None:
            return 404, {"error": "no such order", "region": region}
        return 200, {"region": region, "found": True}
    return 404, {"error": f"no route {method} {path}"}


def _key(backend: Any, table: str, order: str) -> dict[str, Any]:
    """The item key of order ``order`` in ``table``, whatever its key schema."""
    t = backend.get_table(table)
    key = {t.hash_key_attr: _typed(t.hash_key_type, f"order#{order}")}
    if t.range_key_attr:
        key[t.range_key_attr] = _typed(t.range_key_type, "order")
    return key


def _typed(kind: str | None, text: str) -> dict[str, str]:
    """A key attribute of type ``kind`` made from ``text`` (a number: its CRC-32)."""
    return {"N": str(zlib.crc32(text.encode()))} if kind == "N" else {"S": text}


def _table_answers(sandbox: SandboxState, region: str, table: str) -> bool:
    """Whether ``table`` exists in ``region``: a look at moto's table list only, without
    the sandbox's lock and without DescribeTable (whose simulation takes the lock): a
    health checker asks this while the ticker holds the lock (see _state)."""
    return table in sandbox.backend("dynamodb", region).tables


def configure(
    sandbox: SandboxState,
    *,
    name: str | None = None,
    tables: dict[str, str] | None = None,
    fail: list[str] | None = None,
) -> None:
    """Set the application's DNS name, its table per region, its failed regions."""
    st = _state(sandbox)
    if name is not None:
        st.name = str(name).rstrip(".") + "."
    if tables is not None:
        st.tables = {str(k): str(v) for k, v in dict(tables).items()}
    if fail is not None:
        st.failed = {str(r) for r in fail}


def _control(sandbox: SandboxState, body: dict[str, Any], _: dict[str, str]) -> tuple[int, Any]:
    configure(sandbox, name=body.get("name"), tables=body.get("tables"), fail=body.get("fail"))
    return 200, describe(sandbox)


def install(sandbox: SandboxState) -> None:
    """Open the application's listeners (kept across resets) and its control endpoint."""
    servers: _Servers | None = sandbox.resident.get(RESIDENT_KEY)
    if servers is None:
        servers = _Servers(sandbox, list(REGIONS))
        sandbox.resident[RESIDENT_KEY] = servers
        sandbox.on_stop(servers.stop)
        sandbox.on_state_replaced(lambda: setattr(servers, "conf", AppState()))
        # Route 53's health checkers probe the application through this (sandbox/route53.py).
        sandbox.resident[HEALTH_PROBE] = lambda region: probe_health(sandbox, region)
    if not servers.servers:
        servers.start()
    sandbox.add_section("app", lambda: describe(sandbox))
    sandbox.add_control("POST", "/_sandbox/app", lambda b, q: _control(sandbox, b, q))


def describe(sandbox: SandboxState) -> dict[str, Any]:
    """The front's URL, each region's, the name, the tables, failed regions, 2xx counts."""
    servers: _Servers | None = sandbox.resident.get(RESIDENT_KEY)
    if servers is None or not servers.servers:
        return {}
    st = _state(sandbox)
    return {
        "front": servers.url("front"),
        "regions": {r: servers.url(r) for r in servers.regions},
        "name": st.name,
        "tables": dict(st.tables),
        "failed": sorted(st.failed),
        "served": dict(st.served),
    }


def probe_health(sandbox: SandboxState, region: str) -> bool | None:
    """What a health checker gets from ``region``'s application over HTTP; None while the
    application is not set up (no name and no tables: health checks then follow region
    outages only).

    # rule: route53-http-health
    Healthy is a status of 200 or more and less than 400 ("HTTP: Route 53 tries to
    establish a TCP connection. If successful, Route 53 submits an HTTP request and waits
    for an HTTP status code of 200 or greater and less than 400", HealthCheckConfig, Amazon
    Route 53 API Reference, https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html),
    within 4 s to connect and 2 s to answer ("How Amazon Route 53 determines whether a
    health check is healthy", Route 53 Developer Guide,
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html):
    one deadline of :data:`PROBE_TIMEOUT` here, as the loopback connects at once.
    """
    st = _state(sandbox)
    url = region_url(sandbox, region)
    if url is None or (st.name is None and not st.tables):
        return None
    try:
        with _NO_REDIRECTS.open(f"{url}/health", timeout=PROBE_TIMEOUT) as answer:
            return 200 <= int(answer.status) < 400
    except urllib.error.HTTPError as exc:
        return 200 <= exc.code < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is the checker's answer, not a page to follow


_NO_REDIRECTS = urllib.request.build_opener(_KeepRedirects)


def region_url(sandbox: SandboxState, region: str) -> str | None:
    """The URL of ``region``'s application (None when it has none)."""
    url = describe(sandbox).get("regions", {}).get(region)
    return None if url is None else str(url)


# The regions that get an application: the sandbox's usual ones (a listener each).
REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
)
