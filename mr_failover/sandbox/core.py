"""The sandbox object: one process serving every AWS API the tool uses, on loopback.

:class:`Sandbox` owns the moto server (wrapped by :mod:`mr_failover.sandbox.server`), the
sandbox clock, the settings (lags and durations), the fault table, the log of AWS calls
seen, the background ticker thread that drives the simulations, and the registry of
request interceptors that the simulation modules (``aurora``, ``route53``, ``dynamodb``,
``s3``, ``ecs``, ...) install. This is the interface the simulation modules build against;
the rest of ``mr_failover`` never imports it (only the ``sandbox`` command and the demo do).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.faults import Fault, FaultTable

if TYPE_CHECKING:
    from mr_failover.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
# Simulation modules installed by start(), in order; missing ones are skipped so
# engineer A's and B's parts can land independently.
SIMULATIONS = (
    "mr_failover.sandbox.aurora",
    "mr_failover.sandbox.route53",
    "mr_failover.sandbox.dynamodb",
    "mr_failover.sandbox.s3",
    "mr_failover.sandbox.cloudfront",
    "mr_failover.sandbox.acm",
    "mr_failover.sandbox.globalaccelerator",
    "mr_failover.sandbox.elasticache",
    "mr_failover.sandbox.ecs",
    "mr_failover.sandbox.autoscaling",
    "mr_failover.sandbox.arc",
    "mr_failover.sandbox.cloudwatch",
)
# Services whose moto backend is keyed by partition, not region.
_PARTITION_SERVICES = {"route53", "iam", "cloudfront", "organizations", "route53domains"}

Interceptor = Callable[["SandboxRequest"], "SandboxResponse | None"]

# moto's state is process-wide, so the hooks patched into it must find the sandbox
# that serves the request at hand: the server thread names it, else the last started.
_local = threading.local()
_last_started: list[Sandbox] = []


def active() -> Sandbox | None:
    """The sandbox serving this thread's request (else the last one started)."""
    current: Sandbox | None = getattr(_local, "sandbox", None)
    if current is not None:
        return current
    return _last_started[-1] if _last_started else None


def serving(sandbox: Sandbox) -> None:
    """Mark ``sandbox`` as the one handling this thread's request (the server calls it)."""
    _local.sandbox = sandbox


_patch_lock = threading.Lock()


class Hooks:
    """One simulation's patches into moto's classes, and the sandbox they serve.

    moto's classes are process-wide, so each simulation patches them once per process;
    the patched code then asks :meth:`sandbox` which sandbox's state to use.
    """

    def __init__(self, simulation: str) -> None:
        self.simulation = simulation
        self.patched = False
        self.last: Sandbox | None = None  # the last sandbox that installed the simulation

    def install(self, sandbox: Sandbox, patch: Callable[[], None]) -> None:
        """Serve ``sandbox`` from now on; run ``patch`` the first time only."""
        with _patch_lock:
            self.last = sandbox
            if not self.patched:
                patch()
                self.patched = True

    def sandbox(self) -> Sandbox:
        """The sandbox serving this request, else the last one that installed the hooks."""
        current = active() or self.last
        if current is None:  # pragma: no cover - install() always runs first
            raise RuntimeError(f"the {self.simulation} simulation is not installed")
        return current


# Settings that take a word rather than a number, with the words they take.
WORD_SETTINGS: dict[str, tuple[str, ...]] = {"aurora_fencing": ("succeeds", "fails")}


