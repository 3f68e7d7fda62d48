"""The sandbox's shared state: what the simulations and the HTTP front build against.

:class:`SandboxState` holds the sandbox clock, the settings (lags and durations), the
fault table, the log of AWS calls seen, the ticker that drives the simulations, and the
registries through which the simulation modules (``aurora``, ``route53``, ``dynamodb``,
``s3``, ``ecs``, ``arc``, ...) plug in: request interceptors, tickers, control API
endpoints, sections of ``GET /_sandbox/state``, per-simulation state, and the HTTP
front for listeners of their own. This is the bottom layer of the sandbox: it imports
no simulation, nor the server, nor the assembly (:mod:`mr_failover.sandbox.core`, whose
:class:`~mr_failover.sandbox.core.Sandbox` adds the HTTP server and the list of
simulations it installs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mr_failover.sandbox.faults import Fault, FaultTable

if TYPE_CHECKING:
    from mr_failover.sandbox.wire import SandboxRequest, SandboxResponse, WSGIApp

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
# Services whose moto backend is keyed by partition, not region.
_PARTITION_SERVICES = {"route53", "iam", "cloudfront", "organizations", "route53domains"}

Interceptor = Callable[["SandboxRequest"], "SandboxResponse | None"]
# A control API endpoint a simulation adds: (JSON body, query) -> (status, JSON payload).
ControlHandler = Callable[[dict[str, Any], dict[str, str]], tuple[int, Any]]


class Simulation(Protocol):
    """What the assembly (:mod:`mr_failover.sandbox.core`) installs: a simulation module.

    ``install`` registers everything the simulation does through the sandbox's interface
    (interceptors, tickers, hooks into moto, control endpoints, state sections); nothing
    below the simulations imports them back.
    """

    __name__: str

    def install(self, sandbox: SandboxState, /) -> None: ...


# moto's state is process-wide, so the hooks patched into it must find the sandbox
# that serves the request at hand: the server thread names it, else the last started.
_local = threading.local()
_last_started: list[SandboxState] = []


def active() -> SandboxState | None:
    """The sandbox serving this thread's request (else the last one started)."""
    current: SandboxState | None = getattr(_local, "sandbox", None)
    if current is not None:
        return current
    return _last_started[-1] if _last_started else None


def serving(sandbox: SandboxState) -> None:
    """Mark ``sandbox`` as the one handling this thread's request (the server calls it)."""
    _local.sandbox = sandbox


