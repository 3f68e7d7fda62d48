"""The shared flow of every mutating command, and its click options.

guard -> plan -> (dry run: show and stop) -> show -> confirm -> lock -> journal ->
execute with progress -> release -> result. The account guard runs first so that the
plan's reads never look at another account's resources. Operations supply only a
``build(topology, factory, params) -> Plan`` function; rendering stays here so the core
never prints.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mr_failover.cli import AppContext
from mr_failover.errors import EXIT_REFUSED, MrFailoverError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mr_failover.aws import ClientFactory
    from mr_failover.engine.journal import Journal
    from mr_failover.engine.lock import Lease
    from mr_failover.engine.plan import Clock, Event, Plan, RunResult
    from mr_failover.topology import Topology

    Build = Callable[[Topology, ClientFactory, Mapping[str, Any]], Plan]

F = TypeVar("F", bound=Callable[..., Any])

# Tests replace this with a fake clock so that waits and timings are deterministic.
CLOCK: Clock | None = None


def mutation_options(f: F) -> F:
    """--yes, --dry-run and --resume, the same on every mutating command."""
    f = click.option(
        "--resume",
        "resume",
        metavar="RUN_ID",
        help="Finish an interrupted or failed run: re-plan from real state, skip what is done.",
    )(f)
    f = click.option(
        "--dry-run", is_flag=True, help="Print the plan and exit 0; make no mutating call."
    )(f)
    f = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")(f)
    return f


def current_clock() -> Clock:
    from mr_failover.engine.plan import SystemClock

    return CLOCK or SystemClock()


def outcome_of(exc: MrFailoverError) -> str:
    """How the journal records a run that ended with ``exc``: refused, or failed."""
    return "refused" if exc.exit_code == EXIT_REFUSED else "failed"


def end_on_error(
    jr: Journal | None, exc: MrFailoverError | KeyboardInterrupt, run_id: str, seconds: float
) -> None:
    """Journal how a run ended early; a failed step learns its run id (for the resume hint)."""
    from mr_failover.engine.executor import StepFailedError

    if isinstance(exc, StepFailedError):
        exc.run_id = run_id
    if jr is None:
        return
    if isinstance(exc, KeyboardInterrupt):
        jr.end("interrupted", seconds, f"resume with --resume {run_id}")
    else:
        jr.end(outcome_of(exc), seconds, str(exc))


def close_run(lease: Lease | None, jr: Journal | None, err: Console) -> None:
    """Release the lock and close the journal, whatever happened."""
    if lease is not None:
        release_lease(lease, err)
    if jr is not None:
        jr.close()


def require_region(params: Mapping[str, Any]) -> str:
    """The ``--region`` of a command that needs one (a resumed run brings its own)."""
    from mr_failover.errors import UsageError

    region = params.get("region")
    if not region:
        raise UsageError("give --region R (or --resume RUN_ID)")
    return str(region)


def release_lease(lease: Lease, err: Console) -> None:
    """Release at the end of a run; a failure only warns (the lease expires by itself)."""

    try:
        if not lease.release():
            err.print("warning: the lock was no longer ours at release (broken?)")
    except MrFailoverError as exc:
        # The run's own outcome matters more than the release.
        err.print(f"warning: could not release the lock: {exc}")


def plan_table(plan: Plan) -> Table:
    from rich.table import Table

    table = Table(title=f"Plan: {plan.command}", title_justify="left", box=None)
    for col in ("#", "STEP", "CALL", "ENDPOINT", "PLANE", "UNDOABLE"):
        table.add_column(col, overflow="fold")
    for i, step in enumerate(plan.steps, start=1):
        params = "".join(f"\n  {k}={v}" for k, v in step.params.items())
        plane = f"control ({step.plane_region})" if step.plane == "control" else "data"
        table.add_row(
            str(i),
            step.title,
            f"{step.service}:{step.call} {params}",
            step.region,
            plane,
            "yes" if step.undoable else "no",
        )
    return table


def show_plan(console: Console, plan: Plan) -> None:
    from rich.text import Text

    console.print(plan_table(plan))
    for rule in _overrides(plan):
        console.print(
            Text(
                f"OVERRIDE: safety rule '{rule['name']}' ({rule['arn']}): {rule['asserts']}",
                style="bold red",
            ),
            soft_wrap=True,  # one line: an ARN cut in two cannot be copied
        )
    undo = dict.fromkeys(s.undo for s in plan.steps if s.undoable and s.undo)
    for command in undo:
        console.print(f"undo: {command}")
    for note in plan.notes:
        console.print(f"note: {note}")


def _overrides(plan: Plan) -> list[dict[str, str]]:
    """The ARC safety rules a plan overrides (drain / undrain with a routing-control lever)."""
    return list(plan.params.get("override_safety_rules") or ())


# drain, undrain and fence: ARC safety rules the operator overrides (routing_control lever).
override_option = click.option(
    "--override-safety-rule",
    "override_safety_rules",
    multiple=True,
    metavar="ARN",
    help="drain_lever routing_control: override this ARC safety rule (repeatable). The plan "
    "names it, the confirmation asks for it and the journal records it.",
)


def requested_overrides(params: Mapping[str, Any]) -> list[str]:
    """The rule ARNs of --override-safety-rule, from a run's parameters (also on resume)."""
    return [str(arn) for arn in params.get("override_safety_rules") or ()]


