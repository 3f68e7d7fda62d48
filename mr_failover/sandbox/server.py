"""The sandbox's HTTP front: a WSGI middleware around moto's server app, and its server.

Every request is classified (region and service from the SigV4 credential scope, action
from the protocol), logged, submitted to the fault table (latency, dropped connection,
503, blackhole, throttling, 5xx), offered to the simulations' interceptors, and only then
handed to moto's ``DomainDispatcherApplication``. Paths under ``/_sandbox/`` are the
control API (JSON), documented in docs/SANDBOX.md. Run as a module, it serves in the
foreground until SIGTERM (``mr-failover sandbox up`` starts it that way).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from mr_failover.sandbox.faults import Fault

if TYPE_CHECKING:
    from moto.backends import SERVICE_NAMES

    from mr_failover.sandbox.core import Sandbox

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
# environ key set by a listener that serves one region only (arc_cluster.py).
LISTENER_REGION_KEY = "mr_failover.listener_region"
_CBOR_PATH = re.compile(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$")
# SigV4 signing names that differ from botocore's service names.
SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "elasticloadbalancing": "elbv2"}
# moto backends the tool and the seeder use, loaded when the server starts.
WARM_SERVICES: tuple[SERVICE_NAMES, ...] = (
    "rds",
    "dynamodb",
    "s3",
    "iam",
    "route53",
    "ecs",
    "autoscaling",
    "ec2",
    "lambda",
    "sts",
    "cloudwatch",
)
_READ_PREFIXES = ("Describe", "Get", "List", "Head", "Query", "Scan", "BatchGet", "Test")


def is_mutating(action: str) -> bool:
    """A call that changes state (what tests count to prove a resume repeats nothing)."""
    return bool(action) and not action.startswith(_READ_PREFIXES)


@dataclass(frozen=True)
class SandboxResponse:
    """An answer an interceptor or the fault layer sends instead of moto's."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        reason = _REASONS.get(self.status, "Error")
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        if self.status >= 400:
            headers.append(("Connection", "close"))
        start_response(f"{self.status} {reason}", headers)
        return [self.body]


_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 409: "Conflict"}
_REASONS |= {500: "Internal Server Error", 503: "Service Unavailable", 405: "Not Allowed"}


