"""Reaching a sandbox from outside: the control API client and the background process.

:class:`SandboxClient` calls the control API (``/_sandbox/...``) with the standard library
only (urllib), so tests and the CLI can drive a sandbox in another process. It sends the
sandbox's token (:func:`find_token`: the token of a sandbox started in this process, else
``MR_FAILOVER_SANDBOX_TOKEN``, else ``.sandbox/token`` when ``.sandbox/endpoint`` names
that sandbox) in the ``X-Sandbox-Token`` header, without which the control API refuses
every request. The functions at the end start a sandbox
server in the background (``sandbox up``), find it through its runtime files
(``./.sandbox/``, 0700: pid, endpoint, token, log, each 0600) and stop it (``sandbox
down``). Errors become :class:`SandboxClientError` with the endpoint and the server's
message.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from mr_failover.sandbox.wire import TOKEN_HEADER

RUNTIME_DIR = Path(".sandbox")
# The token of the sandbox at AWS_ENDPOINT_URL, for a process that did not start it.
TOKEN_ENV = "MR_FAILOVER_SANDBOX_TOKEN"
# What the background server runs as (`python -m mr_failover.sandbox`).
SERVER_MODULE = "mr_failover.sandbox"
# Tokens of the sandboxes started in this process, by endpoint (core.Sandbox registers
# them): a client in the same process reaches them with no file or variable.
_STARTED_HERE: dict[str, str] = {}


def remember_token(endpoint_url: str, token: str | None) -> None:
    """Record (``None``: forget) the token of a sandbox this process serves."""
    if token is None:
        _STARTED_HERE.pop(endpoint_url.rstrip("/"), None)
    else:
        _STARTED_HERE[endpoint_url.rstrip("/")] = token


class SandboxClientError(Exception):
    """The control API did not answer, or refused the request."""


class SandboxClient:
    """Calls the control API of the sandbox at ``endpoint_url``.

    ``token``: the sandbox's (``Sandbox.token`` in-process); by default :func:`find_token`.
    """

    def __init__(self, endpoint_url: str, timeout: float = 5.0, token: str | None = None) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout
        self.token = token if token is not None else find_token(self.endpoint_url)

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any
    ) -> Any:
        params = {k: v for k, v in query.items() if v is not None}
        url = f"{self.endpoint_url}/_sandbox/{path}"
        if params:
            url += "?" + urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header(TOKEN_HEADER, self.token)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("error", exc.reason)
            except (ValueError, AttributeError):
                detail = exc.reason
            raise SandboxClientError(f"{method} {url}: {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SandboxClientError(
                f"no sandbox answers at {self.endpoint_url} ({reason})"
            ) from None

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "state")
        return result

    def fail_region(
        self,
        region: str,
        *,
        service: str | None = None,
        kind: str = "outage",
        mode: str = "connection",
        rate: float = 1.0,
        ms: int = 0,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"region": region, "service": service, "kind": kind}
        body |= {"mode": mode, "rate": rate, "ms": ms}
        result: dict[str, Any] = self._call("POST", "faults", body)
        return result

    def heal_region(self, region: str, service: str | None = None) -> int:
        return int(self._call("DELETE", "faults", region=region, service=service)["healed"])

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "faults")
        return result

    def settings(self, **changes: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "settings", changes)
        return result

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def calls(
        self,
        *,
        region: str | None = None,
        service: str | None = None,
        action: str | None = None,
        mutating: bool | None = None,
    ) -> list[dict[str, Any]]:
        flag = None if mutating is None else ("true" if mutating else "false")
        result: list[dict[str, Any]] = self._call(
            "GET", "calls", region=region, service=service, action=action, mutating=flag
        )
        return result

    def advance(self, seconds: float) -> float:
        """Move the sandbox clock forward and run every simulation once."""
        return float(self._call("POST", "clock", {"advance": seconds})["now"])

    def tick(self) -> float:
        return float(self._call("POST", "tick", {})["now"])

    def assign_health_check(self, check_id: str, region: str) -> None:
        self._call("POST", "health-checks", {"id": check_id, "region": region})

    def arc_endpoints(self) -> list[dict[str, Any]]:
        """The ARC cluster endpoints: index, region, url, mode, region_down."""
        result: list[dict[str, Any]] = self._call("GET", "arc-endpoints")
        return result

    def set_arc_endpoint(self, index: int, mode: str) -> dict[str, Any]:
        """Set ARC endpoint ``index`` (0-4) "up", "down" or "unavailable"."""
        result: dict[str, Any] = self._call("POST", "arc-endpoints", {"index": index, "mode": mode})
        return result

    def set_quota(
        self,
        region: str,
        service_code: str,
        quota_code: str,
        *,
        value: float | None = None,
        other_usage: float | None = None,
    ) -> list[dict[str, Any]]:
        """Set a simulated Service Quotas value and/or the usage of other workloads."""
        body: dict[str, Any] = {
            "region": region,
            "service_code": service_code,
            "quota_code": quota_code,
            "value": value,
            "other_usage": other_usage,
        }
        result: list[dict[str, Any]] = self._call("POST", "quotas", body)
        return result

    def quotas(self, region: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "quotas", region=region)
        return result


# --- the background sandbox process ------------------------------------------------------


@dataclass(frozen=True)
class RuntimeFiles:
    """Where a backgrounded sandbox leaves its pid, endpoint, token and log."""

    directory: Path = RUNTIME_DIR

    @property
    def pid(self) -> Path:
        return self.directory / "sandbox.pid"

    @property
    def endpoint(self) -> Path:
        return self.directory / "endpoint"

    @property
    def token(self) -> Path:
        return self.directory / "token"

    @property
    def log(self) -> Path:
        return self.directory / "sandbox.log"

    def prepare(self) -> None:
        """Create the folder 0700 (or tighten it); refuse one another user owns."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.directory.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise SandboxClientError(f"{self.directory} is not a folder")
        if info.st_uid != os.getuid():
            raise SandboxClientError(
                f"{self.directory} belongs to another user (uid {info.st_uid}): "
                "remove it or start the sandbox from another folder"
            )
        os.chmod(self.directory, 0o700)


