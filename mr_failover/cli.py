"""Root command group: global options, the lazy subcommand table, errors to exit codes.

Subcommands are imported only when invoked, so ``mr-failover --help`` imports neither
boto3 nor the core (a test proves it). Domain errors (``errors.py``) become one-line
messages and their documented exit codes; anything else keeps its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from mr_failover import __version__
from mr_failover.errors import EXIT_INTERRUPTED, MrFailoverError

if TYPE_CHECKING:
    from rich.console import Console

    from mr_failover.aws import ClientFactory
    from mr_failover.topology import Topology

DEFAULT_CONFIG = "config/regions.yaml"

# name -> "module:attribute"; the module is imported only when the command runs.
COMMANDS: dict[str, str] = {
    "validate": "mr_failover.commands.validate:validate",
    "schema": "mr_failover.commands.validate:schema",
    "demo": "mr_failover.commands.demo:demo",
    "status": "mr_failover.commands.status:status",
    "history": "mr_failover.commands.history:history",
    "lock": "mr_failover.commands.lock:lock_group",
    "health-check": "mr_failover.commands.healthcheck:health_check",
    "promote": "mr_failover.commands.promote:promote",
    "sandbox": "mr_failover.commands.sandbox:sandbox",
    "drain": "mr_failover.commands.drain:drain",
    "undrain": "mr_failover.commands.drain:undrain",
    "check": "mr_failover.commands.check:check",
    "drill": "mr_failover.commands.drill:drill",
    "cleanup": "mr_failover.commands.cleanup:cleanup",
    "arc": "mr_failover.commands.arc:arc_group",
    "fence": "mr_failover.commands.fence:fence",
    "export": "mr_failover.commands.export:export",
}

# One-line summaries for the root --help, so listing commands imports nothing.
SUMMARIES: dict[str, str] = {
    "validate": "Check a topology file (no AWS call).",
    "schema": "Print the JSON Schema of the topology file.",
    "demo": "Sandbox, status, simulated outage, status: one command.",
    "status": "Could each region take over right now? (read-only)",
    "history": "List mutating runs from the journal.",
    "lock": "Show or break the operators' lock.",
    "health-check": "Invert or restore a region's Route 53 health checks.",
    "promote": "Make a region's Aurora cluster the writer (switchover, failover, replica).",
    "sandbox": "Local multi-region AWS: up, down, status, fail-region, heal-region.",
    "drain": "Move a region's traffic to the other regions (scales them up first).",
    "undrain": "Bring traffic back to a drained region; scale the others back.",
    "check": "Replication lag, RPO estimate and go / no-go per region pair (read-only).",
    "drill": "Game-day drill: evacuate or fail over, measure RTO/RPO, fail back, report.",
    "cleanup": "Remove the canary writes of an interrupted drill run (from its journal).",
    "arc": "Route 53 ARC: the routing controls' cluster endpoints (cached, ready to paste).",
    "fence": "Stop a split-brain region's database taking writes; keep its traffic drained.",
    "export": "Export the topology, e.g. as an ARC Region switch plan (no AWS call).",
}


@dataclass
class AppContext:
    """What every command gets: global options, and the topology / clients on demand."""

    config: str
    output: str
    endpoint_url: str | None
    color: bool
    _topology: Topology | None = field(default=None, repr=False)
    _factory: ClientFactory | None = field(default=None, repr=False)

    def topology(self) -> Topology:
        if self._topology is None:
            from mr_failover import topology

            self._topology = topology.load(self.config)
        return self._topology

    def factory(self) -> ClientFactory:
        if self._factory is None:
            from mr_failover.aws import ClientFactory

            self._factory = ClientFactory(self.topology(), endpoint_url=self.endpoint_url)
        return self._factory

    def console(self, stderr: bool = False) -> Console:
        from rich.console import Console

        return Console(
            stderr=stderr,
            no_color=not self.color,
            highlight=False,
            soft_wrap=False,
            width=None if sys.stdout.isatty() else 120,
        )


pass_app = click.make_pass_decorator(AppContext)


class CommandFailed(click.ClickException):
    """A domain error on its way out, with the error's exit code."""

    def __init__(self, error: MrFailoverError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]  # per error, not per class


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MrFailoverError as exc:
            raise CommandFailed(exc) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "-c",
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="MR_FAILOVER_CONFIG",
    help="Topology file (env MR_FAILOVER_CONFIG).",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Human table or machine-readable JSON.",
)
@click.option(
    "--endpoint-url",
    envvar="AWS_ENDPOINT_URL",
    help="Send every AWS call here (the sandbox); env AWS_ENDPOINT_URL.",
)
@click.option("--no-color", is_flag=True, help="No colors (also NO_COLOR).")
@click.version_option(__version__, prog_name="mr-failover")
@click.pass_context
def cli(
    ctx: click.Context, config: str, output: str, endpoint_url: str | None, no_color: bool
) -> None:
    """Move a multi-region AWS application between regions, safely.

    \b
    Example:
      mr-failover status --config config/regions.yaml
    """
    color = not no_color and "NO_COLOR" not in os.environ
    ctx.obj = AppContext(config=config, output=output, endpoint_url=endpoint_url, color=color)


def main() -> None:
    cli(prog_name="mr-failover")
