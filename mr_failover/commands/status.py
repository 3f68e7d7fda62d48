"""``mr-failover status``: could each region take over right now? (read-only)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import Seconds, deadline_option
from mr_failover.commands._complete import complete_region

# Injected by tests so --watch never sleeps for real.
sleep: Callable[[float], None] = time.sleep


@click.command()
@click.option(
    "--region",
    "-r",
    "regions",
    multiple=True,
    metavar="REGION",
    shell_complete=complete_region,
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
@click.option(
    "--publish",
    is_flag=True,
    help="Also write the readiness metrics to CloudWatch (namespace MrFailover; "
    "docs/SCHEDULED.md).",
)
@click.option(
    "--publish-region",
    metavar="REGION",
    help="Region to publish to. Default: the lock table's region, else the primary region.",
)
@pass_app
def status(
    app: AppContext,
    regions: tuple[str, ...],
    watch: bool,
    interval: float,
    deadline: float,
    publish: bool,
    publish_region: str | None,
) -> None:
    """Show whether each region could take over right now (read-only).

    Traffic (Route 53 health checks and records), Aurora, DynamoDB, S3 replication
    and compute, per region; each region gets a verdict (SERVING, DRAINED, DEGRADED,
    UNREACHABLE) and a yes/no with reasons. Exit code 0 when every region is serving
    or drained, 4 when any is degraded or unreachable, 6 on drift. With --publish, the
    metrics go to CloudWatch as well; a failure to publish is a warning, and exit code 7
    when the status alone would have been 0.

    \b
    Example:
      mr-failover status
      mr-failover --output json status --region us-west-2
      mr-failover status --watch --interval 15
      mr-failover status --publish
    """
    # Off until the first report is out: a run allocates about a million objects
    # (botocore's service models, the answers) and frees few, so the cyclic collector's
    # passes over them found nothing and cost about 0.08 s of a 0.8 s run, and turning
    # it on again costs one pass over them all (0.025 s): only --watch and in-process
    # callers do, a process that ends with the report does not (bench_status_cold.py).
    collecting = gc.isenabled()
    gc.disable()
    try:
        once = _reporter(app, regions, watch, deadline, publish, publish_region)
        code = once()
    finally:
        if collecting and (watch or not app.process_ends_after):
            gc.enable()
    if watch:
        try:
            while True:
                sleep(interval)
                code = once()
        except KeyboardInterrupt:
            pass
    app.fast_exit = True  # everything is written: nothing gained by tearing down
    click.get_current_context().exit(code)


def _reporter(
    app: AppContext,
    regions: tuple[str, ...],
    watch: bool,
    deadline: float,
    publish: bool,
    publish_region: str | None,
) -> Callable[[], int]:
    """What one refresh does: observe, publish if asked, print; returns the exit code."""
    from mr_failover import status as core
    from mr_failover.aws import Timeouts
    from mr_failover.text import to_json

    if publish_region is not None:
        from mr_failover.commands.alarms import check_region_code
        from mr_failover.errors import UsageError

        if not publish:
            raise UsageError("--publish-region is only for --publish")
        check_region_code(publish_region)
    topology = app.topology()
    factory = app.factory().with_timeouts(Timeouts.for_deadline(deadline))

    def once() -> int:
        report = core.observe(topology, factory, regions=regions or None, deadline=deadline)
        doc = report.to_json()
        code = report.exit_code
        if publish:
            from mr_failover.errors import EXIT_NOT_PUBLISHED, EXIT_OK
            from mr_failover.operations import metrics

            where = metrics.publish_region(topology, publish_region)
            before = metrics.last_can_take_over(factory, report, region=where)
            published = metrics.publish(factory, report, region=where)
            doc["publish"] = published.to_json()
            if published.ok:

                def warn(line: str) -> None:
                    click.echo(line, err=True)

                changes = metrics.notify_changes(topology, factory, report, before, warn)
                doc["publish"]["changes"] = changes
            if not published.ok:
                click.echo(f"warning: metrics not published: {published.error}", err=True)
                code = EXIT_NOT_PUBLISHED if code == EXIT_OK else code
        if app.output == "json":
            # With --watch, one compact document per refresh and line (NDJSON).
            click.echo(to_json(doc, indent=None if watch else 2))
        else:
            from mr_failover.render import show, status_table  # rich only for the table

            # A new console each time: --watch follows a resized terminal.
            console = app.console()
            if watch:
                console.clear()
            show(console, status_table(report))
            if publish and doc["publish"]["error"] is None:
                console.print(
                    f"published {doc['publish']['published']} metric(s) to CloudWatch in "
                    f"{doc['publish']['region']} (namespace {doc['publish']['namespace']})",
                    markup=False,
                )
        return code

    return once
