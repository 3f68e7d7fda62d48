"""``mr-failover validate`` and ``mr-failover schema``: the topology file, no AWS call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import deadline_option
from mr_failover.errors import ConfigError

if TYPE_CHECKING:
    from mr_failover.topology import Topology


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=True))
@click.option(
    "--live",
    is_flag=True,
    help="Also compare the file with the account (read-only AWS calls); exit 6 on any difference.",
)
@deadline_option("With --live: seconds to wait for AWS.")
@pass_app
@click.pass_context
def validate(
    ctx: click.Context, app: AppContext, file: str | None, live: bool, deadline: float
) -> None:
    """Check a topology file: every problem, with file:line:column. No AWS call.

    FILE defaults to --config. Exit code 0 when valid, 2 when not. With --output json,
    problems are printed to stdout as a JSON object, for CI. TODO and PROBLEM comments
    (left by `mr-failover discover`) are listed with their line, without failing.

    With --live, the file is then compared with the account: status's drift, what the
    file names that AWS does not have, and the roles and replication it designs against
    what AWS reports. Exit code 6 when they differ, 1 when a region did not answer.

    \b
    Example:
      mr-failover validate config/regions.yaml
      mr-failover --output json validate my-app.yaml
      mr-failover validate --live config/regions.yaml
    """
    from mr_failover import topology

    path = file or app.config
    try:
        t = topology.load(path)
    except ConfigError as exc:
        if app.output != "json":
            raise
        problems = exc.problems or [str(exc)]
        click.echo(json.dumps({"file": path, "valid": False, "problems": problems}))
        ctx.exit(exc.exit_code)
    todos = _todos(path)
    if live:
        _live(ctx, app, path, t, todos, deadline)
        return
    if app.output == "json":
        doc: dict[str, object] = {"file": path, "valid": True, "regions": list(t.regions)}
        if todos:
            doc["todo"] = todos
        click.echo(json.dumps(doc))
        return
    _summary(path, t)
    for line in todos:
        click.echo(f"  {line}")


def _todos(path: str) -> list[str]:
    from mr_failover.operations.todo import todo_comments

    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return [f"{path}:{ln}:{col}: {what}" for ln, col, what in todo_comments(text)]


def _summary(path: str, t: Topology) -> None:
    writer = t.writer_region()
    names = []
    for name in t.regions:
        roles = [
            r for r, on in (("primary", name == t.primary_region), ("writer", name == writer)) if on
        ]
        names.append(f"{name} ({', '.join(roles)})" if roles else name)
    click.echo(f"{path}: valid, {len(t.regions)} regions: {', '.join(names)}")


def _live(
    ctx: click.Context,
    app: AppContext,
    path: str,
    t: Topology,
    todos: list[str],
    deadline: float,
) -> None:
    from mr_failover.aws import ClientFactory, Timeouts
    from mr_failover.operations import live

    factory = ClientFactory(t, endpoint_url=app.endpoint_url).with_timeouts(
        Timeouts.for_deadline(deadline)
    )
    report = live.compare(t, factory, deadline=deadline)
    if app.output == "json":
        doc = {"file": path, "valid": True, "regions": list(t.regions), **report.to_json()}
        if todos:
            doc["todo"] = todos
        click.echo(json.dumps(doc))
        ctx.exit(report.exit_code)
    _summary(path, t)
    for line in todos:
        click.echo(f"  {line}")
    if report.differences:
        count = len(report.differences)
        click.echo(f"{count} difference{'' if count == 1 else 's'} between the file and AWS:")
        for d in report.differences:
            click.echo(f"  {d}")
    elif not report.not_compared:
        click.echo("AWS matches the file")
    for line in report.not_compared:
        click.echo(f"  not compared: {line}", err=True)
    ctx.exit(report.exit_code)


@click.command()
def schema() -> None:
    """Print the JSON Schema of the topology file (for editors and CI).

    \b
    Example:
      mr-failover schema > mr_failover/data/regions.schema.json
    """
    from mr_failover import topology

    click.echo(json.dumps(topology.json_schema(), indent=2))
