"""Readiness of every region: could each one take over right now?

:func:`observe` fans the reads of every registered service section
(:mod:`mr_failover.resources.registry`) out over a pool of daemon threads, one task per
(region, read), and waits at most ``deadline`` seconds: a task that has not answered by
then is reported, never waited for (daemon threads, so even the interpreter's exit does
not wait for a black-holed endpoint). Each section then judges each region (reasons that
stop it taking over, warnings, whether the section drains it), and the region gets a
verdict (serving, drained, degraded, unreachable) and a "can take over" answer. This
module only orchestrates: it never names a service. The result is a tree of frozen
dataclasses; :meth:`StatusReport.to_json` is the stable, versioned schema documented in
docs/STATUS.md.

Every read is asked of the region it describes (or of the API region its section names),
and cross-region facts (the writer, lag into a region) are assembled afterwards from all
regions' reads, so a dead region never hides the state of the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mr_failover.aws import AccountCheck, ClientSource, check_account
from mr_failover.errors import (
    EXIT_DRIFT,
    EXIT_NOT_READY,
    EXIT_OK,
    AwsCallError,
    CredentialsError,
    MrFailoverError,
    RegionUnreachableError,
    UsageError,
)
from mr_failover.resources.registry import GLOBAL_SECTIONS, SECTIONS
from mr_failover.resources.section import (
    HEALTHY_VERDICTS,
    Drift,
    Judgement,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
    SectionError,
    SharedReads,
    Verdict,
)
from mr_failover.topology import Topology

__all__ = ["HEALTHY_VERDICTS", "RegionStatus", "SectionError", "StatusReport", "Verdict", "observe"]

SCHEMA_VERSION = 2
DEFAULT_DEADLINE = 8.0
# Tasks mostly wait on the network: a 10-region topology has about 50 (region, section)
# tasks, and 16 threads ran them in waves (bench/bench_status.py: 1.9 s -> 1.0 s).
MAX_WORKERS = 64

# What observe(sections=...) can be asked to read: the read keys of the sections
# ("traffic", "routing_controls", "aurora", ...) and of the global ones ("cloudfront").
Readable = str


@dataclass(frozen=True)
class StatusReport:
    application: str
    account_id: str
    account: AccountCheck | None
    account_error: str | None
    observed_at: datetime
    elapsed_seconds: float
    deadline_seconds: float
    rpo_seconds: int
    regions: tuple[RegionStatus, ...]
    warnings: tuple[str, ...] = field(default=())
    # Global services (CloudFront), observed once for every region: name -> findings.
    global_found: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    # Every region of the topology was observed and none serves: drained everywhere is an
    # outage, not readiness (Route 53 would even answer as if all were healthy).
    nothing_serves: bool = False

    @property
    def healthy(self) -> bool:
        return not self.nothing_serves and all(r.healthy for r in self.regions)

    @property
    def drifted(self) -> bool:
        return any(r.drift for r in self.regions)

    @property
    def exit_code(self) -> int:
        if not self.healthy:
            return EXIT_NOT_READY
        return EXIT_DRIFT if self.drifted else EXIT_OK

    def region(self, name: str) -> RegionStatus:
        return next(r for r in self.regions if r.name == name)

    def to_json(self) -> dict[str, Any]:
        """The documented schema (docs/STATUS.md); bump SCHEMA_VERSION on any change."""
        return {
            "schema": "mr-failover/status",
            "version": SCHEMA_VERSION,
            "application": self.application,
            "observed_at": self.observed_at.isoformat(),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "deadline_seconds": self.deadline_seconds,
            "rpo_seconds": self.rpo_seconds,
            "healthy": self.healthy,
            "drifted": self.drifted,
            "exit_code": self.exit_code,
            "account": {
                "expected": self.account_id,
                "actual": self.account.actual if self.account else None,
                "arn": self.account.arn if self.account else None,
                "matches": self.account.matches if self.account else None,
                "error": self.account_error,
            },
            "warnings": list(self.warnings),
            "regions": [region_json(r) for r in self.regions],
            "split_brain": [r.name for r in self.regions if r.split_brain],
            **{g.name: g.to_json(self.global_found.get(g.name, ())) for g in GLOBAL_SECTIONS},
        }


def region_json(r: RegionStatus) -> dict[str, Any]:
    return {
        "name": r.name,
        "verdict": r.verdict,
        "can_take_over": r.can_take_over,
        "is_writer": r.is_writer,
        "split_brain": r.split_brain,
        "reasons": list(r.reasons),
        "warnings": list(r.warnings),
        "errors": [asdict(e) for e in r.errors],
        "drift": [asdict(d) for d in r.drift],
        **{s.name: s.to_json(r.sections.get(s.name)) for s in SECTIONS},
    }


def run_concurrently(
    tasks: Mapping[Any, Callable[[], Any]],
    *,
    deadline: float,
    max_workers: int = MAX_WORKERS,
    first: Callable[[Any], int] | None = None,
) -> dict[Any, Future[Any]]:
    """Run ``tasks`` on daemon threads; return their futures after at most ``deadline`` s.

    ``first``: tasks with a higher number start first (else in order); the futures keep
    the order of ``tasks``. Futures still running at the deadline are left behind (their
    threads are daemons and end with their call's own timeout); those never started are
    cancelled.
    """
    futures: dict[Any, Future[Any]] = {key: Future() for key in tasks}
    queue = list(tasks.items())
    if first is not None:
        queue.sort(key=lambda item: -first(item[0]))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                key, fn = queue.pop(0)
            future = futures[key]
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    for _ in range(min(max_workers, len(tasks))):
        threading.Thread(target=worker, name="mr-failover-observe", daemon=True).start()
    wait_futures(list(futures.values()), timeout=deadline)
    for future in futures.values():
        future.cancel()  # only succeeds for tasks no worker has started
    return futures


def observe(
    topology: Topology,
    factory: ClientSource,
    *,
    regions: Sequence[str] | None = None,
    sections: Collection[Readable] | None = None,
    deadline: float = DEFAULT_DEADLINE,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StatusReport:
    """Observe ``regions`` (default: all) and judge whether each could take over.

    ``sections`` limits the reads to those keys (default: everything): a read not made
    is None in the report and neither blocks nor clears a region, so only a caller that
    judges by those reads alone (drain's absorbers) should narrow it.

    Raises UsageError for a region the topology does not declare, and the
    CredentialsError itself when no call at all could be authenticated.
    """
    names = list(regions) if regions else list(topology.regions)
    unknown = [n for n in names if n not in topology.regions]
    if unknown:
        raise UsageError(
            f"unknown region {', '.join(unknown)}: the topology declares "
            f"{', '.join(topology.regions)}"
        )

    def wanted(key: str) -> bool:
        return sections is None or key in sections

    started = clock()
    observed_at = now()
    tasks: dict[tuple[str, str], Callable[[], object]] = {
        ("", "account"): lambda: check_account(factory, topology)
    }
    api_region: dict[tuple[str, str], str] = {("", "account"): topology.primary_region}
    owner: dict[tuple[str, str], Section] = {}
    for g in GLOBAL_SECTIONS:
        if g.declared(topology) and wanted(g.name):
            tasks[("", g.name)] = lambda g=g: g.read(topology, factory)  # type: ignore[misc]
            api_region[("", g.name)] = g.api_region
    shared = SharedReads()
    for name in names:
        ctx = ReadContext(topology, factory, name, observed_at, shared)
        for section in SECTIONS:
            for read in section.reads(ctx):
                if wanted(read.key):
                    key = (name, read.key)
                    tasks[key] = read.fn
                    api_region[key] = read.api_region or name
                    owner[key] = section
    # The longest chains of calls first: they get their clients first and end first.
    rounds = {k: owner[k].rounds for k in owner}
    rounds |= {("", g.name): g.rounds for g in GLOBAL_SECTIONS}
    futures = run_concurrently(tasks, deadline=deadline, first=lambda k: rounds.get(k, 1))

    results: dict[tuple[str, str], object] = {}
    errors: dict[tuple[str, str], MrFailoverError] = {}
    for key, future in futures.items():
        if not future.done() or future.cancelled():
            errors[key] = RegionUnreachableError(
                api_region[key],
                f"{key[1]} reads",
                f"no answer within {deadline:g} s",
                "the region may be impaired",
            )
        elif (exc := future.exception()) is not None:
            if not isinstance(exc, MrFailoverError):
                # A bug in one section's reads: that section's error, not the whole report's.
                exc = AwsCallError(
                    api_region[key], f"{key[1]} reads", f"unexpected {type(exc).__name__}: {exc}"
                )
            errors[key] = exc
        else:
            results[key] = future.result()

    region_keys = [k for k in tasks if k[0]]
    if region_keys and all(isinstance(errors.get(k), CredentialsError) for k in region_keys):
        raise errors[region_keys[0]]

    account = results.get(("", "account"))
    assert account is None or isinstance(account, AccountCheck)
    account_error = str(errors[("", "account")]) if ("", "account") in errors else None
    report_warnings = []
    if account is not None and not account.matches:
        report_warnings.append(account.message())
    if account_error:
        report_warnings.append(f"account not verified: {account_error}")

    found: dict[str, dict[str, object]] = {name: {} for name in names}
    for (region, read_key), value in results.items():
        if region:
            found[region][read_key] = value
    facts: dict[str, object] = {}
    for section in SECTIONS:
        facts |= section.assemble(topology, found)
    region_status = tuple(
        _judge(
            RegionView(topology, name, found, facts),
            [(k[1], owner[k], exc) for k, exc in errors.items() if k[0] == name],
        )
        for name in names
    )
    global_found: dict[str, tuple[Any, ...]] = {}
    for g in GLOBAL_SECTIONS:
        value = results.get(("", g.name))
        global_found[g.name] = value if isinstance(value, tuple) else ()
        if ("", g.name) in errors:
            report_warnings.append(f"{g.name}: not observed: {errors[('', g.name)]}")
        region_status, more = g.apply(topology, region_status, global_found[g.name])
        report_warnings += more
    nothing_serves = len(names) == len(topology.regions) and all(
        r.verdict != "serving" for r in region_status
    )
    if nothing_serves:
        report_warnings.append(
            "no region is serving: every region is drained, degraded or unreachable "
            "(mr-failover undrain --region R brings one back)"
        )
    return StatusReport(
        application=topology.application,
        account_id=topology.account_id,
        account=account,
        account_error=account_error,
        observed_at=observed_at,
        elapsed_seconds=clock() - started,
        deadline_seconds=deadline,
        rpo_seconds=topology.policy.rpo_seconds,
        regions=region_status,
        warnings=tuple(report_warnings),
        global_found=global_found,
        nothing_serves=nothing_serves,
    )


def _judge(
    view: RegionView, errors: Sequence[tuple[str, Section, MrFailoverError]]
) -> RegionStatus:
    """One region's verdict from its failed reads and every section's judgement."""
    reasons: list[str] = []
    warnings: list[str] = []
    section_errors: list[SectionError] = []
    unreachable = False
    for key, section, exc in errors:
        cut = isinstance(exc, RegionUnreachableError)
        section_errors.append(
            SectionError(
                section=key,
                region=getattr(exc, "region", view.region),
                call=getattr(exc, "call", key),
                message=str(exc),
                unreachable=cut,
            )
        )
        kind, text = section.read_error(key, exc, cut)
        if kind == "warning":
            warnings.append(text)
        else:
            reasons.append(text)
            unreachable = unreachable or kind == "unreachable"

    drained = False
    kept: dict[str, object] = {}
    attrs: dict[str, Any] = {}
    drift: list[Drift] = []
    for section in SECTIONS:
        j: Judgement = section.judge(view)
        reasons += j.reasons
        warnings += j.warnings
        drained = drained or j.drained
        if j.value is not None:
            kept[section.name] = j.value
        attrs |= j.attrs
        drift += j.drift

    verdict: Verdict
    if unreachable:
        verdict = "unreachable"
    elif reasons:
        verdict = "degraded"
    elif drained:
        verdict = "drained"
    else:
        verdict = "serving"
    return RegionStatus(
        name=view.region,
        verdict=verdict,
        can_take_over=not reasons,
        is_writer=attrs.get("is_writer"),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        errors=tuple(section_errors),
        sections=kept,
        split_brain=bool(attrs.get("split_brain", False)),
        drift=tuple(drift),
    )