@dataclass
class SandboxRequest:
    """One AWS request as the middleware sees it."""

    environ: dict[str, Any]
    method: str
    path: str
    query: dict[str, list[str]]
    region: str
    service: str
    action: str
    protocol: str
    _body: bytes | None = field(default=None, repr=False)
    # The region of the SigV4 credential scope, when ``region`` is the region of the
    # listener that took the request instead (the ARC cluster endpoints).
    signed_region: str = ""

    def body(self) -> bytes:
        """The request body; moto still gets it afterwards."""
        if self._body is None:
            env = self.environ
            try:
                length = int(env.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length:
                data = env["wsgi.input"].read(length)
            elif env.get("wsgi.input_terminated"):  # chunked: werkzeug ends the stream
                data = env["wsgi.input"].read()
            else:
                data = b""
            self._body = data or b""
            env["wsgi.input"] = BytesIO(self._body)
            env["CONTENT_LENGTH"] = str(len(self._body))
        return self._body

    def header(self, name: str) -> str:
        return str(self.environ.get("HTTP_" + name.upper().replace("-", "_"), ""))

    def error(
        self, status: int, code: str, message: str, extra: dict[str, str] | None = None
    ) -> SandboxResponse:
        """An error in this request's protocol, so botocore parses code and message."""
        return error_response(self.protocol, self.service, status, code, message, extra)


def error_response(
    protocol: str,
    service: str,
    status: int,
    code: str,
    message: str,
    extra: dict[str, str] | None = None,
) -> SandboxResponse:
    """``extra``: more members of the error shape (JSON protocols only)."""
    request_id = str(uuid.uuid4())
    rid = ("x-amzn-RequestId", request_id)
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message, **(extra or {})}).encode()
        return SandboxResponse(
            status,
            body,
            (("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code), rid),
        )
    if protocol == "smithy-rpc-v2-cbor":
        body = _cbor_map({"__type": code, "message": message})
        return SandboxResponse(
            status,
            body,
            (("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor"), rid),
        )
    code_x, message_x = _xml_escape(code), _xml_escape(message)
    if service == "s3":
        xml = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code_x}</Code>"
            f"<Message>{message_x}</Message><RequestId>{request_id}</RequestId></Error>"
        )
    else:
        kind = "Sender" if status < 500 else "Receiver"
        xml = (
            f"<?xml version='1.0'?><ErrorResponse><Error><Type>{kind}</Type><Code>{code_x}</Code>"
            f"<Message>{message_x}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    return SandboxResponse(status, xml.encode(), (("Content-Type", "text/xml"), rid))


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cbor_map(data: dict[str, str]) -> bytes:
    """Minimal CBOR: a map of short text strings (all an error body needs)."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")

    out = head(5, len(data))
    for key, value in data.items():
        for text in (key, value):
            raw = text.encode()[:65535]
            out += head(3, len(raw)) + raw
    return out


# --- classifying a request --------------------------------------------------------------


@cache
def _service_model(service: str) -> Any:
    import botocore.session

    try:
        return botocore.session.get_session().get_service_model(service)
    except Exception:  # an unknown service name: no action resolution
        return None


Route = tuple[str, re.Pattern[str], frozenset[str], frozenset[str], int, str]


def _required(operation: Any, location: str) -> frozenset[str]:
    """Names of the ``location`` (header, querystring) members a request always carries."""
    shape = operation.input_shape
    if shape is None:
        return frozenset()
    required = set(shape.required_members)
    return frozenset(
        member.serialization.get("name", name)
        for name, member in shape.members.items()
        if name in required and member.serialization.get("location") == location
    )


@cache
def _rest_routes(service: str) -> list[Route]:
    """(method, path regex, query keys, headers, specificity, operation) per operation.

    Some operations share a method and path and differ only by required headers or query
    parameters (S3 ``PutObject``; ``CopyObject``: ``x-amz-copy-source``; ``UploadPart``:
    ``partNumber`` and ``uploadId``), so a route also needs those, and the route that
    requires more is tried first.
    """
    model = _service_model(service)
    if model is None:
        return []
    routes: list[Route] = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        http = operation.http
        uri = http.get("requestUri", "/")
        path, _, query = uri.partition("?")
        keys = frozenset(q.split("=")[0] for q in query.split("&") if q)
        keys |= _required(operation, "querystring")
        literal = len(re.sub(r"\{[^}]+\}", "", path))
        pattern = re.sub(r"\\\{[^}]+?\\\+\\\}", "(.+)", re.escape(path))
        pattern = re.sub(r"\\\{[^}]+?\\\}", "([^/]+)", pattern)
        if pattern.endswith("/") and len(pattern) > 1:
            pattern += "?"
        else:
            pattern += "/?"
        headers = frozenset(
            "HTTP_" + h.upper().replace("-", "_") for h in _required(operation, "header")
        )
        specificity = literal + 100 * len(keys) + 1000 * len(headers)
        method = http.get("method", "GET")
        routes.append((method, re.compile(f"^{pattern}$"), keys, headers, specificity, name))
    routes.sort(key=lambda r: -r[4])
    return routes


def classify(environ: dict[str, Any]) -> SandboxRequest:
    """Region, service, action and protocol of one request."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = unquote(environ.get("PATH_INFO", "") or "/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    region, signing = "us-east-1", ""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", "")) or _CREDENTIAL.search(
        "Credential=" + query.get("X-Amz-Credential", [""])[0]
    )
    if match:
        region, signing = match.group(1), match.group(2)
    service = SIGNING_TO_SERVICE.get(signing, signing)
    request = SandboxRequest(environ, method, path, query, region, service, "", "")
    request.signed_region = region
    # A listener that stands for one region (an ARC cluster endpoint) names it: faults
    # and the call log then see the region that served the call.
    request.region = environ.get(LISTENER_REGION_KEY) or region
    model = _service_model(service) if service else None
    request.protocol = model.protocol if model is not None else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    cbor = _CBOR_PATH.match(path)
    if target:
        request.action = target.rsplit(".", 1)[-1]
        request.protocol = "json"
    elif cbor:
        request.action = cbor.group(1)
        request.protocol = "smithy-rpc-v2-cbor"
    elif "Action" in query:
        request.action = query["Action"][0]
        request.protocol = "query"
    elif environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(request.body().decode("utf-8", "replace"))
        request.action = form.get("Action", [""])[0]
        request.protocol = "query"
    elif service:
        # An ARN in a path segment arrives with its slashes as %2F, which PATH_INFO has
        # already decoded: match the raw path too.
        raw = environ.get("RAW_URI", "").split("?", 1)[0]
        for http_method, pattern, keys, headers, _, name in _rest_routes(service):
            if (
                http_method == method
                and (pattern.match(path) or (raw and pattern.match(raw)))
                and keys <= set(query)
                and all(h in environ for h in headers)
            ):
                request.action = name
                break
    return request


