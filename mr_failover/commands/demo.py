"""``mr-failover demo``: sandbox, status, an evacuation drill with its report, an outage."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.errors import UsageError


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the seeded topology and the runs (default: a temporary folder).",
)
@click.option(
    "--hold",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="How long the drill holds the evacuated state (sandbox seconds).",
)
@pass_app
def demo(app: AppContext, workdir: Path | None, hold: float) -> None:
    """Run the whole story on this machine, no AWS account needed.

    Starts the embedded sandbox, creates the topology's resources in it, shows status,
    runs the evacuation drill of the primary region (drain, move the writer, verify,
    hold, fail back) and prints its report, then simulates an outage of the primary
    and shows status again. Waits run on the sandbox's clock, so it takes seconds.

    \b
    Example:
      mr-failover demo
      mr-failover --config my-regions.yaml demo --hold 60
    """
    try:
        from mr_failover.sandbox import demo as scenario
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"the demo needs the sandbox extra ({exc.name} is missing): "
            "pip install 'mr-failover[sandbox]'"
        ) from None
    from mr_failover.commands import _mutation
    from mr_failover.commands.drill import drill
    from mr_failover.render import status_table

    console = app.console()

    def say(line: str) -> None:
        console.print(f"[bold]>[/] {line}")

    folder = workdir or Path(tempfile.mkdtemp(prefix="mr-failover-demo-"))
    with scenario.demo_session(app.config, folder, say) as session:
        before = scenario.observe_now(session)
        console.print(status_table(before))
        primary = session.topology.primary_region
        say(f"game day: evacuating {primary} with `mr-failover drill evacuate --region {primary}`")
        drill_app = AppContext(
            config=str(session.topology_file),
            output=app.output,
            endpoint_url=session.endpoint,
            color=app.color,
        )
        # The drill's waits (record TTLs, the hold) pass on the sandbox clock, not for real.
        saved, _mutation.CLOCK = _mutation.CLOCK, session.clock
        try:
            with click.Context(drill, info_name="drill", obj=drill_app) as ctx:
                ctx.invoke(
                    drill,
                    scenario="evacuate",
                    region=primary,
                    hold=hold,
                    yes=True,
                    dry_run=False,
                    resume=None,
                )
        finally:
            _mutation.CLOCK = saved
        result = scenario.outage(session, scenario.observe_now(session), say)
    say(
        f"{result.failed_region} outage seen by status after "
        f"{result.detected_after_seconds:.1f} s (sandbox time)"
    )
    console.print(status_table(result.after))
