"""Application probes: what a client gets, as status and the drill's synthetic client see it.

The topology's ``probes`` names the URL clients use (``global_url``, resolved through DNS
by this machine like any client) and each region's own URL. A probe is one HTTP GET with
a deadline: it is ok when the answer has the expected status; the serving region is
read from ``region_header`` when the application names itself there. Status reads every
probe at once (a global section, like CloudFront's): a region whose own probe fails
cannot take over (its application does not answer, whatever its infrastructure says),
and the global probe says which region clients are served by now.

Nothing here is AWS: no API call, only the application's own URLs. A probe never raises:
a refused connection, a timeout or a bad answer is a failed probe with its reason.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from mr_failover.resources.section import GlobalSection, RegionStatus, Verdict

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Probes, Topology

GLOBAL = "global"
MAX_BODY = 64 * 1024  # what is read of an answer: a probe needs the status, not the page


@dataclass(frozen=True)
class ProbeResult:
    target: str  # "global", or the region whose URL this is
    url: str
    ok: bool
    status: int | None  # HTTP status, None when no answer came
    latency_ms: float
    served_by: str | None  # the region the answer names (region_header)
    error: str | None = None  # why it failed, when it did

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else (self.error or "no answer")
        served = f" from {self.served_by}" if self.served_by else ""
        return f"{what}{served} in {self.latency_ms:.0f} ms"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is the answer (its status is judged), not followed


_OPENER = urllib.request.build_opener(_NoRedirect)


def probe(url: str, spec: Probes, target: str = GLOBAL, method: str = "GET") -> ProbeResult:
    """One request (GET unless ``method``) to ``url`` within ``spec.timeout_seconds``;
    never raises."""
    started = time.monotonic()
    status: int | None = None
    served: str | None = None
    error: str | None = None
    request = urllib.request.Request(url, method=method, headers={"User-Agent": "mr-failover"})
    try:
        with _OPENER.open(request, timeout=spec.timeout_seconds) as answer:
            status = int(answer.status)
            served = answer.headers.get(spec.region_header) if spec.region_header else None
            answer.read(MAX_BODY)
    except urllib.error.HTTPError as exc:  # an answer all the same: its status is judged
        status = exc.code
        served = exc.headers.get(spec.region_header) if spec.region_header else None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.timeout | TimeoutError):
            error = f"no answer within {spec.timeout_seconds:g} s"
        else:
            error = str(reason) or type(reason).__name__
    latency = (time.monotonic() - started) * 1000
    ok = status == spec.expect_status
    if status is not None and not ok:
        error = f"HTTP {status}, expected {spec.expect_status}"
    return ProbeResult(target, url, ok, status, round(latency, 1), served, error)


def targets(spec: Probes) -> list[tuple[str, str]]:
    """(target, url) of every probe the topology declares: the global one first."""
    out = [(GLOBAL, spec.global_url)] if spec.global_url else []
    return out + sorted(spec.regions.items())


class ProbesSection(GlobalSection):
    name = "probes"
    api_region = "application"  # no AWS API: the application's own URLs

    def declared(self, topology: Topology) -> bool:
        return topology.probes is not None and bool(targets(topology.probes))

    def read(self, topology: Topology, factory: ClientSource) -> tuple[ProbeResult, ...]:
        spec = topology.probes
        assert spec is not None
        todo = targets(spec)
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            return tuple(pool.map(lambda t: probe(t[1], spec, t[0]), todo))

    def apply(
        self, topology: Topology, regions: tuple[RegionStatus, ...], found: tuple[Any, ...]
    ) -> tuple[tuple[RegionStatus, ...], list[str]]:
        failed = {p.target: p for p in found if not p.ok and p.target != GLOBAL}
        out = []
        for r in regions:
            p = failed.get(r.name)
            if p is None:
                out.append(r)
                continue
            reason = f"probes: {p.url} {p.error or p.describe()}"
            verdict: Verdict = "unreachable" if r.verdict == "unreachable" else "degraded"
            out.append(
                replace(r, verdict=verdict, can_take_over=False, reasons=(*r.reasons, reason))
            )
        warnings = [
            f"probes: clients get {p.describe()} from {p.url} ({p.error})"
            for p in found
            if p.target == GLOBAL and not p.ok
        ]
        return tuple(out), warnings

    def lines(self, found: tuple[Any, ...]) -> list[str]:
        return [f"probe {p.target}: {p.describe()}{'' if p.ok else ' FAILED'}" for p in found]

    def to_json(self, found: tuple[Any, ...]) -> Any:
        return [asdict(p) for p in found]


SECTION = ProbesSection()
