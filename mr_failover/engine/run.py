"""The run lifecycle of every mutating command and drill, in one place.

resume checks -> account guard -> plan (a dry run stops here) -> show -> confirm -> lock
-> the plan again under the lock, from fresh reads -> journal -> execute with the lease
renewed -> end -> release. With the topology's ``journal``, every record goes to the team's
S3 journal too (:mod:`mr_failover.engine.shared`); with ``notifications``, the start,
a failure and the end are posted (:mod:`mr_failover.engine.notify`). What a command runs
is a :class:`Job` (a plan builder for drain, promote, fence...; the phases of a drill);
what it shows or asks goes through :class:`Hooks` callbacks, so this module never prints
and never imports click or rich.

Preconditions are checked again under the lock, before the first change: the plan
shown is built again from fresh reads once the lock is held, and the run is refused
(exit 3, nothing changed) when the new plan differs or its builder now refuses: another
operator may have changed the state while this one read the plan (or, with ``--yes``,
between the plan and the lock). The first plan is built before the lock so that a
refusal or "nothing to do" costs no lock write.

SIGTERM and SIGHUP are handled like Ctrl-C (SIGINT): the step in progress and the run are
journaled as interrupted, the lease is released, and :class:`Interrupted` carries the
run id, the resume command and the exit code (128 + the signal: 130, 143, 129).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.engine import guard, journal, lock
from mr_failover.engine.executor import StepFailedError, execute
from mr_failover.engine.notify import Notifier, describe
from mr_failover.engine.plan import Clock, Event, Plan, RunResult, Step, StepAction
from mr_failover.engine.shared import SharedJournal
from mr_failover.errors import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    MrFailoverError,
    RefusedError,
    UsageError,
)

if TYPE_CHECKING:
    from mr_failover.aws import ClientFactory
    from mr_failover.topology import Topology

    Build = Callable[[Topology, ClientFactory, Mapping[str, Any]], Plan]

_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT, SIGTERM or SIGHUP; exit 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.run_id: str | None = None
        self.resume: str | None = None  # the command line that resumes the run
        self.journaled = False

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    def __str__(self) -> str:
        if self.journaled and self.resume:
            return (
                f"interrupted ({self.signal_name}): run {self.run_id} is journaled as "
                f"interrupted and the lock released; resume with `{self.resume}`"
            )
        return f"interrupted ({self.signal_name}) before any change: nothing to resume"


class PlanChangedError(RefusedError):
    """Under the lock, the plan no longer holds: the state changed since it was shown."""

    def __init__(self, changes: list[str]) -> None:
        self.changes = changes
        super().__init__(
            "refused: the state changed after the plan was shown, so nothing was changed: "
            + "; ".join(changes)
            + "; look at the new plan (--dry-run) and run again"
        )


@dataclass(frozen=True)
class Request:
    """What the operator asked for."""

    command: str
    params: Mapping[str, Any]
    yes: bool = False
    dry_run: bool = False
    resume: str | None = None


@dataclass(frozen=True)
class RunInfo:
    """The run a job belongs to (a resumed run keeps its id and its params)."""

    run_id: str
    command: str
    params: Mapping[str, Any]
    prior: journal.RunRecord | None
    topology: Topology
    factory: ClientFactory
    clock: Clock


@dataclass(frozen=True)
class Execution:
    """What a job's :meth:`Job.execute` gets from the lifecycle."""

    recorder: journal.Journal
    on_event: Callable[[Event], None]
    wrap: Callable[[Plan], Plan]  # every step's polling stops once the lock is known lost
    before_step: Callable[[Step], None] | None  # the lock's "still mine?" check
    completed: frozenset[str]  # steps an earlier attempt finished
    applied_at: Mapping[str, float]  # wall times earlier attempts applied steps at


@dataclass(frozen=True)
class Finished:
    """How a job's execution ended (an exception ends it otherwise)."""

    outcome: str  # succeeded | stopped (a drill's stop condition fired)
    seconds: float
    detail: str = ""
    result: RunResult | None = None


