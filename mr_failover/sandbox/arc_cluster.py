"""The Route 53 ARC cluster data plane for the sandbox, on five loopback listeners.

AWS serves ``route53-recovery-cluster`` (awsJson1_0, ``ToggleCustomerAPI.*``) from each
of a cluster's five regional endpoints; so does the sandbox, on five extra listeners
``http://127.0.0.1:<port>/v1``, one per region of ``arc.ENDPOINT_REGIONS``, opened and
closed with the sandbox. Every sandbox cluster shares them. A listener hands each
request to the sandbox middleware with its region named, so the fault table (an outage
of that region takes the endpoint away) and the call log (``region`` = the endpoint
that answered) treat it like any AWS call.

Each endpoint has a mode: ``up``; ``down``: the listener is closed (connection refused,
and open keep-alive connections are cut), reopened on the same port when back up;
``unavailable``: it answers ``EndpointTemporarilyUnavailableException``. The modes are
part of the ARC state (reset puts them back up, checkpoints keep them); the listeners
follow them after each reset or restore.

A request signed for a region other than the endpoint's is refused with
``InvalidSignatureException`` (403), as SigV4 refuses a credential scoped to the wrong
region; AWS's ARC guide says to sign for the endpoint's region.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox import arc
from mr_failover.sandbox.wire import (
    LISTENER_REGION_KEY,
    SandboxResponse,
    drop_connection,
    quiet_handler,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mr_failover.sandbox.state import SandboxState
    from mr_failover.sandbox.wire import SandboxRequest, StartResponse, WSGIApp

SERVICE = "route53-recovery-cluster"
RESIDENT_KEY = "arc_endpoints"
_INDEX_KEY = "mr_failover.arc_endpoint"
_JSON = ("Content-Type", "application/x-amz-json-1.0")


class _Listener:
    """One endpoint's HTTP listener on a fixed loopback port, closable and reopenable."""

    def __init__(self, app: Callable[..., Iterable[bytes]], port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def open(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

        connections: set[socket.socket] = set()
        lock = threading.Lock()

        class Server(ThreadedWSGIServer):
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                with lock:
                    connections.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with lock:
                    connections.discard(request)
                super().shutdown_request(request)

        server = Server("127.0.0.1", self.port, self.app, quiet_handler(WSGIRequestHandler))
        server.connections, server.connections_lock = connections, lock  # type: ignore[attr-defined]
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=self._accept, args=(server,), name=f"arc-endpoint-{self.port}", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _accept(server: Any) -> None:
        # Blocking accept() instead of serve_forever's polling: closing the socket wakes
        # it at once, so an endpoint goes down without waiting for a poll interval.
        while server.socket.fileno() != -1:
            server._handle_request_noblock()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        with contextlib.suppress(OSError):
            server.socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        server.server_close()
        with server.connections_lock:
            live = list(server.connections)
        for conn in live:  # keep-alive connections would otherwise still be served
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def install(sandbox: SandboxState) -> None:
    """Serve the data plane actions, open the five listeners, add the control endpoints.

    Installed after :mod:`~mr_failover.sandbox.arc` (which holds the endpoints' modes).
    """
    for action in _HANDLERS:
        sandbox.intercept(SERVICE, action, _interceptor(sandbox, action))
    sandbox.add_control(
        "GET", "/_sandbox/arc-endpoints", lambda _data, _query: (200, describe(sandbox))
    )
    sandbox.add_control("POST", "/_sandbox/arc-endpoints", functools.partial(_control_set, sandbox))
    sandbox.add_section("arc_endpoints", functools.partial(describe, sandbox))
    sandbox.resident[arc.ENDPOINTS_KEY] = functools.partial(describe, sandbox)
    listeners: list[_Listener] | None = sandbox.resident.get(RESIDENT_KEY)
    if listeners is None:
        front = sandbox.front(_no_such_path)
        listeners = [
            _Listener(_endpoint_app(front, i, region))
            for i, region in enumerate(arc.ENDPOINT_REGIONS)
        ]
        sandbox.resident[RESIDENT_KEY] = listeners
        sandbox.on_stop(functools.partial(_stop_all, listeners))
        sandbox.on_state_replaced(lambda: _follow_modes(sandbox))
    _follow_modes(sandbox)


def _stop_all(listeners: list[_Listener]) -> None:
    for listener in listeners:
        listener.stop()


def _listeners(sandbox: SandboxState) -> list[_Listener]:
    found: list[_Listener] | None = sandbox.resident.get(RESIDENT_KEY)
    if found is None:
        raise ValueError("the ARC simulation is not installed in this sandbox")
    return found


def _follow_modes(sandbox: SandboxState) -> None:
    """Open or close each listener as its mode says."""
    with sandbox.lock:
        modes = arc.state(sandbox).modes
        for listener, mode in zip(_listeners(sandbox), modes, strict=True):
            if mode == "down" and listener.open:
                listener.stop()
            elif mode != "down" and not listener.open:
                listener.start()


def describe(sandbox: SandboxState) -> list[dict[str, Any]]:
    """Each endpoint: index, region, url, mode, and whether a fault has its region down."""
    listeners = sandbox.resident.get(RESIDENT_KEY)
    if listeners is None:
        return []  # the ARC simulation is not installed
    with sandbox.lock:
        modes = arc.state(sandbox).modes
        return [
            {
                "index": i,
                "region": region,
                "url": f"http://127.0.0.1:{listener.port}/v1",
                "mode": modes[i],
                "region_down": sandbox.faults.outage(region, SERVICE) is not None,
            }
            for i, (region, listener) in enumerate(
                zip(arc.ENDPOINT_REGIONS, listeners, strict=True)
            )
        ]


def _control_set(
    sandbox: SandboxState, data: dict[str, Any], _query: dict[str, str]
) -> tuple[int, Any]:
    """POST /_sandbox/arc-endpoints {"index": 0-4, "mode": ...}."""
    index, mode = data.get("index"), data.get("mode")
    if isinstance(index, bool) or not isinstance(index, int) or not isinstance(mode, str):
        raise ValueError('POST /_sandbox/arc-endpoints needs {"index": 0-4, "mode": ...}')
    return 200, set_mode(sandbox, index, mode)


def set_mode(sandbox: SandboxState, index: int, mode: str) -> dict[str, Any]:
    """Set endpoint ``index``'s mode; its description afterwards."""
    if mode not in arc.MODES:
        raise ValueError(f"mode must be one of {', '.join(arc.MODES)}, not {mode!r}")
    if not 0 <= index < len(arc.ENDPOINT_REGIONS):
        raise ValueError(f"ARC endpoint index must be 0-{len(arc.ENDPOINT_REGIONS) - 1}")
    with sandbox.lock:
        arc.state(sandbox).modes[index] = mode
        _follow_modes(sandbox)
    return describe(sandbox)[index]


# --- requests ----------------------------------------------------------------------------


def _no_such_path(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    body = b'{"message": "not an ARC cluster API path"}'
    start_response("404 Not Found", [_JSON, ("Content-Length", str(len(body)))])
    return [body]


def _endpoint_app(
    front: WSGIApp, index: int, region: str
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith("/v1"):
            return _no_such_path(environ, start_response)  # nor the control API
        environ[_INDEX_KEY] = index
        environ[LISTENER_REGION_KEY] = region
        return front(environ, start_response)

    return app


def _interceptor(sandbox: SandboxState, action: str) -> Callable[[SandboxRequest], SandboxResponse]:
    def answer(request: SandboxRequest) -> SandboxResponse:
        try:
            out = _serve(sandbox, request, action)
        except arc.ArcError as exc:
            extra = {"resourceId": exc.resource, "resourceType": exc.kind}
            return request.error(exc.status, exc.code, exc.message, extra)
        body = json.dumps(out).encode()
        return SandboxResponse(200, body, (_JSON, ("x-amzn-RequestId", str(uuid.uuid4()))))

    return answer


def _serve(sandbox: SandboxState, request: SandboxRequest, action: str) -> dict[str, Any]:
    index = request.environ.get(_INDEX_KEY)
    if index is None:
        raise arc.ArcError(
            "UnknownEndpoint",
            "route53-recovery-cluster is served by the cluster's endpoints only "
            "(DescribeCluster ClusterEndpoints; Sandbox.arc_endpoints())",
            404,
        )
    mode = arc.state(sandbox).modes[index]
    if mode == "down":  # a request on a connection opened before the endpoint went down
        drop_connection(request.environ)
    if mode == "unavailable":
        raise arc.ArcError(
            "EndpointTemporarilyUnavailableException",
            f"the cluster endpoint in {request.region} is temporarily unavailable; "
            "try another endpoint",
            503,
        )
    if request.signed_region != request.region:
        raise arc.ArcError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{request.signed_region}' "
            f"(this endpoint is in {request.region})",
            403,
        )
    params = arc.read_json(request)
    with sandbox.lock:
        return _HANDLERS[action](sandbox, params)


def _state_json(sandbox: SandboxState, c: arc.RoutingControl) -> dict[str, Any]:
    return {
        "ControlPanelArn": c.panel_arn,
        "ControlPanelName": arc.panel(sandbox, c.panel_arn).name,
        "RoutingControlArn": c.arn,
        "RoutingControlName": c.name,
        "RoutingControlState": "On" if c.on else "Off",
        "Owner": sandbox.account_id,
    }


def get_routing_control_state(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    c = arc.control(sandbox, str(params.get("RoutingControlArn")))
    return {
        "RoutingControlArn": c.arn,
        "RoutingControlState": "On" if c.on else "Off",
        "RoutingControlName": c.name,
    }


def list_routing_controls(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    wanted = params.get("ControlPanelArn")
    if wanted:
        arc.panel(sandbox, str(wanted))
    items = [
        _state_json(sandbox, c)
        for c in arc.state(sandbox).controls.values()
        if not wanted or c.panel_arn == wanted
    ]
    return arc.page(items, params, "RoutingControls")


def _update(sandbox: SandboxState, entries: list[Any], override: Any) -> dict[str, Any]:
    """Apply every entry or none: refused when a safety rule blocks the resulting states."""
    changes: dict[str, bool] = {}
    for entry in entries:
        arn, value = entry.get("RoutingControlArn"), entry.get("RoutingControlState")
        arc.control(sandbox, str(arn))
        if value not in ("On", "Off"):
            raise arc.invalid(f"RoutingControlState must be On or Off, not {value!r}")
        if arn in changes:
            raise arc.invalid(f"routing control {arn} appears twice in the request")
        changes[str(arn)] = value == "On"
    arc.apply_change(sandbox, changes, {str(a) for a in override or []})
    return {}


def update_routing_control_state(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    entry = {k: params.get(k) for k in ("RoutingControlArn", "RoutingControlState")}
    return _update(sandbox, [entry], params.get("SafetyRulesToOverride"))


def update_routing_control_states(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    entries = params.get("UpdateRoutingControlStateEntries")
    if not isinstance(entries, list) or not entries:
        raise arc.invalid("UpdateRoutingControlStateEntries needs at least one entry")
    return _update(sandbox, entries, params.get("SafetyRulesToOverride"))


_HANDLERS: dict[str, Callable[[SandboxState, dict[str, Any]], dict[str, Any]]] = {
    "GetRoutingControlState": get_routing_control_state,
    "ListRoutingControls": list_routing_controls,
    "UpdateRoutingControlState": update_routing_control_state,
    "UpdateRoutingControlStates": update_routing_control_states,
}