def shutdown_servers(servers: Iterable[Any]) -> None:
    """Stop several ``serve_forever`` loops (socketserver's, werkzeug's) at once, then
    close their sockets.

    ``shutdown()`` returns once its loop has seen the request, at its next poll (up to
    ``poll_interval``, 0.2 to 0.5 s): one after another, a sandbox's dozen listeners took
    about 2 s to stop, a test module's teardown. Asked at once, they take one poll.
    """
    servers = list(servers)
    threads = [threading.Thread(target=s.shutdown, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    for server in servers:
        server.server_close()


_patch_lock = threading.Lock()


class Hooks:
    """One simulation's patches into moto's classes, and the sandbox they serve.

    moto's classes are process-wide, so each simulation patches them once per process;
    the patched code then asks :meth:`sandbox` which sandbox's state to use.
    """

    def __init__(self, simulation: str) -> None:
        self.simulation = simulation
        self.patched = False
        self.last: SandboxState | None = None  # the last sandbox that installed the simulation

    def install(self, sandbox: SandboxState, patch: Callable[[], None]) -> None:
        """Serve ``sandbox`` from now on; run ``patch`` the first time only."""
        with _patch_lock:
            self.last = sandbox
            if not self.patched:
                patch()
                self.patched = True

    def sandbox(self) -> SandboxState:
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

    @property
    def offset(self) -> float:
        """How far the clock has been advanced in all."""
        with self._lock:
            return self._offset

    def restore_offset(self, offset: float) -> None:
        """Take back the advances made since the clock stood at ``offset`` (a checkpoint
        restore: every state that could remember a later time is replaced with it)."""
        with self._lock:
            self._offset = offset


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


class SandboxState:
    """Multi-region AWS state on 127.0.0.1: the contract the simulations build against."""

    MAX_CALLS_KEPT = 10_000

    def __init__(
        self,
        *,
        port: int = 0,
        settings: SandboxSettings | None = None,
        clock: Callable[[], float] | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.account_id = account_id
        self.settings = settings or SandboxSettings()
        self._initial_settings = self.settings
        self.port = port
        self.endpoint_url = ""
        # Required by the control API and moto's passthrough (header X-Sandbox-Token): a new
        # one for each sandbox, so a web page or another local user cannot guess it.
        self.token = secrets.token_urlsafe(32)
        self.lock = threading.RLock()
        self.faults = FaultTable()
        self.clock = (
            clock if isinstance(clock, SandboxClock) else SandboxClock(clock or time.monotonic)
        )
        # Wall time matching the sandbox clock, for metric timestamps: advancing the
        # clock moves them too, so datapoints of successive rounds never share a second.
        self._wall0 = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self._clock0 = self.clock()
        self.installed: list[str] = []
        self._state = _State()
        self._tickers: list[_Ticker] = []
        self._interceptors: dict[tuple[str, str], list[Interceptor]] = {}
        self._control: dict[tuple[str, str], ControlHandler] = {}
        self._sections: dict[str, Callable[[], Any]] = {}
        self._front: Callable[[WSGIApp], WSGIApp] | None = None
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

    def reset(self) -> None:
        """Wipe moto's state, faults, call log, simulation state; restore the settings and
        take back the clock's advances: as a sandbox just started."""
        from moto.moto_api._internal.models import moto_api_backend

        with self.lock:
            self.faults.clear()
            moto_api_backend.reset()
            self._state = _State()
            self.settings = self._initial_settings
            self.restore_clock(0.0)
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

    def restore_clock(self, offset: float) -> None:
        """Put the clock's advance back to ``offset`` (the checkpoint's) and let every
        ticker run at its next round: one scheduled for the later time would wait."""
        with self.lock:
            self.clock.restore_offset(offset)
            now = self.now()
            for ticker in self._tickers:
                ticker.next_run = min(ticker.next_run, now)

    def intercept(self, service: str, action: str, fn: Interceptor) -> None:
        """Let ``fn`` answer ``service:action`` requests before moto does.

        ``fn`` returns a response to send, or None to let the request through.
        """
        self._interceptors.setdefault((service, action), []).append(fn)

    def interceptors(self, service: str, action: str) -> list[Interceptor]:
        return list(self._interceptors.get((service, action), ()))

    def add_control(self, method: str, path: str, handler: ControlHandler) -> None:
        """Serve ``method path`` (under ``/_sandbox/``) of the control API with ``handler``."""
        self._control[(method, path)] = handler

    def control(self, method: str, path: str) -> ControlHandler | None:
        return self._control.get((method, path))

    def add_section(self, key: str, describe: Callable[[], Any]) -> None:
        """Add ``key: describe()`` to what :meth:`snapshot` (GET /_sandbox/state) returns."""
        self._sections[key] = describe

    def set_front(self, front: Callable[[WSGIApp], WSGIApp]) -> None:
        """Set the request pipeline (faults, interceptors, call log) the HTTP front puts
        before an app; the assembly does, before it installs the simulations."""
        self._front = front

    def front(self, app: WSGIApp) -> WSGIApp:
        """``app`` behind the sandbox's request pipeline, for a simulation's own listener."""
        if self._front is None:
            raise RuntimeError("this sandbox has no HTTP front (start it as core.Sandbox)")
        return self._front(app)

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
        """What GET /_sandbox/state returns (with the simulations' sections)."""
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
                **{key: describe() for key, describe in self._sections.items()},
            }

    # --- ticker ---------------------------------------------------------------------

    def start_ticker(self) -> None:
        self._stop.clear()
        self._ticker_thread = threading.Thread(
            target=self._run_tickers, name="sandbox-ticker", daemon=True
        )
        self._ticker_thread.start()

    def stop_ticker(self) -> None:
        """Stop the ticker; clear the faults (releases any blackholed request)."""
        self._stop.set()
        self.faults.clear()
        if self._ticker_thread is not None:
            self._ticker_thread.join(timeout=5)
            self._ticker_thread = None

    def stopped(self) -> None:
        """Run what the simulations asked to run at stop (the assembly calls it)."""
        for fn in self._on_stop:
            fn()
        if self in _last_started:
            _last_started.remove(self)

    def started(self) -> None:
        """Make this the sandbox the patched moto code falls back to (the assembly calls it)."""
        _last_started.append(self)

    def _run_one(self, ticker: _Ticker) -> None:
        try:
            with self.lock:
                ticker.fn()
        except Exception:  # a broken simulation must not kill the ticker thread
            log.exception("sandbox ticker %r failed", ticker.fn)
        ticker.next_run = self.now() + ticker.interval

    def _run_tickers(self) -> None:
        while not self._stop.wait(self.settings.tick):
            # moto's state is process-wide: of the sandboxes running in one process (a
            # test process's long-lived one, and the demo's or a test module's started
            # after it), only the last started simulates on it, and an earlier one
            # resumes when that one stops. Two sets of health checkers, replication and
            # metrics acting on the same backends would undo each other's work.
            if active() is not self:
                continue
            with self.lock:
                due = [t for t in self._tickers if t.next_run <= self.now()]
            for ticker in due:
                self._run_one(ticker)