@dataclass(frozen=True)
class Outcome:
    """What :func:`run` returns: the plan, and for a real run how it ended."""

    run_id: str
    plan: Plan
    params: Mapping[str, Any]
    finished: Finished | None = None  # None for a dry run
    journal_path: str = ""


def _nothing(*_: object) -> None:
    return None


@contextlib.contextmanager
def _silent(_: str) -> Iterator[Callable[[Event], None]]:
    yield _nothing


@dataclass
class Hooks:
    """What the command shows and asks; the engine calls these, never prints."""

    show: Callable[[Plan], None] = _nothing  # the plan, before confirming or running
    # Asks the operator; raises to decline. None: --yes.
    confirm: Callable[[Plan], None] | None = None
    notice: Callable[[str], None] = _nothing  # a warning or a lock message
    # Wraps the execution; yields the progress callback.
    running: Callable[[str], contextlib.AbstractContextManager[Callable[[Event], None]]] = field(
        default=_silent
    )


class Job(ABC):
    """What a command runs under the lifecycle."""

    info: RunInfo

    def resume_params(self, prior: journal.RunRecord, given: Mapping[str, Any]) -> dict[str, Any]:
        """A resumed run's params: the journaled ones; different options are refused."""
        clash = {k: v for k, v in given.items() if v is not None and prior.params.get(k) != v}
        if clash:
            raise UsageError(
                f"run {prior.run_id} ran with {dict(prior.params)}; resume it with the same "
                "options or without them"
            )
        return dict(prior.params)

    def setup(self, info: RunInfo) -> None:
        """Called once the run id and params are known, before the account guard."""
        self.info = info

    def first_region(self) -> str | None:
        """The region whose STS the account guard asks first (the target)."""
        region = self.info.params.get("region")
        return region if isinstance(region, str) else None

    @abstractmethod
    def plan(self) -> Plan:
        """The plan from fresh reads; raises RefusedError when a precondition fails."""

    def check(self, plan: Plan) -> None:
        """Preconditions outside the plan (a drill's steady state); raise to refuse."""
        return None

    def begin(self, recorder: journal.Journal) -> None:
        """The journal is open: record (or, on resume, read back) what the job needs."""
        return None

    def recheck(self, shown: Plan, *, confirmed: bool) -> Plan:
        """Under the lock: the plan again from fresh reads, refused when it changed."""
        return recheck(self, shown, confirmed=confirmed)

    def execute(self, plan: Plan, ex: Execution) -> Finished:
        result = execute(
            ex.wrap(plan),
            clock=self.info.clock,
            recorder=ex.recorder,
            on_event=ex.on_event,
            completed=ex.completed,
            before_step=ex.before_step,
            applied_at=ex.applied_at,
        )
        return Finished("succeeded", result.seconds, result=result)

    def resume_command(self, run_id: str) -> str:
        return f"mr-failover {self.info.command} --resume {run_id}"


class PlanJob(Job):
    """A command whose whole run is one plan from ``build(topology, factory, params)``."""

    def __init__(self, build: Build) -> None:
        self.build = build

    def plan(self) -> Plan:
        return self.build(self.info.topology, self.info.factory, self.info.params)