def progress_printer(console: Console, status: Any) -> Callable[[Event], None]:
    def on_event(event: Event) -> None:
        head = f"[{event.index}/{event.total}] {event.step.title}"
        if event.kind == "step-start":
            status.update(f"{head} ...")
        elif event.kind == "step-done":
            console.print(f"{head}: {event.detail} ({event.seconds:.1f}s)")
        elif event.kind == "step-failed":
            console.print(f"{head}: FAILED ({event.seconds:.1f}s)")

    return on_event


def guard_waits(plan: Plan, lease: Lease) -> Plan:
    """``plan`` with every step's polling stopped as soon as the lock is known lost.

    Without it a step whose lease was broken mid-wait keeps polling until its own
    deadline (minutes for Aurora) and only the next step's lock check stops the run.
    The change itself was already made and journaled; the run fails at once with the
    lock's message and can be resumed (the step then finds its change in place).
    """
    import dataclasses

    from mr_failover.engine.plan import StepAction

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


# Test hook, honoured only against a loopback endpoint (the sandbox): after step N is
# journaled as done, the process pauses so an e2e test can SIGKILL it between steps.
TEST_PAUSE_ENV = "MR_FAILOVER_TEST_PAUSE_AFTER_STEP"
TEST_PAUSE_MAX_SECONDS = 60.0


def _loopback(endpoint_url: str | None) -> bool:
    from urllib.parse import urlsplit

    host = urlsplit(endpoint_url or "").hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


def with_test_pause(app: AppContext, on_event: Callable[[Event], None]) -> Callable[[Event], None]:
    wanted = os.environ.get(TEST_PAUSE_ENV, "")
    if not wanted.isdigit() or not _loopback(app.endpoint_url):
        return on_event
    after = int(wanted)

    def paused(event: Event) -> None:
        on_event(event)
        if event.kind == "step-done" and event.index == after:
            import sys
            import time

            sys.stderr.write(f"test pause: after step {after}, pid {os.getpid()}\n")
            sys.stderr.flush()
            # Real sleep on purpose: the test kills the process here. Bounded, so a test
            # that forgets to kill it does not hang forever.
            time.sleep(TEST_PAUSE_MAX_SECONDS)

    return paused


def _result_json(run_id: str, outcome: str, result: RunResult, journal_path: str) -> str:
    return json.dumps(
        {
            "run_id": run_id,
            "outcome": outcome,
            "seconds": round(result.seconds, 3),
            "steps": [
                {
                    "id": o.step_id,
                    "status": o.status,
                    "seconds": round(o.seconds, 3),
                    "detail": o.detail,
                }
                for o in result.outcomes
            ],
            "journal": journal_path,
        },
        indent=2,
    )


