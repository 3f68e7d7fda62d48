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
from mr_failover.commands import Seconds, preflight
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
@click.option("--region", "-r", help="The region a built-in scenario evacuates / fails away from.")
@click.option("--hold", type=Seconds(0.0, 86_400.0), default=60.0, show_default=True)
@mutation_options
@pass_app
def drill(
    app: AppContext,
    scenario: str,
    region: str | None,
    hold: float,
    yes: bool,
    dry_run: bool,
    resume: str | None,
) -> None:
    """Run a game-day drill (built-in evacuate / db-failover, or a scenario file).

    Checks the steady state, runs the steps while watching the stop conditions, fails
    back, and writes a Markdown + JSON report with the measured RTO and RPO.

    \b
    Example:
      mr-failover drill evacuate --region us-east-1 --dry-run
      mr-failover drill evacuate --region us-east-1 --hold 120 --yes
      mr-failover drill config/drills/region-outage.yaml --yes
      mr-failover drill evacuate --resume 20260101T120000Z-a1b2c3 --yes
    """
    from mr_failover import drill as core
    from mr_failover import drill_report, statedir
    from mr_failover.engine import guard, journal, lock
    from mr_failover.errors import MrFailoverError, RefusedError, UsageError
    from mr_failover.render import safe
    from mr_failover.text import printable

    clock = current_clock()
    topology = app.topology()
    preflight(app, region, dry_run=dry_run)
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
    if name in core.BUILTINS:
        if not params.get("region"):
            raise UsageError(f"the built-in drill {name} needs --region")
        spec = core.builtin(name, topology, str(params["region"]), hold=float(params["hold"]))
    else:
        spec = core.load_scenario(name, topology)

    identity = guard.require_account(factory, topology)
    run_id = prior.run_id if prior else journal.new_run_id(clock)
    ctx = core.DrillContext(
        topology,
        factory,
        clock,
        run_id,
        endpoint_url=app.endpoint_url,
        approve=lambda prompt: yes or click.confirm(prompt, err=True),
    )
    drill_plan = core.plan_drill(spec, ctx)
    stability = core.static_stability(drill_plan, topology)
    plan = drill_plan.as_plan(params)

    if dry_run:
        if app.output == "json":
            body = {
                "dry_run": True,
                "scenario": spec.model_dump(mode="json"),
                "plan": plan.to_json(),
                "unplanned": {p.key: p.problem for p in drill_plan.phases if p.problem},
                "static_stability": [f.to_json() for f in stability],
            }
            click.echo(json.dumps(body, indent=2))
            return
        out.print(plan_table(plan))
        # Scenario and AWS text: escaped, never markup.
        for p in drill_plan.phases:
            if p.problem:
                out.print(
                    safe(f"note: {p.key} {p.spec.label()}: re-planned when it starts ({p.problem})")
                )
        for note in dict.fromkeys(plan.notes):
            out.print(safe(f"note: {note}"))
        out.print("Static stability: what fails if a region is the one that is down")
        for f in stability:
            names = "; ".join(f"{t} [{w}]" for _, t, w in f.steps) or "nothing"
            out.print(safe(f"  if {f.region} is down: {names}"))
        out.print("dry run: no change made")
        return

    # Steady state first: a drill must not start from, or hide, a real incident.
    problems = core.steady_state_problems(spec, ctx) if prior is None else []
    if problems:
        raise RefusedError(
            "refused: not in steady state (" + "; ".join(problems) + "); fix it before a drill"
        )
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
    try:
        if prior is not None:
            jr = journal.Journal.reopen(run_id, who=who, plan=plan, clock=clock)
            for rec in journal.read_records(run_id):
                if rec.get("type") != "note":
                    continue
                if rec.get("kind") == "drill-measure":
                    ctx.marks[rec["key"]] = rec
                elif rec.get("kind") == "drill-phase" and rec.get("event") == "done":
                    done.add(rec["phase"])
                elif rec.get("kind") == "drill-stop":
                    stopped_before = rec["condition"]
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
        outcome = "stopped" if result.stopped_by else "succeeded"
        jr.end(outcome, clock.monotonic() - started, result.stopped_by or "")
    except (MrFailoverError, KeyboardInterrupt) as exc:
        end_on_error(jr, exc, run_id, clock.monotonic() - started)
        raise
    finally:
        close_run(lease, jr, err)

    report = drill_report.build(run_id, journal.read_records(run_id))
    base = journal.runs_dir() / run_id
    md_path, json_path = base.with_suffix(".report.md"), base.with_suffix(".report.json")
    # Reports are 0600 like the journal (they name callers, hosts and resources).
    for path, text in (
        (md_path, drill_report.markdown(report)),
        (json_path, drill_report.to_json_text(report)),
    ):
        with os.fdopen(statedir.create_private(path), "w") as report_file:
            report_file.write(text)
    failed = f"drill {report.verdict}: see {md_path}" if report.verdict != "pass" else None
    if app.output == "json":
        # The report is the run's one JSON document; its exit code goes in it.
        doc = {**json.loads(drill_report.to_json_text(report)), "exit_code": 1 if failed else 0}
        click.echo(json.dumps(doc, indent=2))
        if failed:
            click.echo(f"Error: {printable(failed)}", err=True)
            click.get_current_context().exit(1)
        return
    markdown = drill_report.markdown(report)
    out.print("\n".join(printable(line) for line in markdown.splitlines()), markup=False)
    out.print(f"report: {md_path} and {json_path}")
    if failed:
        raise MrFailoverError(failed) from None