def _own_file(path: Path) -> str | None:
    """The text of ``path`` if it is a regular file of this user, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd) as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            return None
        return file.read(4096)


def find_token(endpoint_url: str, files: RuntimeFiles | None = None) -> str | None:
    """The token of the sandbox at ``endpoint_url``: its own if this process started it,
    else ``MR_FAILOVER_SANDBOX_TOKEN`` if set, else the runtime files' token when their
    endpoint is this one (``./.sandbox/``)."""
    here = _STARTED_HERE.get(endpoint_url.rstrip("/"))
    if here is not None:
        return here
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    files = files or RuntimeFiles()
    endpoint = _own_file(files.endpoint)
    if endpoint is None or endpoint.strip().rstrip("/") != endpoint_url.rstrip("/"):
        return None
    token = (_own_file(files.token) or "").strip()
    return token or None


def _is_sandbox_process(pid: int) -> bool:
    """The pid is alive and is a sandbox server (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    args = cmdline.split(b"\0")
    return any(
        a == b"-m" and b in (SERVER_MODULE.encode(), b"mr_failover.sandbox.server")
        for a, b in itertools.pairwise(args)
    )


def running(files: RuntimeFiles) -> tuple[int, str] | None:
    """(pid, endpoint) of the sandbox these files describe, if it is alive."""
    try:
        pid = int(files.pid.read_text().strip())
        endpoint = files.endpoint.read_text().strip()
    except (OSError, ValueError):
        return None
    return (pid, endpoint) if _is_sandbox_process(pid) else None


def launch(
    files: RuntimeFiles, port: int = 0, timeout: float = 20.0, poll: float = 0.05
) -> tuple[int, str]:
    """Start ``python -m mr_failover.sandbox`` detached; (pid, endpoint) once it answers."""
    current = running(files)
    if current is not None:
        raise SandboxClientError(
            f"a sandbox is already running at {current[1]} (pid {current[0]}); "
            "run `mr-failover sandbox down` first"
        )
    files.prepare()
    for stale in (files.pid, files.endpoint, files.token):
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", SERVER_MODULE, "--port", str(port)]
    command += ["--pid-file", str(files.pid), "--endpoint-file", str(files.endpoint)]
    command += ["--token-file", str(files.token)]
    fd = os.open(files.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "ab") as log:
        os.fchmod(log.fileno(), 0o600)
        process = subprocess.Popen(
            command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxClientError(
                f"the sandbox exited with code {process.returncode}; see {files.log}"
            )
        if files.endpoint.exists() and files.endpoint.read_text().strip():
            endpoint = files.endpoint.read_text().strip()
            try:
                SandboxClient(endpoint, timeout=1.0, token=find_token(endpoint, files)).state()
                return process.pid, endpoint
            except SandboxClientError:
                pass
        time.sleep(poll)  # waiting for another process: there is no clock to inject
    process.terminate()
    raise SandboxClientError(f"the sandbox did not answer within {timeout:.0f} s; see {files.log}")


def shutdown(files: RuntimeFiles, timeout: float = 10.0, poll: float = 0.05) -> int | None:
    """Stop the backgrounded sandbox (SIGTERM, then SIGKILL); its pid, or None if none ran."""
    current = running(files)
    if current is None:
        for stale in (files.pid, files.endpoint, files.token):
            stale.unlink(missing_ok=True)
        return None
    pid = current[0]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_sandbox_process(pid):
        time.sleep(poll)
    if _is_sandbox_process(pid):
        os.kill(pid, signal.SIGKILL)
    for stale in (files.pid, files.endpoint, files.token):
        stale.unlink(missing_ok=True)
    return pid
