"""``mr-failover status``: could each region take over right now? (read-only)."""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import Seconds, deadline_option

# Injected by tests so --watch never sleeps for real.
sleep: Callable[[float], None] = time.sleep


@click.command()
@click.option(
    "--region",
    "-r",
    "regions",
    multiple=True,
    metavar="REGION",
    help="Only this region (repeatable). Default: every region of the topology.",
)
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option(
    "--interval",
    type=Seconds(1.0, 86_400.0),
    default=10.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
@deadline_option("Seconds to wait for AWS; what has not answered by then is UNREACHABLE.")
@pass_app
def status(
    app: AppContext, regions: tuple[str, ...], watch: bool, interval: float, deadline: float
) -> None:
    """Show whether each region could take over right now (read-only).

    Traffic (Route 53 health checks and records), Aurora, DynamoDB, S3 replication
    and compute, per region; each region gets a verdict (SERVING, DRAINED, DEGRADED,
    UNREACHABLE) and a yes/no with reasons. Exit code 0 when every region is serving
    or drained, 4 when any is degraded or unreachable.

    \b
    Example:
      mr-failover status
      mr-failover --output json status --region us-west-2
      mr-failover status --watch --interval 15
    """
    from mr_failover import status as core
    from mr_failover.aws import Timeouts
    from mr_failover.text import to_json

    topology = app.topology()
    factory = app.factory().with_timeouts(Timeouts.for_deadline(deadline))
    if app.output != "json":  # rich only for the table (bench/bench_status_cold.py)
        from mr_failover.render import status_table

        console = app.console()

    def once() -> int:
        report = core.observe(topology, factory, regions=regions or None, deadline=deadline)
        if app.output == "json":
            # With --watch, one compact document per refresh and line (NDJSON).
            click.echo(to_json(report.to_json(), indent=None if watch else 2))
        else:
            if watch:
                console.clear()
            console.print(status_table(report))
        return report.exit_code

    code = once()
    if watch:
        try:
            while True:
                sleep(interval)
                code = once()
        except KeyboardInterrupt:
            pass
    click.get_current_context().exit(code)
