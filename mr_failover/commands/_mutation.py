"""What every mutating command shares on the CLI side: its click options and rendering.

The run lifecycle itself (resume checks, account guard, plan, lock, re-check under the
lock, journal, execute, release, signals) is :func:`mr_failover.engine.run.run`; this
module gives it the callbacks that show the plan, ask for confirmation and print
progress, and renders the result. Operations supply only a
``build(topology, factory, params) -> Plan`` function.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from mr_failover.cli import AppContext
from mr_failover.commands._complete import complete_run_id
from mr_failover.text import printable

if TYPE_CHECKING:
    from rich.console import Console

    from mr_failover.engine.plan import Clock, Event, Plan, RunResult
    from mr_failover.engine.run import Build, Hooks

F = TypeVar("F", bound=Callable[..., Any])

# Tests replace this with a fake clock so that waits and timings are deterministic.
CLOCK: Clock | None = None


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    app = ctx.find_object(AppContext)
    if app is not None and value:
        app.verbose = True


def mutation_options(f: F) -> F:
    """--yes, --dry-run, --resume and --verbose, the same on every mutating command."""
    f = click.option(
        "--verbose",
        "-v",
        is_flag=True,
        expose_value=False,
        callback=_set_verbose,
        help="Show every call's parameters under the plan (--output json always has them).",
    )(f)
    f = click.option(
        "--resume",
        "resume",
        metavar="RUN_ID",
        shell_complete=complete_run_id,
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


def require_region(params: Mapping[str, Any]) -> str:
    """The ``--region`` of a command that needs one (a resumed run brings its own)."""
    from mr_failover.errors import UsageError

    region = params.get("region")
    if not region:
        raise UsageError("give --region R (or --resume RUN_ID)")
    return str(region)


def show_plan(console: Console, plan: Plan, verbose: bool = False) -> None:
    from mr_failover.render import Prose, plan_view, safe, show
    from mr_failover.text import printable

    show(console, plan_view(plan, verbose))
    for rule in _overrides(plan):
        # Wrapped at spaces only: the ARN stays whole (on a line of its own if need be).
        text = f"OVERRIDE: safety rule '{rule['name']}' ({rule['arn']}): {rule['asserts']}"
        show(console, Prose(printable(text), style="bold red"))
    undo = dict.fromkeys(s.undo for s in plan.steps if s.undoable and s.undo)
    for command in undo:
        show(console, Prose(safe(f"undo: {command}")))
    for note in plan.notes:
        show(console, Prose(printable(f"note: {note}")))


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


# Plain progress (not a terminal, or --output json): a waiting line when what is observed
# changes, else at most one every this many seconds of the wait.
PLAIN_WAIT_EVERY = 15.0


def waiting_text(event: Event) -> str:
    """What a wait is at: the step, what is polled, the last observed value, the time."""
    step = event.step
    seen = printable(event.detail, 200) or "not yet"
    where = f" in {step.region}" if step.region not in ("", "-") else ""
    return (
        f"waiting for {step.service}:{step.call}{where}: {seen} "
        f"({event.seconds:.0f}s, deadline {event.deadline:.0f}s)"
    )


def progress_printer(console: Console, status: Any, *, plain: bool) -> Callable[[Event], None]:
    """Show a run's events: live on a terminal (the status line says what the current
    wait is at), or as plain lines (``plain``: piped, logged, or ``--output json``)."""
    printed: dict[int, tuple[str, float]] = {}  # step index -> last waiting line shown

    def on_event(event: Event) -> None:
        head = f"[{event.index}/{event.total}] {event.step.title}"
        if event.kind == "step-start":
            status.update(f"{head} ...")
        elif event.kind == "step-waiting":
            text = waiting_text(event)
            if not plain:
                from rich.text import Text

                status.update(Text(f"{head}: {text}"))  # AWS text is not markup
                return
            last = printed.get(event.index)
            if (
                last is None
                or last[0] != event.detail
                or event.seconds - last[1] >= (PLAIN_WAIT_EVERY)
            ):
                printed[event.index] = (event.detail, event.seconds)
                console.print(f"{head}: {text}", markup=False, highlight=False)
        elif event.kind == "step-done":
            console.print(f"{head}: {event.detail} ({event.seconds:.1f}s)")
        elif event.kind == "step-failed":
            console.print(f"{head}: FAILED ({event.seconds:.1f}s)")

    return on_event


def plain_progress(app: AppContext, console: Console) -> bool:
    """Plain lines rather than a live status line: not a terminal, or --output json."""
    return app.output == "json" or not console.is_terminal


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


def interrupted(
    exc: KeyboardInterrupt, err: Console, after: Callable[[], list[str]] | None = None
) -> NoReturn:
    """Say how the run was stopped and how to resume it (then the lines ``after`` gives:
    a drill says the state it leaves); exit 128 + the signal."""
    from mr_failover.engine.run import Interrupted

    if not isinstance(exc, Interrupted):
        raise exc
    err.print(str(exc), soft_wrap=True, markup=False, highlight=False)
    for line in after() if after is not None else ():
        err.print(line, soft_wrap=True, markup=False, highlight=False)
    raise click.exceptions.Exit(exc.exit_code)


def cli_hooks(app: AppContext, *, yes: bool, ask: Callable[[Plan], str] | None = None) -> Hooks:
    """Show the plan, ask for confirmation, print notices and progress on the console."""
    from mr_failover.engine.run import Hooks

    out = app.console()
    err = app.console(stderr=True)

    def confirm(plan: Plan) -> None:
        question = ask(plan) if ask is not None else _question(plan)
        click.confirm(question, abort=True, err=True)

    @contextlib.contextmanager
    def running(command: str) -> Iterator[Callable[[Event], None]]:
        with err.status(f"running {command}") as status:
            plain = plain_progress(app, err)
            yield with_test_pause(app, progress_printer(err, status, plain=plain))

    return Hooks(
        show=lambda plan: show_plan(err if app.output == "json" else out, plan, app.verbose),
        confirm=None if yes else confirm,
        notice=lambda text: err.print(text),
        running=running,
    )


def _question(plan: Plan) -> str:
    ask = f"Run these {len(plan.steps)} step(s)?"
    if overrides := _overrides(plan):
        names = ", ".join(f"'{o['name']}'" for o in overrides)
        ask = f"Override ARC safety rule(s) {names} and run these {len(plan.steps)} step(s)?"
    return ask


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
    """Run one mutating command through the engine's lifecycle and render the result."""
    from mr_failover.engine import run

    out = app.console()
    err = app.console(stderr=True)
    request = run.Request(command, params, yes=yes, dry_run=dry_run, resume=resume)
    try:
        done = run.run(
            app.topology(),
            app.factory(),
            request,
            run.PlanJob(build),
            cli_hooks(app, yes=yes),
            clock=current_clock(),
        )
    except KeyboardInterrupt as exc:
        interrupted(exc, err)
    if done.finished is None:  # the dry run
        if app.output == "json":
            click.echo(json.dumps({"dry_run": True, "plan": done.plan.to_json()}, indent=2))
        else:
            show_plan(out, done.plan, app.verbose)
            out.print("dry run: no change made")
        return
    result = done.finished.result
    assert result is not None
    if app.output == "json":
        click.echo(_result_json(done.run_id, "succeeded", result, done.journal_path))
    else:
        from mr_failover.render import Prose, safe, show

        show(
            out,
            Prose(
                f"run {done.run_id} succeeded: {result.applied} applied, {result.skipped} "
                f"already in place, {result.seconds:.1f}s"
            ),
            Prose(safe(f"journal: {done.journal_path}")),  # a long path stays whole
        )
