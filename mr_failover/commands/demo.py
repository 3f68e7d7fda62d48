"""``mr-failover demo``: sandbox, status, an evacuation drill with its report, an outage,
then a drain through ARC routing controls with two of the five ARC endpoints out."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.errors import UsageError

if TYPE_CHECKING:
    from mr_failover.sandbox.demo import DemoSession

Say = Callable[[str], None]
Run = Callable[..., None]


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
    and shows status again. Last, with the primary back, it drains another region
    through Route 53 ARC routing controls (the data-plane lever) while two of the
    cluster's five endpoints are out, shows the routing control OFF, and undrains.
    Waits run on the sandbox's clock, so it takes seconds.

    Without --config, and with no config/regions.yaml in the current folder, it uses the
    example topology shipped with the package (so it runs from any folder once installed
    with `pip install 'mr-failover[sandbox]'`).

    \b
    Example:
      mr-failover demo
      mr-failover --config my-regions.yaml demo --hold 60
    """
    from mr_failover.sandbox import INSTALL_HINT, moto_available

    if not moto_available():
        raise UsageError(INSTALL_HINT)
    try:
        from mr_failover.sandbox import demo as scenario
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"the demo needs the sandbox extra ({exc.name} is missing): "
            "pip install 'mr-failover[sandbox]'"
        ) from None
    from rich.text import Text

    from mr_failover.commands.drill import drill
    from mr_failover.render import Prose, show, status_table

    console = app.console()

    def say(line: str) -> None:
        text = Text(">", style="bold")
        text.append(f" {line}")
        show(console, Prose(text))

    config = app.config_or_example()
    if str(config) != app.config:
        say(f"no {app.config} here: the example topology shipped with mr-failover ({config})")
    folder = workdir or Path(tempfile.mkdtemp(prefix="mr-failover-demo-"))
    with scenario.demo_session(config, folder, say) as session:
        before = scenario.observe_now(session)
        show(console, status_table(before))
        primary = session.topology.primary_region
        say(f"game day: evacuating {primary} with `mr-failover drill evacuate --region {primary}`")
        run = _runner(app, session)
        run(drill, scenario="evacuate", region=primary, hold=hold)
        result = scenario.outage(session, scenario.observe_now(session), say)
        say(
            f"{result.failed_region} outage seen by status after "
            f"{result.detected_after_seconds:.1f} s (sandbox time)"
        )
        show(console, status_table(result.after))
        _data_plane_segment(app, session, say)


def _runner(app: AppContext, session: DemoSession) -> Run:
    """Run a mutating command in-process on ``session``'s topology, confirmed, its waits
    (record TTLs, holds) passing on the sandbox clock instead of for real."""
    from mr_failover.commands import _mutation

    command_app = AppContext(
        config=str(session.topology_file),
        output=app.output,
        endpoint_url=session.endpoint,
        color=app.color,
    )

    def run(command: click.Command, **params: Any) -> None:
        saved, _mutation.CLOCK = _mutation.CLOCK, session.clock
        try:
            with click.Context(command, info_name=command.name, obj=command_app) as ctx:
                ctx.invoke(command, yes=True, dry_run=False, resume=None, **params)
        finally:
            _mutation.CLOCK = saved

    return run


def _data_plane_segment(app: AppContext, session: DemoSession, say: Say) -> None:
    """Drain a secondary region with its ARC routing controls while two ARC endpoints are
    out: the lever that needs no us-east-1 call, on whichever endpoint answers."""
    from mr_failover.commands.drain import drain, undrain
    from mr_failover.render import show, status_table
    from mr_failover.sandbox import demo as scenario

    primary = session.topology.primary_region
    scenario.recover(session, primary, say)
    region = next((r for r in session.topology.regions if r != primary), None)
    if region is None or not session.topology.regions[region].traffic.routing_controls:
        say("no second region with ARC routing controls in this topology: data-plane part skipped")
        return
    arc_session = scenario.with_routing_control_lever(session, region)
    say(
        f"data-plane lever: {region} drains with `drain_lever: routing_control` "
        f"({arc_session.topology_file.name}); Route 53 ARC's cluster answers on five "
        "regional endpoints, tried in random order"
    )
    run = _runner(app, arc_session)
    with scenario.arc_endpoints_out(arc_session, say):
        since = session.sandbox.now()
        out = len(scenario.ARC_ENDPOINTS_OUT)
        say(f"`mr-failover drain --region {region}` with {out} of the 5 ARC endpoints out")
        run(drain, region=region, scale_up=None, override_safety_rules=())
        say(
            "UpdateRoutingControlStates "
            + scenario.describe_updates(scenario.arc_updates(arc_session, since))
        )
        console = app.console()
        show(console, status_table(scenario.observe_now(arc_session)))
        say(f"`mr-failover undrain --region {region}`: its routing control back ON")
        since = session.sandbox.now()
        run(undrain, region=region, scale_back=None, override_safety_rules=())
        say(
            "UpdateRoutingControlStates "
            + scenario.describe_updates(scenario.arc_updates(arc_session, since))
        )