# --- the middleware ---------------------------------------------------------------------


class SandboxMiddleware:
    """Faults, interceptors and the control API in front of moto's app."""

    def __init__(self, sandbox: Sandbox, app: WSGIApp) -> None:
        self.sandbox = sandbox
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox"):
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        from mr_failover.sandbox.core import serving

        request = classify(environ)
        sandbox = self.sandbox
        serving(sandbox)
        decision = sandbox.faults.decide(request.region, request.service)
        if decision.delay_ms:
            time.sleep(decision.delay_ms / 1000)  # real latency is the point of this fault
        if decision.failure == "blackhole" and decision.fault is not None:
            healed = sandbox.faults.wait_healed(
                decision.fault, sandbox.settings.blackhole_max_seconds
            )
            if not healed:
                decision = type(decision)(failure="connection", fault=decision.fault)
            else:
                decision = sandbox.faults.decide(request.region, request.service)
        if decision.failure == "connection":
            sandbox.record_call(request.region, request.service, request.action, 0)
            _drop(environ)
        if decision.failure is not None:
            # Unread request bytes would be parsed as the next request on this
            # connection; the answer also asks to close it.
            request.body()
            response = _fault_response(request, decision.failure)
            sandbox.record_call(request.region, request.service, request.action, response.status)
            return response(environ, start_response)
        for interceptor in sandbox.interceptors(request.service, request.action):
            answer = interceptor(request)
            if answer is not None:
                sandbox.record_call(request.region, request.service, request.action, answer.status)
                return answer(environ, start_response)
        seen: list[int] = []

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen.append(int(status.split()[0]))
            return start_response(status, headers, exc_info)

        with sandbox.lock:  # tickers mutate moto's models: one writer at a time
            result = list(self.app(environ, recording_start_response))
        sandbox.record_call(request.region, request.service, request.action, seen[0] if seen else 0)
        return result

    # --- control API --------------------------------------------------------------------

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            status, payload = self._route(environ)
        except ValueError as exc:
            status, payload = 400, {"error": str(exc)}
        body = json.dumps(payload, indent=1, default=str).encode()
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _route(self, environ: dict[str, Any]) -> tuple[int, Any]:
        sb = self.sandbox
        method = environ["REQUEST_METHOD"]
        path = environ["PATH_INFO"].rstrip("/")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        data: dict[str, Any] = {}
        if method in ("POST", "PUT"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                data = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"body is not JSON: {exc}") from None
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
        route = (method, path)
        if route == ("GET", "/_sandbox/state"):
            return 200, sb.snapshot()
        if route == ("GET", "/_sandbox/faults"):
            return 200, [f.to_dict() for f in sb.faults.list()]
        if route == ("POST", "/_sandbox/faults"):
            return 201, sb.add_fault(Fault.from_dict(data)).to_dict()
        if route == ("DELETE", "/_sandbox/faults"):
            if "region" not in query:
                raise ValueError("DELETE /_sandbox/faults needs ?region=R")
            return 200, {"healed": sb.heal(query["region"], query.get("service") or None)}
        if route == ("POST", "/_sandbox/settings"):
            return 200, asdict(sb.update_settings(**data))
        if route == ("POST", "/_sandbox/reset"):
            sb.reset()
            return 200, {"reset": True}
        if route == ("GET", "/_sandbox/calls"):
            calls = [
                {**asdict(c), "mutating": is_mutating(c.action)}
                for c in sb.calls()
                if all(str(getattr(c, k)) == v for k, v in query.items() if k != "mutating")
            ]
            if "mutating" in query:
                wanted = query["mutating"].lower() in ("1", "true", "yes")
                calls = [c for c in calls if c["mutating"] == wanted]
            return 200, calls
        if route == ("POST", "/_sandbox/clock"):
            seconds = data.get("advance", 0)
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ValueError('POST /_sandbox/clock needs {"advance": seconds}')
            return 200, {"now": sb.advance(float(seconds))}
        if route == ("POST", "/_sandbox/tick"):
            sb.tick_now()
            return 200, {"now": sb.now()}
        if route == ("GET", "/_sandbox/arc-endpoints"):
            from mr_failover.sandbox import arc_cluster

            return 200, arc_cluster.describe(sb)
        if route == ("POST", "/_sandbox/arc-endpoints"):
            index, mode = data.get("index"), data.get("mode")
            if isinstance(index, bool) or not isinstance(index, int) or not isinstance(mode, str):
                raise ValueError('POST /_sandbox/arc-endpoints needs {"index": 0-4, "mode": ...}')
            return 200, sb.set_arc_endpoint(index, mode)
        if route == ("POST", "/_sandbox/health-checks"):
            check_id, region = data.get("id"), data.get("region")
            if not isinstance(check_id, str) or not isinstance(region, str):
                raise ValueError('POST /_sandbox/health-checks needs {"id": ..., "region": ...}')
            sb.assign_health_check(check_id, region)
            return 200, sb.health_check_regions()
        return 404, {"error": f"no control endpoint {method} {path} (see docs/SANDBOX.md)"}


