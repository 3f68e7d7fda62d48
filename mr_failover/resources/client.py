"""The drill's synthetic client: requests to the application's global URL, as users send them.

For the whole drill a background thread GETs ``probes.global_url`` at ``probes.client_rate``
requests a second (each a :func:`~mr_failover.resources.probes.probe`, bounded by its
deadline; a slow answer delays the next request, never piles them up), and keeps, for
each request, when it was sent (the drill's clock), whether it succeeded and which region
answered. :func:`figures` turns that into what the users got:

- the error rate, and the longest error window (first failed request of a run of failures
  to the next success);
- the client-visible RTO: from the first failed request to the first request of the last
  unbroken run of successes that lasts until the end (None when requests never failed, or
  never recovered);
- requests per region over time (buckets of :data:`BUCKET_SECONDS`), errors counted apart.

The samples are bounded (:data:`MAX_SAMPLES`, the oldest dropped first): a day-long hold at
50 requests a second does not grow the tool's memory without end.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mr_failover.resources.probes import GLOBAL, probe

if TYPE_CHECKING:
    from mr_failover.topology import Probes

BUCKET_SECONDS = 5.0
MAX_SAMPLES = 200_000


@dataclass(frozen=True)
class Sample:
    t: float  # when the request was sent (the drill's clock, epoch seconds)
    ok: bool
    region: str | None  # the region that answered (region_header), if it said
    latency_ms: float


class SyntheticClient:
    """Sends requests to ``spec.global_url`` until :meth:`stop` (a daemon thread)."""

    def __init__(
        self,
        spec: Probes,
        *,
        now: Callable[[], float] = time.time,
        send: Callable[[], tuple[bool, str | None, float]] | None = None,
    ) -> None:
        if not spec.global_url:
            raise ValueError("the synthetic client needs probes.global_url")
        self.spec = spec
        self.now = now
        self.samples: deque[Sample] = deque(maxlen=MAX_SAMPLES)
        self._send = send or self._get
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _get(self) -> tuple[bool, str | None, float]:
        assert self.spec.global_url is not None
        result = probe(self.spec.global_url, self.spec, GLOBAL)
        return result.ok, result.served_by, result.latency_ms

    def start(self) -> SyntheticClient:
        self._thread = threading.Thread(target=self._run, name="synthetic-client", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        interval = 1.0 / self.spec.client_rate
        while not self._stop.is_set():
            started = time.monotonic()
            sent = self.now()
            ok, region, latency = self._send()
            self.samples.append(Sample(sent, ok, region, latency))
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def stop(self) -> list[Sample]:
        """Stop (within one request's deadline) and return the samples, oldest first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.spec.timeout_seconds + 1.0)
        return list(self.samples)


def figures(samples: Sequence[Sample]) -> dict[str, Any]:
    """What the users got (see the module docstring), as a JSON-able mapping."""
    total = len(samples)
    errors = sum(1 for s in samples if not s.ok)
    longest = 0.0
    window_start: float | None = None
    for s in samples:
        if not s.ok and window_start is None:
            window_start = s.t
        elif s.ok and window_start is not None:
            longest = max(longest, s.t - window_start)
            window_start = None
    unrecovered = window_start is not None
    if unrecovered and samples:
        longest = max(longest, samples[-1].t - (window_start or samples[-1].t))
    first_failure = next((s.t for s in samples if not s.ok), None)
    rto = None
    if first_failure is not None and not unrecovered:
        last_failure = max(i for i, s in enumerate(samples) if not s.ok)
        rto = samples[last_failure + 1].t - first_failure
    buckets: dict[int, dict[str, Any]] = {}
    t0 = samples[0].t if samples else 0.0
    for s in samples:
        b = buckets.setdefault(
            int((s.t - t0) // BUCKET_SECONDS),
            {"t": 0.0, "errors": 0, "regions": {}},
        )
        if s.ok:
            key = s.region or "?"
            b["regions"][key] = b["regions"].get(key, 0) + 1
        else:
            b["errors"] += 1
    for index, b in buckets.items():
        b["t"] = round(t0 + index * BUCKET_SECONDS, 3)
    latencies = sorted(s.latency_ms for s in samples if s.ok)
    return {
        "requests": total,
        "errors": errors,
        "error_rate": round(errors / total, 4) if total else None,
        "longest_error_window_seconds": round(longest, 3),
        "rto_seconds": None if rto is None else round(rto, 3),
        "recovered": not unrecovered,
        "latency_p50_ms": latencies[len(latencies) // 2] if latencies else None,
        "per_region": [buckets[k] for k in sorted(buckets)],
        "first_failure_t": first_failure,
    }