def plan_changes(shown: Plan, fresh: Plan) -> list[str]:
    """What differs between the plan shown and the plan built again (empty: it holds)."""
    old = {s.id: s for s in shown.steps}
    new = {s.id: s for s in fresh.steps}
    changes = [f"no longer planned: {s.title}" for s in shown.steps if s.id not in new]
    changes += [f"now also needed: {s.title}" for s in fresh.steps if s.id not in old]
    for step in shown.steps:
        now = new.get(step.id)
        if now is None:
            continue
        if (step.service, step.call, step.region) != (now.service, now.call, now.region):
            changes.append(
                f"{step.title}: now {now.service}:{now.call} in {now.region} "
                f"(was {step.service}:{step.call} in {step.region})"
            )
        elif dict(step.params) != dict(now.params):
            diff = {
                k: (step.params.get(k), now.params.get(k))
                for k in dict.fromkeys([*step.params, *now.params])
                if step.params.get(k) != now.params.get(k)
            }
            changes.append(
                f"{step.title}: "
                + ", ".join(f"{k} {was!r} -> {is_!r}" for k, (was, is_) in diff.items())
            )
    if not changes and [s.id for s in shown.steps] != [s.id for s in fresh.steps]:
        changes.append("the steps' order changed")
    for key in dict.fromkeys([*shown.params, *fresh.params]):
        if shown.params.get(key) != fresh.params.get(key):
            changes.append(f"{key}: {shown.params.get(key)!r} -> {fresh.params.get(key)!r}")
    return changes


def recheck(job: Job, shown: Plan, *, confirmed: bool = True) -> Plan:
    """The plan built again from fresh reads; PlanChangedError when it no longer holds.

    ``confirmed``: the operator approved ``shown``. Without that (``--yes``), a builder
    that now finds nothing to do (another operator reached the same end state first)
    says so (exit 0) instead: no decision was taken on the plan, and nothing changes.
    """
    try:
        fresh = job.plan()
        job.check(fresh)
    except MrFailoverError as exc:
        if exc.exit_code == EXIT_OK and not confirmed:
            raise
        # A refusal, "nothing to do" or a now impossible request: the state moved.
        if exc.exit_code in (EXIT_OK, EXIT_REFUSED, EXIT_USAGE):
            raise PlanChangedError([str(exc)]) from None
        raise
    changes = plan_changes(shown, fresh)
    if changes:
        raise PlanChangedError(changes)
    return fresh


def applied_times(run_id: str) -> dict[str, float]:
    """When earlier attempts of ``run_id`` applied each step (wall time, from the journal)."""
    times: dict[str, float] = {}
    for rec in journal.read_records(run_id):
        if rec.get("type") == "outcome" and rec.get("status") == "applied":
            t = rec.get("t")
            if isinstance(t, int | float) and isinstance(rec.get("step"), str):
                times[rec["step"]] = float(t)
    return times


def guard_waits(plan: Plan, lease: lock.Lease) -> Plan:
    """``plan`` with every step's polling stopped as soon as the lock is known lost.

    Without it a step whose lease was broken mid-wait keeps polling until its own
    deadline (minutes for Aurora) and only the next step's lock check stops the run.
    The change itself was already made and journaled; the run fails at once with the
    lock's message and can be resumed (the step then finds its change in place).
    """

    class LeaseGuarded(StepAction):
        def __init__(self, inner: StepAction) -> None:
            self.inner = inner

        def holds(self) -> bool:
            return self.inner.holds()

        def apply(self) -> None:
            lease.ensure_held()  # the heartbeat may have noticed since the step began
            self.inner.apply()

        def settled(self) -> bool:
            lease.ensure_held()
            return self.inner.settled()

        def state(self) -> str:
            return self.inner.state()

        def verify(self) -> str | None:
            return self.inner.verify()

    steps = tuple(
        dataclasses.replace(s, action=LeaseGuarded(s.action)) if s.action is not None else s
        for s in plan.steps
    )
    return dataclasses.replace(plan, steps=steps)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread, like Ctrl-C.

    Only the first one: a second signal during the cleanup (journal, lock release) is
    ignored so that the cleanup finishes. Outside the main thread nothing is installed
    (Python delivers signals to the main thread only).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if seen:
            return
        seen.append(signum)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def _resume_checks(
    request: Request, job: Job, shared: SharedJournal | None
) -> tuple[journal.RunRecord | None, dict[str, Any]]:
    if not request.resume:
        return None, dict(request.params)
    prior = journal.read_run(request.resume, shared)
    if prior.command != request.command:
        raise UsageError(f"run {prior.run_id} was `{prior.command}`, not `{request.command}`")
    params = job.resume_params(prior, request.params)
    if prior.outcome == "succeeded":
        # Before the lock and before any write: its journal stays as it is.
        raise RefusedError(
            f"run {prior.run_id} already succeeded: there is nothing to resume (its journal "
            "is left as it is); start a new run to change anything"
        )
    return prior, params


