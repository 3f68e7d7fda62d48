"""The sandbox's HTTP front: a WSGI middleware around moto's server app, and its server.

Every request is classified (region and service from the SigV4 credential scope, action
from the protocol), logged, submitted to the fault table (latency, dropped connection,
503, blackhole, throttling, 5xx), offered to the simulations' interceptors, and only then
handed to moto's ``DomainDispatcherApplication``. Paths under ``/_sandbox/`` are the
control API (JSON), documented in docs/SANDBOX.md; the simulations add endpoints to it
through the state (:meth:`~mr_failover.sandbox.state.SandboxState.add_control`), so this
module imports none of them.

The sandbox listens on loopback, where any local process and any web page open in a
browser can reach it. So a request with an ``Origin`` header (what browsers send
cross-origin) is refused on every path; the control API and moto's own ``/moto-api/``
need the sandbox's token in :data:`~mr_failover.sandbox.wire.TOKEN_HEADER` and a
loopback ``Host`` (against DNS rebinding); the control API takes JSON bodies only (no
``text/plain`` form posts); moto's request recorder (which saves every request's
headers, credentials included, to a file) stays off. AWS calls need no token: boto3
reaches the sandbox like AWS, through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from mr_failover.sandbox.faults import Fault
from mr_failover.sandbox.state import serving
from mr_failover.sandbox.wire import (
    LISTENER_REGION_KEY,
    REASONS,
    TOKEN_HEADER,
    SandboxRequest,
    SandboxResponse,
    StartResponse,
    WSGIApp,
    drop_connection,
    quiet_handler,
)

if TYPE_CHECKING:
    from moto.backends import SERVICE_NAMES

    from mr_failover.sandbox.state import SandboxState

_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_CBOR_PATH = re.compile(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$")
# SigV4 signing names that differ from botocore's service names.
SIGNING_TO_SERVICE = {
    "monitoring": "cloudwatch",
    "elasticloadbalancing": "elbv2",
    "servicequotas": "service-quotas",
}
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


# --- who may use the sandbox ------------------------------------------------------------

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
_TOKEN_ENVIRON = "HTTP_" + TOKEN_HEADER.upper().replace("-", "_")


def cross_origin(environ: dict[str, Any]) -> str | None:
    """Why a request comes from a web page (then it is refused), else None.

    Browsers send ``Origin`` with every cross-origin request (and with same-origin ones
    other than GET/HEAD); boto3 and the project's client never do. ``Sec-Fetch-Site``
    names a request a page made to another site, ``Origin`` or not.
    """
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None:
        return f"a request with an Origin header ({origin[:80]!r}) is refused"
    site = environ.get("HTTP_SEC_FETCH_SITE", "")
    if site in ("cross-site", "same-site"):
        return f"a {site} request from a web page is refused"
    return None


def guard_control(environ: dict[str, Any], token: str) -> tuple[int, str] | None:
    """(status, why) when a control API or /moto-api request is refused, else None."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api/recorder"):
        return 403, "moto's request recorder is off in the sandbox (it would save credentials)"
    host = environ.get("HTTP_HOST", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name not in _LOOPBACK_HOSTS:
        return 403, f"Host {host[:80]!r} is not a loopback address"
    given = environ.get(_TOKEN_ENVIRON, "")
    if not given:
        return 401, (
            f"the sandbox's control API needs its token in the {TOKEN_HEADER} header "
            "(.sandbox/token next to .sandbox/endpoint, or Sandbox.token in-process)"
        )
    if not hmac.compare_digest(given.encode(), token.encode()):
        return 403, f"wrong {TOKEN_HEADER} for this sandbox"
    if path.startswith("/_sandbox") and environ.get("REQUEST_METHOD") in ("POST", "PUT"):
        kind = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            return 415, f"the control API takes application/json bodies, not {kind!r}"
    return None


def json_response(status: int, payload: Any) -> SandboxResponse:
    body = json.dumps(payload, indent=1, default=str).encode()
    return SandboxResponse(status, body, (("Content-Type", "application/json"),))


class SandboxMiddleware:
    """Faults, interceptors and the control API in front of moto's app."""

    def __init__(self, sandbox: SandboxState, app: WSGIApp) -> None:
        self.sandbox = sandbox
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        control = path.startswith(("/_sandbox", "/moto-api"))
        why = cross_origin(environ)
        if why is not None and control:
            return json_response(403, {"error": why})(environ, start_response)
        if control:
            refused = guard_control(environ, self.sandbox.token)
            if refused is not None:
                return json_response(refused[0], {"error": refused[1]})(environ, start_response)
            if path.startswith("/_sandbox"):
                return self._control(environ, start_response)
            return self.app(environ, start_response)
        request = classify(environ)
        if why is not None:
            request.body()  # unread bytes would be taken for the next request
            refusal = request.error(403, "AccessDenied", f"sandbox: {why}")
            return refusal(environ, start_response)
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
            drop_connection(environ)
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
            f"{status} {REASONS.get(status, 'Error')}",
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
        if route == ("POST", "/_sandbox/health-checks"):
            check_id, region = data.get("id"), data.get("region")
            if not isinstance(check_id, str) or not isinstance(region, str):
                raise ValueError('POST /_sandbox/health-checks needs {"id": ..., "region": ...}')
            sb.assign_health_check(check_id, region)
            return 200, sb.health_check_regions()
        handler = sb.control(method, path)
        if handler is not None:  # an endpoint a simulation added
            return handler(data, query)
        return 404, {"error": f"no control endpoint {method} {path} (see docs/SANDBOX.md)"}


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


# moto's per-service Flask apps, shared by the sandboxes of this process (SandboxServer).
_BACKEND_APPS: dict[str, Any] = {}
_BACKEND_APPS_LOCK = threading.Lock()


class SandboxServer:
    """A threaded werkzeug server on 127.0.0.1 running the middleware over moto."""

    def __init__(self, sandbox: SandboxState, port: int = 0) -> None:
        self.sandbox = sandbox
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        from moto.moto_api import recorder
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        # moto's recorder writes every request, its headers and credentials included, to
        # a file anyone can then download through /moto-api/recorder/: off, whatever
        # MOTO_ENABLE_RECORDING says (and its endpoints are refused, guard_control()).
        recorder.stop_recording()
        dispatcher = DomainDispatcherApplication(create_backend_app)
        # moto makes a Flask app per service on its first request (importing the service's
        # code, RDS alone ~0.7 s, and compiling hundreds of URL rules, ~0.1 s each): the
        # apps of every sandbox of this process are kept in one dict, so a service's is
        # made once per process, not once per sandbox. They hold no state of their own
        # (they dispatch to moto's backends, which are process-wide anyway). The common
        # ones are made here rather than in the middle of a seeding or a test's deadline.
        with _BACKEND_APPS_LOCK:
            dispatcher.app_instances = _BACKEND_APPS
            for name in WARM_SERVICES:
                if name not in _BACKEND_APPS:
                    _BACKEND_APPS[name] = create_backend_app(name)
        app = SandboxMiddleware(self.sandbox, dispatcher)
        self._server = make_server(
            "127.0.0.1",
            self.port,
            app,
            threaded=True,
            request_handler=quiet_handler(MotoRequestHandler),
        )
        self._server.daemon_threads = True
        # Polls every 0.2 s as the sandbox's other listeners do (werkzeug's default is
        # 0.5 s): stop() waits for the next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="sandbox-http",
            daemon=True,
        )
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
