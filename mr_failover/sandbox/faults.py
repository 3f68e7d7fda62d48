"""Faults injected per region (and optionally per service): the table and its decisions.

A :class:`Fault` is an outage (mode ``connection``: the connection is dropped without
an HTTP answer; ``5xx``: 503 ServiceUnavailable; ``blackhole``: no answer until healed or
a bounded maximum), added latency, throttling at a rate, or 5xx errors at a rate. The
server (:mod:`mr_failover.sandbox.server`) asks :meth:`FaultTable.decide` what to do with
each request; the simulations ask :meth:`FaultTable.outage` whether a region is down.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["outage", "latency", "throttle", "error5xx"]
Mode = Literal["connection", "5xx", "blackhole"]
KINDS: tuple[str, ...] = ("outage", "latency", "throttle", "error5xx")
MODES: tuple[str, ...] = ("connection", "5xx", "blackhole")


@dataclass(frozen=True)
class Fault:
    """One injected fault. ``service=None`` covers every service of the region."""

    region: str
    kind: Kind = "outage"
    service: str | None = None
    mode: Mode = "connection"
    rate: float = 1.0  # throttle / error5xx: share of matching calls affected
    ms: int = 0  # latency: added delay per call
    id: int = 0

    def __post_init__(self) -> None:
        if not self.region:
            raise ValueError("a fault needs a region")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, not {self.rate}")
        if self.kind == "latency" and not 0 < self.ms <= 600_000:
            raise ValueError("a latency fault needs ms between 1 and 600000")

    def covers(self, region: str, service: str | None) -> bool:
        if self.region != region:
            return False
        return self.service is None or self.service == service

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {"region", "kind", "service", "mode", "rate", "ms"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        if not isinstance(data.get("region"), str):
            raise ValueError("a fault needs 'region' (a string)")
        return cls(
            region=data["region"],
            kind=data.get("kind", "outage"),
            service=data.get("service") or None,
            mode=data.get("mode", "connection"),
            rate=float(data.get("rate", 1.0)),
            ms=int(data.get("ms", 0)),
        )


@dataclass(frozen=True)
class Decision:
    """What the server does with one request: delay first, then at most one failure."""

    delay_ms: int = 0
    failure: Literal["connection", "5xx", "blackhole", "throttle", "error5xx"] | None = None
    fault: Fault | None = None


@dataclass
class FaultTable:
    """The active faults. Thread-safe; healing releases blackholed requests."""

    seed: int = 0
    _faults: dict[int, Fault] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _healed: threading.Condition = field(init=False)
    _random: dict[int, random.Random] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._healed = threading.Condition(self._lock)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            stored = Fault(**{**asdict(fault), "id": next(self._ids)})
            self._faults[stored.id] = stored
            # One generator per fault, seeded by what the fault is (not by its id, which
            # depends on earlier faults): a rate fault fails the same calls from run to
            # run, whatever other faults or regions are drawing at the same time.
            self._random[stored.id] = random.Random(
                f"{self.seed}/{stored.region}/{stored.service}/{stored.kind}/{stored.rate}"
            )
            return stored

    def heal(self, region: str, service: str | None = None) -> int:
        """Remove the region's faults (only that service's, if given); how many went."""
        with self._lock:
            gone = [
                i
                for i, f in self._faults.items()
                if f.region == region and (service is None or f.service == service)
            ]
            for i in gone:
                del self._faults[i]
                self._random.pop(i, None)
            self._healed.notify_all()
            return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._random.clear()
            self._healed.notify_all()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults.values())

    def outage(self, region: str, service: str | None = None) -> Fault | None:
        """The outage covering ``region``/``service``; service=None: whole-region only."""
        with self._lock:
            for f in self._faults.values():
                if f.kind != "outage" or f.region != region:
                    continue
                if f.service is None or (service is not None and f.service == service):
                    return f
            return None

    def down_regions(self) -> set[str]:
        with self._lock:
            return {f.region for f in self._faults.values() if f.kind == "outage" and not f.service}

    def decide(self, region: str, service: str | None) -> Decision:
        """The fate of one request to ``service`` in ``region``."""
        with self._lock:
            matching = [f for f in self._faults.values() if f.covers(region, service)]
            delay = sum(f.ms for f in matching if f.kind == "latency")
            for f in matching:
                if f.kind == "outage":
                    return Decision(delay, f.mode, f)
            for f in matching:
                if f.kind in ("throttle", "error5xx") and self._random[f.id].random() < f.rate:
                    return Decision(delay, f.kind, f)
            return Decision(delay)

    def wait_healed(self, fault: Fault, timeout: float) -> bool:
        """Block until ``fault`` is healed or ``timeout`` passes; True if healed."""
        with self._lock:
            return self._healed.wait_for(lambda: fault.id not in self._faults, timeout=timeout)