@dataclass(frozen=True)
class SandboxSettings:
    """Lags and durations of the simulations, in seconds unless the name says otherwise.

    The defaults are short so demos and tests are quick; AWS takes minutes for an
    Aurora switchover and checks health every 10 or 30 s (see docs/SANDBOX.md).
    """

    dynamodb_replication_lag: float = 0.5
    # How long a new DynamoDB replica stays CREATING (AWS: minutes).
    dynamodb_replica_creation_seconds: float = 0.2
    s3_replication_lag: float = 1.0
    aurora_failover_seconds: float = 3.0
    # What AuroraGlobalDBReplicationLag / RPOLag report for each healthy secondary.
    aurora_replication_lag_ms: float = 80.0
    # The sandbox's model of Aurora's best-effort fencing of an old writer after a failover
    # with data loss (docs/SANDBOX.md): "succeeds", it comes back as a pending-resync
    # secondary; "fails", if its region was down, it comes back standalone and writable.
    aurora_fencing: str = "succeeds"
    # Stands in for a health check's RequestInterval (10 or 30 s on AWS).
    health_check_interval: float = 1.0
    # How long an ECS service's new tasks stay PENDING before RUNNING (Fargate: about a
    # minute); 0 starts them at once, as moto does.
    ecs_task_start_seconds: float = 0.25
    # Period of the ticker thread that advances every simulation.
    tick: float = 0.1
    # Longest a blackholed request is held before its connection is dropped.
    blackhole_max_seconds: float = 60.0

    def replace(self, **changes: Any) -> SandboxSettings:
        """A copy with ``changes``; unknown names, non-numbers or unknown words raise ValueError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}; known: {sorted(names)}")
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key in WORD_SETTINGS:
                if value not in WORD_SETTINGS[key]:
                    raise ValueError(f"setting {key} is one of {', '.join(WORD_SETTINGS[key])}")
                clean[key] = value
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"setting {key} must be a number >= 0, not {value!r}")
            clean[key] = float(value)
        return dataclasses.replace(self, **clean)


@dataclass(frozen=True)
class Call:
    """One AWS call seen by the sandbox (the control API lists them)."""

    region: str
    service: str
    action: str
    time: float
    status: int


class SandboxClock:
    """``time.monotonic`` plus an offset that tests and the control API can advance.

    Advancing the clock lets a test observe a switchover mid-way and then finished
    without sleeping for the simulated duration.
    """

    def __init__(self, source: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._source() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self._source() + self._offset


@dataclass
class _Ticker:
    interval: float
    fn: Callable[[], None]
    next_run: float = 0.0


@dataclass
class _State:
    """Simulation state that reset() wipes together with moto's."""

    calls: list[Call] = field(default_factory=list)
    health_check_regions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Sandbox:
    """Multi-region AWS on 127.0.0.1: moto plus the project's simulations."""

    MAX_CALLS_KEPT = 10_000

    def __init__(
        self,
        *,
        port: int = 0,
        settings: SandboxSettings | None = None,
        clock: Callable[[], float] | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        simulations: tuple[str, ...] = SIMULATIONS,
    ) -> None:
        self.account_id = account_id
        self.settings = settings or SandboxSettings()
        self._initial_settings = self.settings
        self.port = port
        self.endpoint_url = ""
        self.lock = threading.RLock()
        self.faults = FaultTable()
        self.clock = (
            clock if isinstance(clock, SandboxClock) else SandboxClock(clock or time.monotonic)
        )
        self._simulations = simulations
        # Wall time matching the sandbox clock, for metric timestamps: advancing the
        # clock moves them too, so datapoints of successive rounds never share a second.
        self._wall0 = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self._clock0 = self.clock()
        self.installed: list[str] = []
        self._state = _State()
        self._tickers: list[_Ticker] = []
        self._interceptors: dict[tuple[str, str], list[Interceptor]] = {}
        self._server: SandboxServer | None = None
        self._stop = threading.Event()
        self._ticker_thread: threading.Thread | None = None
        # Objects a simulation keeps for the sandbox's lifetime (reset() leaves them), and
        # what runs at stop() and whenever _State is replaced (reset, checkpoint restore).
        self.resident: dict[str, Any] = {}
        self._on_stop: list[Callable[[], None]] = []
        self._on_state_replaced: list[Callable[[], None]] = []

    # --- the contract -------------------------------------------------------------

    def now(self) -> float:
        """The sandbox clock (monotonic seconds, advanceable)."""
        return self.clock()

    def wall_time(self) -> dt.datetime:
        """UTC wall time (naive, as moto stores it) that moves with the sandbox clock."""
        return self._wall0 + dt.timedelta(seconds=self.now() - self._clock0)

    def backend(self, service: str, region: str) -> Any:
        """moto's backend object for ``service`` in ``region`` (partition for global ones)."""
        from moto.backends import get_backend

        key = "aws" if service in _PARTITION_SERVICES else region
        return get_backend(service)[self.account_id][key]  # type: ignore[call-overload]

    def region_down(self, region: str, service: str | None = None) -> bool:
        """True while an outage fault covers ``region`` (and ``service``, if given).

        With ``service=None`` only a whole-region outage counts: a DynamoDB-only outage
        does not stop S3 replication.
        """
        return self.faults.outage(region, service) is not None

    def every(self, interval: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` every ``interval`` sandbox seconds on the ticker thread."""
        with self.lock:
            self._tickers.append(_Ticker(interval, fn, next_run=self.now()))

    def start(self) -> str:
        """Install the simulations, serve on 127.0.0.1, start the ticker; the endpoint URL."""
        from mr_failover.sandbox.server import SandboxServer

        if self._server is not None:
            return self.endpoint_url
        # moto builds ~1300 default AMIs (with snapshots) for each region's EC2 backend,
        # on first use and on every reset: a quarter of a seeding's time, and the tool
        # never reads them (the seeder's launch templates name a placeholder image).
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        for name in self._simulations:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                continue  # a simulation not written yet
            module.install(self)
            self.installed.append(name.rsplit(".", 1)[-1])
        _last_started.append(self)
        self._server = SandboxServer(self, port=self.port)
        self.port = self._server.start()
        # What is alive now (moto's and botocore's code and models) lives as long as the
        # process: keep it out of the cyclic collector, whose full passes over it cost
        # about a third of a seeding's CPU time.
        gc.freeze()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._stop.clear()
        self._ticker_thread = threading.Thread(
            target=self._run_tickers, name="sandbox-ticker", daemon=True
        )
        self._ticker_thread.start()
        return self.endpoint_url

    def stop(self) -> None:
        """Stop the ticker and the server; releases any blackholed request."""
        self._stop.set()
        self.faults.clear()
        if self._ticker_thread is not None:
            self._ticker_thread.join(timeout=5)
            self._ticker_thread = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        for fn in self._on_stop:
            fn()
        if self in _last_started:
            _last_started.remove(self)

    def reset(self) -> None:
        """Wipe moto's state, faults, call log, simulation state; restore the settings."""
        from moto.moto_api._internal.models import moto_api_backend

        with self.lock:
            self.faults.clear()
            moto_api_backend.reset()
            self._state = _State()
            self.settings = self._initial_settings
            self.state_replaced()

    # --- additions the simulations and the control API use --------------------------

    def on_stop(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the sandbox stops (a simulation's own listeners, say)."""
        self._on_stop.append(fn)

    def on_state_replaced(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` after reset() or a checkpoint restore replaced the simulation state."""
        self._on_state_replaced.append(fn)

    def state_replaced(self) -> None:
        with self.lock:
            for fn in self._on_state_replaced:
                fn()

    def arc_endpoints(self) -> list[tuple[str, str]]:
        """(region, url) of the five Route 53 ARC cluster endpoints (loopback listeners)."""
        from mr_failover.sandbox import arc_cluster

        return [(e["region"], e["url"]) for e in arc_cluster.describe(self)]

    def set_arc_endpoint(self, index: int, mode: str) -> dict[str, Any]:
        """Set ARC endpoint ``index`` (0-4) "up", "down" (listener closed) or "unavailable"."""
        from mr_failover.sandbox import arc_cluster

        return arc_cluster.set_mode(self, index, mode)

    def intercept(self, service: str, action: str, fn: Interceptor) -> None:
        """Let ``fn`` answer ``service:action`` requests before moto does.

        ``fn`` returns a response to send, or None to let the request through.
        """
        self._interceptors.setdefault((service, action), []).append(fn)

    def interceptors(self, service: str, action: str) -> list[Interceptor]:
        return list(self._interceptors.get((service, action), ()))

    def state(self, key: str, factory: Callable[[], Any]) -> Any:
        """Per-simulation state that reset() wipes: created by ``factory`` on first use."""
        with self.lock:
            if key not in self._state.extra:
                self._state.extra[key] = factory()
            return self._state.extra[key]

    def update_settings(self, **changes: Any) -> SandboxSettings:
        with self.lock:
            self.settings = self.settings.replace(**changes)
            return self.settings

    def assign_health_check(self, check_id: str, region: str) -> None:
        """Say which region a health check watches, so an outage there fails it."""
        with self.lock:
            self._state.health_check_regions[check_id] = region

    def health_check_region(self, check_id: str) -> str | None:
        with self.lock:
            return self._state.health_check_regions.get(check_id)

    def health_check_regions(self) -> dict[str, str]:
        with self.lock:
            return dict(self._state.health_check_regions)

    def add_fault(self, fault: Fault) -> Fault:
        return self.faults.add(fault)

    def heal(self, region: str, service: str | None = None) -> int:
        return self.faults.heal(region, service)

    def record_call(self, region: str, service: str, action: str, status: int) -> None:
        with self.lock:
            calls = self._state.calls
            calls.append(Call(region, service, action, self.now(), status))
            if len(calls) > self.MAX_CALLS_KEPT:
                del calls[: len(calls) - self.MAX_CALLS_KEPT]

    def calls(self) -> list[Call]:
        with self.lock:
            return list(self._state.calls)

    def advance(self, seconds: float) -> float:
        """Move the sandbox clock forward and run every ticker once (synchronously)."""
        if not isinstance(self.clock, SandboxClock):  # pragma: no cover - always is
            raise TypeError("the sandbox clock cannot be advanced")
        now = self.clock.advance(seconds)
        self.tick_now()
        return now

    def tick_now(self) -> None:
        """Run every ticker once, now (tests use it instead of waiting for the thread)."""
        with self.lock:
            tickers = list(self._tickers)
        for ticker in tickers:
            self._run_one(ticker)

    def snapshot(self) -> dict[str, Any]:
        """What GET /_sandbox/state returns."""
        from mr_failover.sandbox import arc_cluster

        with self.lock:
            return {
                "endpoint_url": self.endpoint_url,
                "account_id": self.account_id,
                "now": self.now(),
                "settings": dataclasses.asdict(self.settings),
                "faults": [f.to_dict() for f in self.faults.list()],
                "down_regions": sorted(self.faults.down_regions()),
                "health_check_regions": dict(self._state.health_check_regions),
                "simulations": list(self.installed),
                "calls": len(self._state.calls),
                "arc_endpoints": arc_cluster.describe(self) if "arc" in self.installed else [],
            }

    # --- ticker ---------------------------------------------------------------------

    def _run_one(self, ticker: _Ticker) -> None:
        try:
            with self.lock:
                ticker.fn()
        except Exception:  # a broken simulation must not kill the ticker thread
            log.exception("sandbox ticker %r failed", ticker.fn)
        ticker.next_run = self.now() + ticker.interval

    def _run_tickers(self) -> None:
        while not self._stop.wait(self.settings.tick):
            with self.lock:
                due = [t for t in self._tickers if t.next_run <= self.now()]
            for ticker in due:
                self._run_one(ticker)