def _drop(environ: dict[str, Any]) -> None:
    """Close the client's connection without an HTTP answer (a region that is gone)."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # the client may already be gone
            sock.shutdown(socket.SHUT_RDWR)
    # werkzeug treats ConnectionError as "client went away" and logs nothing.
    raise ConnectionResetError("sandbox: simulated regional outage")


def _fault_response(request: SandboxRequest, failure: str) -> SandboxResponse:
    where = f"{request.service or 'service'} in {request.region} (sandbox fault)"
    if failure == "throttle":
        code = "SlowDown" if request.service == "s3" else "ThrottlingException"
        if request.protocol in ("query", "rest-xml") and request.service != "s3":
            code = "Throttling"
        status = 503 if request.service == "s3" else 400
        return request.error(status, code, f"Rate exceeded: {where}")
    if failure == "error5xx":
        return request.error(500, "InternalFailure", f"Internal failure: {where}")
    return request.error(503, "ServiceUnavailable", f"Service unavailable: {where}")


class SandboxServer:
    """A threaded werkzeug server on 127.0.0.1 running the middleware over moto."""

    def __init__(self, sandbox: Sandbox, port: int = 0) -> None:
        self.sandbox = sandbox
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        dispatcher = DomainDispatcherApplication(create_backend_app)
        # moto imports a service's code on its first request (RDS alone takes ~0.7 s):
        # pay it here, once, rather than in the middle of a seeding or a test's deadline.
        for name in WARM_SERVICES:
            if name not in dispatcher.app_instances:
                dispatcher.app_instances[name] = create_backend_app(name)
        app = SandboxMiddleware(self.sandbox, dispatcher)
        self._server = make_server(
            "127.0.0.1",
            self.port,
            app,
            threaded=True,
            request_handler=_QuietHandler(MotoRequestHandler),
        )
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-http", daemon=True
        )
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _QuietHandler(base: type) -> type:  # a class factory
    """moto's request handler without one log line per request."""

    class Quiet(base):  # type: ignore[misc]
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

        def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
            # The outage dropped this connection: never read another request from it.
            self.close_connection = True

    return Quiet


def serve(port: int, pid_file: Path | None = None, endpoint_file: Path | None = None) -> None:
    """Serve in the foreground until SIGTERM/SIGINT (what `sandbox up` backgrounds)."""
    import os

    from mr_failover.sandbox.core import Sandbox

    sandbox = Sandbox(port=port)
    url = sandbox.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if pid_file is not None:
        pid_file.write_text(f"{os.getpid()}\n")
    if endpoint_file is not None:
        endpoint_file.write_text(url + "\n")
    print(f"sandbox serving on {url}", flush=True)
    try:
        stop.wait()
    finally:
        sandbox.stop()
        for f in (pid_file, endpoint_file):
            if f is not None:
                f.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mr_failover.sandbox.server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pid-file", type=Path)
    parser.add_argument("--endpoint-file", type=Path)
    args = parser.parse_args(argv)
    serve(args.port, args.pid_file, args.endpoint_file)


if __name__ == "__main__":
    main()