def run_mutation(
    app: AppContext,
    *,
    command: str,
    params: Mapping[str, Any],
    build: Build,
    yes: bool,
    dry_run: bool,
    resume: str | None,
) -> None:
    """Guard, plan, confirm, lock, execute and journal one mutating command."""
    from mr_failover.engine import guard, journal, lock
    from mr_failover.engine.executor import execute
    from mr_failover.errors import MrFailoverError, UsageError

    clock = current_clock()
    topology = app.topology()
    factory = app.factory()
    out = app.console()
    err = app.console(stderr=True)

    prior = journal.read_run(resume) if resume else None
    if prior is not None:
        if prior.command != command:
            raise UsageError(f"run {prior.run_id} was `{prior.command}`, not `{command}`")
        clash = {k: v for k, v in params.items() if v is not None and prior.params.get(k) != v}
        if clash:
            raise UsageError(
                f"run {prior.run_id} ran with {dict(prior.params)}; resume it with the same "
                "options or without them"
            )
        params = dict(prior.params)

    # The target region's STS first: in an outage it is the region expected to answer.
    target = params.get("region")
    identity = guard.require_account(
        factory, topology, first=target if isinstance(target, str) else None
    )
    plan = build(topology, factory, params)

    if dry_run:
        if app.output == "json":
            click.echo(json.dumps({"dry_run": True, "plan": plan.to_json()}, indent=2))
        else:
            show_plan(out, plan)
            out.print("dry run: no change made")
        return

    show_plan(err if app.output == "json" else out, plan)
    if not yes:
        ask = f"Run these {len(plan.steps)} step(s)?"
        if overrides := _overrides(plan):
            names = ", ".join(f"'{o['name']}'" for o in overrides)
            ask = f"Override ARC safety rule(s) {names} and run these {len(plan.steps)} step(s)?"
        click.confirm(ask, abort=True, err=True)

    run_id = prior.run_id if prior else journal.new_run_id(clock)
    who = journal.Who.current(identity.arn)
    lease = None
    if topology.lock is not None:
        owner = lock.Owner(identity.arn, who.host, os.getpid(), run_id, command)
        lease = lock.acquire(factory, topology, owner, time_fn=clock.time)
    else:
        err.print("warning: the topology names no lock table; other operators are not excluded")

    started = clock.monotonic()
    jr = None
    try:
        if prior is not None:
            jr = journal.Journal.reopen(run_id, who=who, plan=plan, clock=clock)
        else:
            jr = journal.Journal.create(
                run_id, command=command, params=params, who=who, plan=plan, clock=clock
            )
        if lease is not None and lease.loc.fallback_regions:
            # Which region's table holds the lease: renewals, release and `lock status`
            # look there, and a split lock (docs/OPERATIONS.md) is traced from here.
            jr.note(
                "lock",
                table=lease.loc.table,
                region=lease.region,
                not_answering=dict(lease.skipped),
            )
            if lease.skipped:
                err.print(
                    f"lock taken in {lease.region}: "
                    + "; ".join(f"{r} did not answer ({why})" for r, why in lease.skipped)
                )
        if lease is not None and lease.taken_over is not None and lease.taken_over.owner:
            own = lease.taken_over.owner.run_id == run_id
            jr.note(
                "lock-takeover",
                previous_owner=lease.taken_over.owner.to_json(),
                expired_at=journal.iso(lease.taken_over.expires_at),
                reason="this run's own lease, left by a dead attempt" if own else "expired",
            )
            if own:
                err.print(
                    f"took over the lock left by an earlier attempt of run {run_id} "
                    f"(pid {lease.taken_over.owner.pid} on {lease.taken_over.owner.host})"
                )
        if lease is not None:
            plan = guard_waits(plan, lease)
        heartbeat = lease.heartbeat() if lease is not None else contextlib.nullcontext()
        with err.status(f"running {command}") as status, heartbeat:
            result = execute(
                plan,
                clock=clock,
                recorder=jr,
                on_event=with_test_pause(app, progress_printer(err, status)),
                completed=prior.completed if prior else (),
                before_step=lease.ensure_held if lease is not None else None,
            )
        jr.end("succeeded", result.seconds)
    except (MrFailoverError, KeyboardInterrupt) as exc:
        end_on_error(jr, exc, run_id, clock.monotonic() - started)
        raise
    finally:
        close_run(lease, jr, err)
    if app.output == "json":
        click.echo(_result_json(run_id, "succeeded", result, str(jr.path)))
    else:
        out.print(
            f"run {run_id} succeeded: {result.applied} applied, {result.skipped} already in "
            f"place, {result.seconds:.1f}s"
        )
        out.print(f"journal: {jr.path}")
