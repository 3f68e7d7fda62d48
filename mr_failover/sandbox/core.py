"""The sandbox assembled: one process serving every AWS API the tool uses, on loopback.

:class:`Sandbox` is the shared state (:class:`~mr_failover.sandbox.state.SandboxState`)
with the moto server in front (:mod:`mr_failover.sandbox.server`) and the simulations of
:data:`SIMULATIONS` installed. This is the top of the sandbox's layers, the only module
that names the simulations: each registers itself through the state's interface
(interceptors, tickers, control endpoints, state sections), and nothing it installs
imports this module back (tests/sandbox/test_import_cycles.py holds that). The rest of
``mr_failover`` never imports it (only the ``sandbox`` command's server process, the
demo and the tests do). :func:`serve` runs it in the foreground
(``python -m mr_failover.sandbox``, what ``mr-failover sandbox up`` starts).
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mr_failover.sandbox import (
    acm,
    app,
    arc,
    arc_cluster,
    aurora,
    autoscaling,
    cloudfront,
    cloudwatch,
    codecommit,
    dns,
    dynamodb,
    ecs,
    elasticache,
    globalaccelerator,
    quotas,
    route53,
    route53_recovery,
    s3,
)
from mr_failover.sandbox.client import remember_token
from mr_failover.sandbox.server import SandboxMiddleware, SandboxServer
from mr_failover.sandbox.state import (
    DEFAULT_ACCOUNT_ID,
    Call,
    SandboxClock,
    SandboxSettings,
    SandboxState,
    Simulation,
)

__all__ = ["SIMULATIONS", "Call", "Sandbox", "SandboxClock", "SandboxSettings", "serve"]

# The simulations start() installs, in order (arc_cluster serves the cluster endpoints
# of the ARC configuration that arc holds).
SIMULATIONS: tuple[Simulation, ...] = (
    aurora,
    route53,
    route53_recovery,
    dynamodb,
    s3,
    cloudfront,
    acm,
    globalaccelerator,
    elasticache,
    ecs,
    arc,
    arc_cluster,
    cloudwatch,
    autoscaling,
    codecommit,
    quotas,
    dns,
    app,
)


class Sandbox(SandboxState):
    """Multi-region AWS on 127.0.0.1: moto plus the project's simulations."""

    def __init__(
        self,
        *,
        port: int = 0,
        settings: SandboxSettings | None = None,
        clock: Callable[[], float] | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        simulations: Sequence[Simulation] = SIMULATIONS,
    ) -> None:
        super().__init__(port=port, settings=settings, clock=clock, account_id=account_id)
        self._simulations = tuple(simulations)
        self._server: SandboxServer | None = None
        self.set_front(functools.partial(SandboxMiddleware, self))

    def start(self) -> str:
        """Install the simulations, serve on 127.0.0.1, start the ticker; the endpoint URL."""
        if self._server is not None:
            return self.endpoint_url
        # moto builds ~1300 default AMIs (with snapshots) for each region's EC2 backend,
        # on first use and on every reset: a quarter of a seeding's time, and the tool
        # never reads them (the seeder's launch templates name a placeholder image).
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        for simulation in self._simulations:
            simulation.install(self)
            self.installed.append(simulation.__name__.rsplit(".", 1)[-1])
        self.started()
        self._server = SandboxServer(self, port=self.port)
        self.port = self._server.start()
        # What is alive now (moto's and botocore's code and models) lives as long as the
        # process: keep it out of the cyclic collector, whose full passes over it cost
        # about a third of a seeding's CPU time.
        gc.freeze()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        remember_token(self.endpoint_url, self.token)
        self.start_ticker()
        return self.endpoint_url

    def stop(self) -> None:
        """Stop the ticker and the server; releases any blackholed request."""
        self.stop_ticker()
        # The HTTP server's loop and the simulations' listeners (DNS, applications) each
        # stop at their next poll: wait for them side by side, not one after the other.
        closing = None
        if self._server is not None:
            closing = threading.Thread(target=self._server.stop, daemon=True)
            closing.start()
        self.stopped()
        if closing is not None:
            closing.join(timeout=10)
            self._server = None
            remember_token(self.endpoint_url, None)

    def arc_endpoints(self) -> list[tuple[str, str]]:
        """(region, url) of the five Route 53 ARC cluster endpoints (loopback listeners)."""
        return [(e["region"], e["url"]) for e in arc_cluster.describe(self)]

    def dns_port(self) -> int | None:
        """The loopback port (UDP and TCP) answering DNS for the hosted zones."""
        return dns.port(self)

    def app_urls(self) -> dict[str, Any]:
        """The sandbox application's front URL and each region's (sandbox/app.py)."""
        return app.describe(self)

    def set_arc_endpoint(self, index: int, mode: str) -> dict[str, Any]:
        """Set ARC endpoint ``index`` (0-4) "up", "down" (listener closed) or "unavailable"."""
        return arc_cluster.set_mode(self, index, mode)


# --- the foreground process ---------------------------------------------------------------


def _private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by this user only (0600, even if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


def serve(
    port: int,
    pid_file: Path | None = None,
    endpoint_file: Path | None = None,
    token_file: Path | None = None,
) -> None:
    """Serve in the foreground until SIGTERM/SIGINT (what `sandbox up` backgrounds).

    The token goes to ``token_file`` before the endpoint to ``endpoint_file``: whoever
    sees the endpoint can read the token (if the file's mode lets them).
    """
    os.umask(0o077)
    sandbox = Sandbox(port=port)
    url = sandbox.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if pid_file is not None:
        _private_file(pid_file, f"{os.getpid()}\n")
    if token_file is not None:
        _private_file(token_file, sandbox.token + "\n")
    if endpoint_file is not None:
        _private_file(endpoint_file, url + "\n")
    print(f"sandbox serving on {url}", flush=True)
    try:
        stop.wait()
    finally:
        sandbox.stop()
        for f in (pid_file, endpoint_file, token_file):
            if f is not None:
                f.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mr_failover.sandbox")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pid-file", type=Path)
    parser.add_argument("--endpoint-file", type=Path)
    parser.add_argument("--token-file", type=Path)
    args = parser.parse_args(argv)
    serve(args.port, args.pid_file, args.endpoint_file, args.token_file)
