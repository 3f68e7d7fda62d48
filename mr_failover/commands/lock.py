"""``mr-failover lock status`` and ``lock break --reason``: the operators' lease lock."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from mr_failover.cli import AppContext, pass_app


@click.group("lock")
def lock_group() -> None:
    """Show or break the lock that keeps two operators from mutating at once.

    \b
    Example:
      mr-failover lock status
      mr-failover lock break --reason "run 20260101T120000Z-a1b2c3 died with its laptop"
    """


def _describe(state: object) -> str:
    """One line on the lock; the owner comes from the lock table, so it is escaped."""
    from mr_failover.engine.lock import LockState
    from mr_failover.text import printable

    assert isinstance(state, LockState)
    return printable(_words(state))


def _words(state: Any) -> str:
    from mr_failover.engine.journal import iso

    where = f"lock {state.table} ({state.region}) for {state.application}"
    if not state.held or state.owner is None:
        return f"{where}: free"
    since = f"since {iso(state.acquired_at)}, last heartbeat {iso(state.heartbeat_at)}"
    if state.lease_region and state.lease_region != state.region:
        since += f", lease taken in {state.lease_region}"
    if state.holder_dead:
        return (
            f"{where}: held (holder pid {state.owner.pid} dead on this host) by "
            f"{state.owner.describe()} {since}: resume that run (--resume "
            f"{state.owner.run_id}) or break the lock; once its lease expires, the next "
            "mutation takes it over"
        )
    if state.stale:
        return (
            f"{where}: STALE, held by {state.owner.describe()} {since}; expired "
            f"{state.now - state.expires_at:.0f}s ago (crashed run?): the next mutation takes "
            "it over"
        )
    return (
        f"{where}: held by {state.owner.describe()} {since}; expires in "
        f"{state.expires_at - state.now:.0f}s"
    )


@lock_group.command()
@pass_app
def status(app: AppContext) -> None:
    """Who holds the lock, since when, and whether the lease is stale. Read-only.

    With lock fallback regions, every lock region is read: one line each, regions that do
    not answer say so, and different live leases in two regions are flagged (exit 4).

    \b
    Example:
      mr-failover lock status
    """
    from mr_failover.commands._mutation import current_clock
    from mr_failover.engine import lock
    from mr_failover.errors import NotReadyError
    from mr_failover.text import printable

    view = lock.read_all(app.factory(), app.topology(), time_fn=current_clock().time)
    if app.output == "json":
        # One document, the exit code in it: a conflict is reported here, not again.
        code = NotReadyError.exit_code if view.conflict else 0
        click.echo(json.dumps({**view.to_json(), "exit_code": code}, indent=2))
        click.get_current_context().exit(code)
    for state in view.states:
        click.echo(_describe(state))
    for region, why in view.unreachable:
        table = lock.location(app.topology()).table
        click.echo(printable(f"lock {table} ({region}): no answer ({why})"))
    if view.conflict:
        raise NotReadyError(view.conflict_text())


@lock_group.command("break")
@click.option("--reason", required=True, help="Why (recorded in the journal).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def break_(app: AppContext, reason: str, yes: bool) -> None:
    """Delete the lock whoever holds it; the reason goes to the journal.

    Only for a run that is dead: a live holder finds its lease gone at its next
    heartbeat and stops before its next step.

    \b
    Example:
      mr-failover lock break --reason "operator's laptop crashed mid-drain" --yes
    """
    from mr_failover.commands._mutation import current_clock
    from mr_failover.engine import guard, journal, lock
    from mr_failover.errors import UsageError

    if not reason.strip():
        raise UsageError("--reason must say why the lock is broken")
    clock = current_clock()
    topology = app.topology()
    journal.check_writable()  # the break is journaled: check before breaking anything
    factory = app.factory()
    identity = guard.require_account(factory, topology)
    # Every lock region: with fallbacks, the lease to break may sit in any of them.
    view = lock.read_all(factory, topology, time_fn=clock.time)
    held = [s for s in view.states if s.held]
    current = held[0] if held else view.states[0]
    if not current.held:
        if app.output == "json":
            doc = {"broken": None, "lock": current.to_json(), "reason": reason, "exit_code": 0}
            click.echo(json.dumps(doc, indent=2))
        else:
            click.echo(_describe(current) + "; nothing to break")
        return
    click.echo(_describe(current), err=app.output == "json")
    if not yes:
        click.confirm("Break this lock?", abort=True, err=True)
    broken = lock.break_lock(factory, topology, time_fn=clock.time)
    run_id = journal.new_run_id(clock)
    jr = journal.Journal.create(
        run_id,
        command="lock break",
        params={"reason": reason},
        who=journal.Who.current(identity.arn),
        plan=None,
        clock=clock,
    )
    try:
        jr.note("lock-break", reason=reason, broken=broken.to_json(), pid=os.getpid())
        jr.end("succeeded", 0.0)
    finally:
        jr.close()
    if app.output == "json":
        doc = {"broken": broken.to_json(), "reason": reason, "run_id": run_id, "exit_code": 0}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(f"lock broken (journal run {run_id})")
