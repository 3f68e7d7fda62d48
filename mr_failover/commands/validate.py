"""``mr-failover validate`` and ``mr-failover schema``: the topology file, no AWS call."""

from __future__ import annotations

import json

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.errors import ConfigError


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=True))
@pass_app
@click.pass_context
def validate(ctx: click.Context, app: AppContext, file: str | None) -> None:
    """Check a topology file: every problem, with file:line:column. No AWS call.

    FILE defaults to --config. Exit code 0 when valid, 2 when not. With --output json,
    problems are printed to stdout as a JSON object, for CI.

    \b
    Example:
      mr-failover validate config/regions.yaml
      mr-failover --output json validate my-app.yaml
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
    if app.output == "json":
        click.echo(json.dumps({"file": path, "valid": True, "regions": list(t.regions)}))
        return
    writer = t.writer_region()
    names = []
    for name in t.regions:
        roles = [
            r for r, on in (("primary", name == t.primary_region), ("writer", name == writer)) if on
        ]
        names.append(f"{name} ({', '.join(roles)})" if roles else name)
    click.echo(f"{path}: valid, {len(t.regions)} regions: {', '.join(names)}")


@click.command()
def schema() -> None:
    """Print the JSON Schema of the topology file (for editors and CI).

    \b
    Example:
      mr-failover schema > mr_failover/data/regions.schema.json
    """
    from mr_failover import topology

    click.echo(json.dumps(topology.json_schema(), indent=2))
