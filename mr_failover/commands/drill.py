"""``mr-failover drill``: run a game-day scenario, measure RTO/RPO, write the report.

The run flow is run_mutation's (guard, plan, confirm, lock, journal, execute, release)
with the phases of :mod:`mr_failover.drill` in place of one plan: each phase is planned
when it starts, stop conditions are watched, and the failback always runs.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands._mutation import (
    close_run,
    current_clock,
    end_on_error,
    guard_waits,
    mutation_options,
    plan_table,
    progress_printer,
    with_test_pause,
)


@click.command()
@click.argument("scenario")
@click.option(
    "--region",
    "-r",
    help="The region a built-in scenario evacuates / fails away from (db-failover: default "
    "the region AWS reports holding the Aurora writer).",
)
@click.option(
    "--to",
    "to",
    metavar="REGION",
    help="Built-ins: the region that takes over (default: the best region that can take "
    "over per status, said in the plan).",
)
@click.option(
    "--hold",
    type=click.FloatRange(min=0),
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
      mr-failover drill evacuate --region us-east-1 --hold 120 --yes
      mr-failover drill config/drills/region-outage.yaml --yes
      mr-failover drill evacuate --resume 20260101T120000Z-a1b2c3 --yes
    """
    from mr_failover import drill as core
    from mr_failover import drill_report
    from mr_failover.engine import guard, journal, lock
    from mr_failover.errors import MrFailoverError, RefusedError, UsageError

    clock = current_clock()
    topology = app.topology()
    factory = app.factory()
    out = app.console()
    err = app.console(stderr=True)

    prior = journal.read_run(resume) if resume else None
    params: dict[str, Any] = {"scenario": scenario, "region": region, "hold": hold}
    if prior is not None:
        if prior.command != "drill":
            raise UsageError(f"run {prior.run_id} was `{prior.command}`, not a drill")
        params = dict(prior.params)
    name = str(params["scenario"])
    if name not in core.BUILTINS:
        spec = core.load_scenario(name, topology)
    identity = guard.require_account(factory, topology)
    if name in core.BUILTINS:
        if prior is None or "to" not in params:
            # The writer and the target come from AWS now; a resumed run keeps the ones
            # decided when it started (the writer has moved since).
            choice, _ = core.choose_builtin(name, topology, factory, params.get("region"), to=to)
            params |= choice.params()
        spec = core.builtin(
            name,
            topology,
            str(params["region"]),
            hold=float(params["hold"]),
            writer=params.get("writer"),
            target=params.get("to"),
            why=str(params.get("why") or ""),
        )

    run_id = prior.run_id if prior else journal.new_run_id(clock)
    ctx = core.DrillContext(
        topology,
        factory,
        clock,
        run_id,
        sandbox_url=core.sandbox_endpoint(app.endpoint_url),
        approve=lambda prompt: yes or click.confirm(prompt, err=True),
    )
    drill_plan = core.plan_drill(spec, ctx)
    stability = core.static_stability(drill_plan, topology)
    plan = drill_plan.as_plan(params)
    # Steady state first: a drill must not start from, or hide, a real incident. The dry
    # run checks it too, and says what the real run would refuse.
    problems = core.steady_state_problems(spec, ctx) if prior is None else []
    refusal = (
        "not in steady state (" + "; ".join(problems) + "); fix it before a drill"
        if problems
        else ""
    )

    if dry_run:
        if app.output == "json":
            body = {
                "dry_run": True,
                "would_refuse": refusal or None,
                "scenario": spec.model_dump(mode="json"),
                "plan": plan.to_json(),
                "unplanned": {p.key: p.problem for p in drill_plan.phases if p.problem},
                "static_stability": [f.to_json() for f in stability],
            }
            click.echo(json.dumps(body, indent=2))
            if refusal:
                raise RefusedError(f"dry run: a real run would refuse: {refusal}")
            return
        out.print(plan_table(plan))
        for p in drill_plan.phases:
            if p.problem:
                out.print(
                    f"note: {p.key} {p.spec.label()}: re-planned when it starts ({p.problem})"
                )
        for note in dict.fromkeys(plan.notes):
            out.print(f"note: {note}")
        out.print("Static stability: what fails if a region is the one that is down")
        for f in stability:
            names = "; ".join(f"{t} [{w}]" for _, t, w in f.steps) or "nothing"
            out.print(f"  if {f.region} is down: {names}")
        out.print("dry run: no change made")
        if refusal:
            raise RefusedError(f"dry run: a real run would refuse: {refusal}")
        return

    if refusal:
        raise RefusedError(f"refused: {refusal}")
    console = err if app.output == "json" else out
    console.print(plan_table(plan))
    if not yes:
        click.confirm(
            f"Run the drill '{spec.name}' ({len(plan.steps)} step(s))?", abort=True, err=True
        )

    who = journal.Who.current(identity.arn)
    lease = None
    if topology.lock is not None:
        owner = lock.Owner(identity.arn, who.host, os.getpid(), run_id, "drill")
        lease = lock.acquire(factory, topology, owner, time_fn=clock.time)
    done: set[str] = set()
    stopped_before = None
    started = clock.monotonic()
    jr = None
    interrupted = False
    try:
        if prior is not None:
            jr = journal.Journal.reopen(run_id, who=who, plan=plan, clock=clock)
            done, stopped_before = ctx.load(journal.read_records(run_id))
        else:
            jr = journal.Journal.create(
                run_id, command="drill", params=params, who=who, plan=plan, clock=clock
            )
            jr.note(
                "drill-plan",
                scenario=spec.name,
                description=spec.description,
                rto_target=spec.rto_target(topology),
                rpo_target=spec.rpo_target(topology),
                static_stability=[f.to_json() for f in stability],
            )
            jr.note("drill-steady", when="before", problems=problems)
        opened = jr
        ctx.write_note = lambda kind, fields: opened.note(kind, **fields)
        if ctx.before is None:
            # What the failback must leave as it is now (kept for --resume).
            ctx.before, _ = core.observe_state(topology, factory)
            jr.note("drill-state", when="before", items=ctx.before)
        watch = core.StopWatch(spec.stop_conditions, ctx, spec.watch_interval)
        heartbeat = lease.heartbeat() if lease is not None else contextlib.nullcontext()
        with err.status(f"drill {spec.name}") as status, heartbeat:
            result = core.run_phases(
                spec,
                ctx,
                watch=watch,
                recorder=jr,
                on_event=with_test_pause(app, progress_printer(err, status)),
                done=done,
                completed=prior.completed if prior else (),
                stopped_before=stopped_before,
                total=len(plan.steps),
                wrap=(lambda p: guard_waits(p, lease)) if lease is not None else (lambda p: p),
                before_step=lease.ensure_held if lease is not None else None,
            )
        after = core.steady_state_problems(spec, ctx)
        jr.note("drill-steady", when="after", problems=after)
        after_state, _ = core.observe_state(topology, factory)
        jr.note(
            "drill-state",
            when="after",
            items=after_state,
            differences=core.state_differences(ctx.before or {}, after_state),
        )
        outcome = "stopped" if result.stopped_by else "succeeded"
        jr.end(outcome, clock.monotonic() - started, result.stopped_by or "")
    except KeyboardInterrupt as exc:
        end_on_error(jr, exc, run_id, clock.monotonic() - started)
        interrupted = True
        raise
    except MrFailoverError as exc:
        end_on_error(jr, exc, run_id, clock.monotonic() - started)
        raise
    finally:
        close_run(lease, jr, err)
        if interrupted:  # the lock released first: the reads below may take a while
            _say_left_behind(app, ctx, core.describe_left_behind, name, run_id)

    report = drill_report.build(run_id, journal.read_records(run_id))
    base = journal.runs_dir() / run_id
    md_path, json_path = base.with_suffix(".report.md"), base.with_suffix(".report.json")
    # Reports are 0600 like the journal (they name callers, hosts and resources).
    for path, text in (
        (md_path, drill_report.markdown(report)),
        (json_path, drill_report.to_json_text(report)),
    ):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file (a resumed run's report) keeps its mode
        with os.fdopen(fd, "w") as report_file:
            report_file.write(text)
    if app.output == "json":
        click.echo(drill_report.to_json_text(report))
    else:
        out.print(drill_report.markdown(report), markup=False, highlight=False)
        out.print(f"report: {md_path} and {json_path}")
    if report.verdict != "pass":
        raise MrFailoverError(f"drill {report.verdict}: see {md_path}") from None


def _say_left_behind(app: AppContext, ctx: Any, describe: Any, name: str, run_id: str) -> None:
    """What an interrupted drill prints: its run id, how to resume it, and the state it
    leaves, read afresh (a second Ctrl-C skips the read). Plain lines, never wrapped."""
    click.echo(f"drill interrupted: run {run_id}", err=True)
    click.echo(
        "resume (the rest, the failback, the restore and the canaries' removal): "
        f"mr-failover --config {app.config} drill {name} --resume {run_id}",
        err=True,
    )
    click.echo(
        f"or remove only its canary writes: mr-failover --config {app.config} cleanup "
        f"--run {run_id}",
        err=True,
    )
    try:
        left = describe(ctx)
    except KeyboardInterrupt:
        left = "not read (interrupted again)"
    click.echo(f"state left behind: {left}", err=True)
