"""The sandbox's wire level: one AWS request and the answer sent instead of moto's.

:class:`SandboxRequest` (region, service, action and protocol of a request, its body read
once) and :class:`SandboxResponse` are what the simulations' interceptors take and
return; :func:`error_response` writes an error in the request's protocol so botocore
parses its code and message; :func:`drop_connection` ends a connection without an answer
(a region that is gone); :func:`quiet_handler` is the request handler of every sandbox
listener. This module is part of the shared layer under the simulations and the HTTP
front (:mod:`mr_failover.sandbox.server`): it imports no other sandbox module.
"""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# environ key set by a listener that serves one region only (arc_cluster.py).
LISTENER_REGION_KEY = "mr_failover.listener_region"
# The header that carries the sandbox's token to its control API and /moto-api/.
TOKEN_HEADER = "X-Sandbox-Token"


@dataclass(frozen=True)
class SandboxResponse:
    """An answer an interceptor or the fault layer sends instead of moto's."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        reason = REASONS.get(self.status, "Error")
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        if self.status >= 400:
            headers.append(("Connection", "close"))
        start_response(f"{self.status} {reason}", headers)
        return [self.body]


REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
REASONS |= {404: "Not Found", 409: "Conflict", 415: "Unsupported Media Type"}
REASONS |= {500: "Internal Server Error", 503: "Service Unavailable", 405: "Not Allowed"}


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


def drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's connection without an HTTP answer (a region that is gone)."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # the client may already be gone
            sock.shutdown(socket.SHUT_RDWR)
    # werkzeug treats ConnectionError as "client went away" and logs nothing.
    raise ConnectionResetError("sandbox: simulated regional outage")


def quiet_handler(base: type) -> type:  # a class factory
    """moto's request handler without one log line per request."""

    class Quiet(base):  # type: ignore[misc]
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

        def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
            # The outage dropped this connection: never read another request from it.
            self.close_connection = True

    return Quiet
