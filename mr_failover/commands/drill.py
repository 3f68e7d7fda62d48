"""``mr-failover drill``: run a game-day scenario, measure RTO/RPO, write the report.

The run lifecycle is the engine's (:func:`mr_failover.engine.run.run`: guard, plan,
confirm, lock, re-check, journal, execute, release) with :class:`mr_failover.drill.DrillJob`
in place of one plan: each phase is planned when it starts, stop conditions are watched,
and the failback always runs. This module renders the plan and the report.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import Seconds, preflight
from mr_failover.commands._complete import complete_region
from mr_failover.commands._mutation import (
    cli_hooks,
    current_clock,
    interrupted,
    mutation_options,
    plain_progress,
    progress_printer,
    with_test_pause,
)

if TYPE_CHECKING:
    from mr_failover.drill import DrillJob
    from mr_failover.engine.plan import Event, Plan


@click.command()
@click.argument("scenario")
@click.option(
    "--region",
    "-r",
    shell_complete=complete_region,
    help="The region a built-in scenario evacuates / fails away from (db-failover: default "
    "the region AWS reports holding the Aurora writer).",
)
@click.option(
    "--to",
    "to",
    metavar="REGION",
    shell_complete=complete_region,
    help="Built-ins: the region that takes over (default: the best region that can take "
    "over per status, said in the plan).",
)
@click.option(
    "--hold",
    type=Seconds(0.0, 86_400.0),
    default=60.0,
    show_default=True,
    help="Built-ins: seconds to stay evacuated / failed over (stop conditions watched) "
    "before failing back.",
)
@mutation_options
@pass_app
def drill(
    app: AppContext,
    scenario: str,
    region: str | None,
    to: str | None,
    hold: float,
    yes: bool,
    dry_run: bool,
    resume: str | None,
) -> None:
    """Run a game-day drill (built-in evacuate / db-failover, or a scenario file).

    Checks the steady state, records the state it may touch (writer, health-check
    inversion, routing controls, dials, weights, desired counts), runs the steps while
    watching the stop conditions, fails back, puts back whatever still differs, removes
    every canary it wrote, and writes a Markdown + JSON report with the measured RTO and
    RPO and the state before / after, item by item.

    \b
    Example:
      mr-failover drill evacuate --region us-east-1 --dry-run
      mr-failover drill evacuate --region us-east-1 --to eu-west-1 --dry-run
      mr-failover drill evacuate --region us-east-1 --hold 120 --yes
      mr-failover drill config/drills/region-outage.yaml --yes
      mr-failover drill evacuate --resume 20260101T120000Z-a1b2c3 --yes
    """
    from mr_failover import drill as core
    from mr_failover import drill_report
    from mr_failover.engine import run
    from mr_failover.errors import MrFailoverError, RefusedError
    from mr_failover.render import Prose, drill_report_view, plan_view, safe, show
    from mr_failover.text import printable

    preflight(app, region, dry_run=dry_run)
    out = app.console()
    err = app.console(stderr=True)
    job = core.DrillJob(
        endpoint_url=app.endpoint_url,
        approve=lambda prompt: yes or click.confirm(prompt, err=True),
        # A custom step that may already have run is re-run only when a person says so.
        confirm_rerun=lambda prompt: not yes and click.confirm(prompt, err=True),
    )
    hooks = cli_hooks(app, yes=yes)
    console = err if app.output == "json" else out

    def show_plan(plan: Plan) -> None:
        # Each phase's plan as it starts: the steps (their notes are in the dry run).
        _describe(console, job)
        show(console, plan_view(plan, app.verbose))

    hooks.show = show_plan

    def confirm(plan: Plan) -> None:
        question = f"Run the drill '{job.spec.name}' ({len(plan.steps)} step(s))?"
        click.confirm(question, abort=True, err=True)

    hooks.confirm = None if yes else confirm

    @contextlib.contextmanager
    def running(_command: str) -> Iterator[Callable[[Event], None]]:
        with err.status(f"drill {job.spec.name}") as status:
            plain = plain_progress(app, err)
            yield with_test_pause(app, progress_printer(err, status, plain=plain))

    hooks.running = running
    params: dict[str, Any] = {"scenario": scenario, "region": region, "hold": hold}
    if to is not None:
        params["to"] = to
    request = run.Request("drill", params, yes=yes, dry_run=dry_run, resume=resume)
    try:
        done = run.run(app.topology(), app.factory(), request, job, hooks, clock=current_clock())
    except KeyboardInterrupt as exc:
        interrupted(exc, err, after=functools.partial(_left_behind, job, exc))
    except RefusedError as exc:
        if dry_run:  # a refusal while planning (the writer cannot be told)
            raise RefusedError(f"dry run: a real run would refuse: {_reason(exc)}") from None
        raise
    except MrFailoverError as exc:
        # A step failed (a canary's replica in a region that does not answer, say): what
        # was measured so far is in the journal; write the report of it before the error.
        failed_run = getattr(exc, "run_id", None)
        if failed_run:
            with contextlib.suppress(MrFailoverError, OSError):
                _, md_path, _ = core.save_report(failed_run)
                show(err, Prose(safe(f"report so far: {md_path} (the run is resumable)")))
        raise

    if done.finished is None:
        _dry_run(app, job, done.plan)
        return
    report, md_path, json_path = core.save_report(done.run_id)
    failed = (
        None
        if report.verdict in drill_report.OK_VERDICTS
        else f"drill {report.verdict}: see {md_path}"
    )
    if app.output == "json":
        # The report is the run's one JSON document; its exit code goes in it.
        doc = {**json.loads(drill_report.to_json_text(report)), "exit_code": 1 if failed else 0}
        click.echo(json.dumps(doc, indent=2))
        if failed:
            click.echo(f"Error: {printable(failed)}", err=True)
            click.get_current_context().exit(1)
        return
    show(out, drill_report_view(report), Prose(safe(f"report: {md_path} and {json_path}")))
    if failed:
        raise MrFailoverError(failed) from None


def _describe(console: Any, job: DrillJob) -> None:
    """The scenario's name and description (a built-in's says its target and why)."""
    from mr_failover.render import safe

    console.print(safe(f"drill {job.spec.name}: {job.spec.description}".rstrip(": ")))


def _reason(exc: Exception) -> str:
    return str(exc).removeprefix("refused: ")


def _left_behind(job: DrillJob, exc: KeyboardInterrupt) -> list[str]:
    """What an interrupted drill prints after the run id and resume command: how to
    remove only its canaries, and the state it leaves, read afresh (a second Ctrl-C skips
    the read)."""
    run_id = getattr(exc, "run_id", None)
    if not getattr(exc, "journaled", False) or not run_id:
        return []
    try:
        left = job.left_behind()
    except KeyboardInterrupt:
        left = "not read (interrupted again)"
    return [
        "resuming runs the rest, the failback, the restore and the canaries' removal; or "
        f"remove only its canary writes: mr-failover cleanup --run {run_id}",
        f"state left behind: {left}",
    ]


def _dry_run(app: AppContext, job: DrillJob, plan: Plan) -> None:
    from mr_failover.errors import RefusedError
    from mr_failover.render import Prose, plan_view, safe, show

    out = app.console()
    drill_plan = job.drill_plan
    assert drill_plan is not None
    # The same refusal checks as a real run (the steady state): said, exit 3.
    refusal = job.refusal(plan)
    would = RefusedError(f"dry run: a real run would refuse: {refusal}") if refusal else None
    if app.output == "json":
        body = {
            "dry_run": True,
            "would_refuse": refusal,
            "scenario": job.spec.model_dump(mode="json"),
            "plan": plan.to_json(),
            "unplanned": {p.key: p.problem for p in drill_plan.phases if p.problem},
            "static_stability": [f.to_json() for f in job.stability],
        }
        click.echo(json.dumps(body, indent=2))
        if would is not None:
            raise would
        return
    _describe(out, job)
    lines = [plan_view(plan, app.verbose)]
    for p in drill_plan.phases:
        if p.problem:
            text = f"note: {p.key} {p.spec.label()}: re-planned when it starts ({p.problem})"
            lines.append(Prose(safe(text)))
    # Scenario and AWS text: escaped, never markup.
    lines += [Prose(safe(f"note: {note}")) for note in dict.fromkeys(plan.notes)]
    lines.append(Prose("Static stability: what fails if a region is the one that is down"))
    for f in job.stability:
        names = "; ".join(f"{t} [{w}]" for _, t, w in f.steps) or "nothing"
        lines.append(Prose(safe(f"  if {f.region} is down: {names}"), indent="    "))
    show(out, *lines)
    out.print("dry run: no change made")
    if would is not None:
        raise would