def _release(lease: lock.Lease, notice: Callable[[str], None]) -> None:
    """Release at the end of a run; a failure only warns (the lease expires by itself)."""
    try:
        if not lease.release():
            notice("warning: the lock was no longer ours at release (broken?)")
    except MrFailoverError as exc:
        # The run's own outcome matters more than the release.
        notice(f"warning: could not release the lock: {exc}")


def _journal_lock(jr: journal.Journal, lease: lock.Lease, run_id: str, hooks: Hooks) -> None:
    if lease.loc.fallback_regions:
        # Which region's table holds the lease: renewals, release and `lock status`
        # look there, and a split lock (docs/OPERATIONS.md) is traced from here.
        jr.note(
            "lock", table=lease.loc.table, region=lease.region, not_answering=dict(lease.skipped)
        )
        if lease.skipped:
            hooks.notice(
                f"lock taken in {lease.region}: "
                + "; ".join(f"{r} did not answer ({why})" for r, why in lease.skipped)
            )
    old = lease.taken_over
    if old is None or old.owner is None:
        return
    own = old.owner.run_id == run_id
    if own:
        reason = "this run's own lease, left by a dead attempt"
    elif old.holder_dead:
        reason = f"its holder (pid {old.owner.pid}) is dead on this host"
    else:
        reason = "expired: its record version did not change for the lease period"
    jr.note(
        "lock-takeover",
        previous_owner=old.owner.to_json(),
        expired_at=journal.iso(old.expires_at),
        reason=reason,
    )
    if own:
        hooks.notice(
            f"took over the lock left by an earlier attempt of run {run_id} "
            f"(pid {old.owner.pid} on {old.owner.host})"
        )
    else:
        hooks.notice(f"took over the lock of run {old.owner.run_id}: {reason}")


def run(
    topology: Topology,
    factory: ClientFactory,
    request: Request,
    job: Job,
    hooks: Hooks,
    *,
    clock: Clock,
    lease_ttl: float = lock.DEFAULT_TTL,
) -> Outcome:
    """Guard, plan, confirm, lock, re-check, journal, execute and release one run."""
    with signals_interrupt():
        try:
            return _run(topology, factory, request, job, hooks, clock, lease_ttl)
        except KeyboardInterrupt as exc:
            if isinstance(exc, Interrupted):
                raise
            stopped = Interrupted(signal.SIGINT)
            for name in ("run_id", "resume", "journaled"):
                setattr(stopped, name, getattr(exc, name, getattr(stopped, name)))
            raise stopped from None


