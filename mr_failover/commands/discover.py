"""``mr-failover discover``: write a topology file from what the account holds (read-only)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import deadline_option


def _tag(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    out = []
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE")
        out.append((key, val))
    return out


def _regions(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in value.split(",") if r.strip())


@click.command()
@click.option(
    "--regions",
    required=True,
    callback=_regions,
    metavar="A,B[,C...]",
    help="The application's regions, comma-separated (two or more).",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    callback=_tag,
    metavar="KEY=VALUE",
    help="Start from the resources carrying this tag (repeatable: all must match).",
)
@click.option(
    "--stack",
    "stacks",
    multiple=True,
    metavar="NAME",
    help="Start from a CloudFormation stack's resources (repeatable).",
)
@click.option(
    "--domain",
    "domains",
    multiple=True,
    metavar="NAME",
    help="Start from this name's Route 53 records and their health checks (repeatable).",
)
@click.option("--application", help="Application name (default: the first tag's value).")
@click.option(
    "--takeover-factor",
    type=float,
    help="Write takeover_desired as desired x FACTOR (default: a TODO to fill in).",
)
@click.option(
    "--rpo-seconds", type=click.IntRange(0, 86_400), help="policy.rpo_seconds (default: a TODO)."
)
@click.option(
    "--rto-seconds", type=click.IntRange(1, 86_400), help="policy.rto_seconds (default: a TODO)."
)
@click.option(
    "--output",
    "--out",
    "output_file",
    type=click.Path(dir_okay=False),
    help="Write the topology here (default: standard output).",
)
@click.option(
    "--update",
    "update",
    type=click.Path(dir_okay=False, exists=True),
    help="Merge into this topology file: keep its comments and choices, add what is new, "
    "report what disappeared (written back unless --output is given).",
)
@deadline_option("Seconds to wait for each round of AWS reads.")
@pass_app
def discover(
    app: AppContext,
    regions: tuple[str, ...],
    tags: list[tuple[str, str]],
    stacks: tuple[str, ...],
    domains: tuple[str, ...],
    application: str | None,
    takeover_factor: float | None,
    rpo_seconds: int | None,
    rto_seconds: int | None,
    output_file: str | None,
    update: str | None,
    deadline: float,
) -> None:
    """Write a topology file from the account: read-only, every fact observed.

    Starts from tagged resources (--tag), CloudFormation stacks (--stack) and a domain's
    Route 53 records (--domain), in each of --regions, then reads the writer and the
    replication from AWS. What it could not read or decide is a PROBLEM comment in the
    file and a warning here; what only you can choose (policy, take-over capacity) a TODO
    comment. `mr-failover validate FILE` lists both. Exit code 0 when nothing is left
    undecided but TODOs, 1 when the file has PROBLEMs (it is still written).

    \b
    Example:
      mr-failover discover --regions us-east-1,us-west-2 --tag app=shop \\
          --domain api.shop.example.com --takeover-factor 2 --output config/regions.yaml
      mr-failover discover --regions us-east-1,us-west-2 --tag app=shop \\
          --update config/regions.yaml
    """
    from mr_failover import topology
    from mr_failover.aws import ClientFactory, Timeouts
    from mr_failover.errors import ConfigError
    from mr_failover.operations import discover as core
    from mr_failover.operations import discover_yaml
    from mr_failover.render import Prose, show

    request = core.DiscoverRequest(
        regions=regions,
        tags=tuple(tags),
        stacks=stacks,
        domains=domains,
        application=application,
        takeover_factor=takeover_factor,
        rpo_seconds=rpo_seconds,
        rto_seconds=rto_seconds,
    )
    request.check()
    factory = ClientFactory(None, endpoint_url=app.endpoint_url).with_timeouts(
        Timeouts.for_deadline(deadline)
    )
    found = core.discover(request, factory, deadline=deadline)
    err = app.console(stderr=True)

    def tell(line: str, indent: str = "  ") -> None:
        # Wrapped at spaces only: a path or a key path is never cut.
        show(err, Prose(line, indent=indent))

    if update is not None:
        text, report = discover_yaml.merge(Path(update).read_text(), found, update)
        for line in report.added:
            tell(f"added: {line}")
        for line in report.kept:
            tell(f"kept: {line}")
        for line in report.gone:
            tell(f"disappeared: {line}")
        target: str | None = output_file or update
    else:
        text = discover_yaml.render(found)
        target = output_file
    for note in found.notes:
        tell(f"{'warning' if note.kind == 'problem' else 'todo'}: {note}")
    # Check the file as validate would, before writing it anywhere.
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tmp:
        tmp.write(text)
    try:
        topology.load(tmp.name)
        valid = None
    except ConfigError as exc:
        valid = [p.replace(tmp.name, target or "<stdout>") for p in exc.problems] or [str(exc)]
    finally:
        os.unlink(tmp.name)
    if target is None:
        click.echo(text, nl=False)
    else:
        Path(target).write_text(text)
        tell(f"wrote {target}")
    if valid:
        tell("not valid yet (see the PROBLEM comments):")
        for line in valid:
            tell(f"  {line}", indent="    ")
    code = 1 if found.problems or valid else 0
    click.get_current_context().exit(code)