def _run(
    topology: Topology,
    factory: ClientFactory,
    request: Request,
    job: Job,
    hooks: Hooks,
    clock: Clock,
    lease_ttl: float,
) -> Outcome:
    shared = SharedJournal(factory, topology.journal) if topology.journal else None
    prior, params = _resume_checks(request, job, shared)
    run_id = prior.run_id if prior else journal.new_run_id(clock)
    job.setup(RunInfo(run_id, request.command, params, prior, topology, factory, clock))
    # The target region's STS first: in an outage it is the region expected to answer.
    identity = guard.require_account(factory, topology, first=job.first_region())

    if request.dry_run:
        return Outcome(run_id, job.plan(), params)
    if shared is not None:
        shared.check()  # before the confirmation and the lock: nothing has changed yet

    # Refusals and "nothing to do" come here, before the lock: they cost no lock write.
    shown = job.plan()
    job.check(shown)
    hooks.show(shown)
    if not request.yes and hooks.confirm is not None:
        hooks.confirm(shown)

    who = journal.Who.current(identity.arn)
    lease = None
    if topology.lock is not None:
        owner = lock.Owner(
            identity.arn, who.host, os.getpid(), run_id, request.command, lock.this_host_id()
        )
        lease = lock.acquire(
            factory,
            topology,
            owner,
            ttl=lease_ttl,
            time_fn=clock.time,
            clock=clock,
            on_wait=hooks.notice,
        )
    else:
        hooks.notice("warning: the topology names no lock table; other operators are not excluded")

    notifier = (
        Notifier(topology.notifications, factory, hooks.notice) if topology.notifications else None
    )
    about = f"{request.command} of {topology.application}, run {run_id}"
    started = clock.monotonic()
    jr = None
    try:
        heartbeat = lease.heartbeat() if lease is not None else contextlib.nullcontext()
        with heartbeat:
            # Under the lock, before the first change: every precondition on fresh reads.
            plan = job.recheck(shown, confirmed=not request.yes)
            if prior is not None:
                jr = journal.Journal.reopen(run_id, who=who, plan=plan, clock=clock, shared=shared)
            else:
                jr = journal.Journal.create(
                    run_id,
                    command=request.command,
                    params=params,
                    who=who,
                    plan=plan,
                    clock=clock,
                    shared=shared,
                )
            if notifier is not None:
                notifier.post(
                    f"mr-failover: {about} {'resumed' if prior else 'started'}",
                    describe(
                        {
                            "who": f"{who.caller_arn} ({who.os_user}@{who.host})",
                            "params": ", ".join(f"{k}={v}" for k, v in params.items() if v),
                            "steps": len(plan.steps),
                        }
                    ),
                )
            if lease is not None:
                _journal_lock(jr, lease, run_id, hooks)
            job.begin(jr)
            held = lease
            ex = Execution(
                recorder=jr,
                on_event=_nothing,
                wrap=(lambda p: guard_waits(p, held)) if held is not None else (lambda p: p),
                before_step=lease.ensure_held if lease is not None else None,
                completed=prior.completed if prior else frozenset(),
                applied_at=applied_times(run_id) if prior else {},
            )
            with hooks.running(request.command) as on_event:
                finished = job.execute(plan, dataclasses.replace(ex, on_event=on_event))
        jr.end(finished.outcome, finished.seconds, finished.detail)
    except (MrFailoverError, KeyboardInterrupt) as exc:
        _end_on_error(jr, exc, run_id, job, clock.monotonic() - started)
        if notifier is not None and jr is not None:
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            notifier.post(
                f"mr-failover: {about} {what}",
                describe(
                    {"why": str(exc) or type(exc).__name__, "resume": job.resume_command(run_id)}
                ),
            )
        raise
    finally:
        if lease is not None:
            _release(lease, hooks.notice)
        if jr is not None:
            jr.close()
    if notifier is not None:
        notifier.post(
            f"mr-failover: {about} {finished.outcome}",
            describe({"seconds": round(finished.seconds, 1), "detail": finished.detail}),
        )
    return Outcome(run_id, plan, params, finished, str(jr.path))


def _end_on_error(
    jr: journal.Journal | None,
    exc: MrFailoverError | KeyboardInterrupt,
    run_id: str,
    job: Job,
    seconds: float,
) -> None:
    """Journal how a run ended early; a failed step or an interrupt learns its run id."""
    if isinstance(exc, StepFailedError):
        exc.run_id = run_id
    if isinstance(exc, KeyboardInterrupt):
        resume = job.resume_command(run_id)
        for name, value in (("run_id", run_id), ("resume", resume), ("journaled", jr is not None)):
            setattr(exc, name, value)
        if jr is not None:
            what = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
            jr.end("interrupted", seconds, f"{what}; resume with --resume {run_id}")
        return
    if jr is None:
        return
    jr.end("refused" if exc.exit_code == EXIT_REFUSED else "failed", seconds, str(exc))
