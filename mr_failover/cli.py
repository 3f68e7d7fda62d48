"""Root command group: global options, the lazy subcommand table, errors to exit codes.

Subcommands are imported only when invoked, so ``mr-failover --help`` imports neither
boto3 nor the core (a test proves it). Every failure ends the same way: domain errors
(``errors.py``) become one-line messages and their documented exit codes, Ctrl-C exits
130, and an unexpected exception (a bug) is one line naming it, exit 1. Messages are
escaped (no control character from a file or an AWS answer reaches the terminal) and
clipped. ``--debug`` adds the traceback and botocore's wire log; ``--output json`` makes
the failure one JSON document on stdout, ``{"error": {...}, "exit_code": N}``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mr_failover import __version__
from mr_failover.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ConfigError,
    MrFailoverError,
    UsageError,
)

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
    "discover": "mr_failover.commands.discover:discover",
    "completion": "mr_failover.commands.completion:completion",
    "alarms": "mr_failover.commands.alarms:alarms_group",
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
    "check": "Replication, parity, capacity headroom: go / no-go per region (read-only).",
    "drill": "Game-day drill: evacuate or fail over, measure RTO/RPO, fail back, report.",
    "cleanup": "Remove the canary writes of an interrupted drill run (from its journal).",
    "arc": "Route 53 ARC: the routing controls' cluster endpoints (cached, ready to paste).",
    "fence": "Stop a split-brain region's database taking writes; keep its traffic drained.",
    "export": "Export the topology, e.g. as an ARC Region switch plan (no AWS call).",
    "discover": "Write a topology file from the account: tags, stacks, a domain (read-only).",
    "completion": "Print the shell completion script for bash, zsh or fish.",
    "alarms": "CloudWatch alarms on the metrics status --publish writes (apply).",
}


@dataclass
class AppContext:
    """What every command gets: global options, and the topology / clients on demand."""

    config: str
    output: str
    endpoint_url: str | None
    color: bool
    debug: bool = False
    # --verbose of the mutating commands and drill: plans show every call's parameters.
    verbose: bool = False
    # Global options given on the command line, by name: one repeated after the command
    # with another value is refused.
    given: dict[str, Any] = field(default_factory=dict)
    # --config (or MR_FAILOVER_CONFIG) was given: the demo does not fall back to the example.
    config_given: bool = False
    _topology: Topology | None = field(default=None, repr=False)
    _factory: ClientFactory | None = field(default=None, repr=False)
    # Set by a command whose work is done and written once it returns (status): main()
    # then ends the process without the interpreter's teardown (see _exit_now).
    fast_exit: bool = False

    @property
    def process_ends_after(self) -> bool:
        """Whether the process ends when the command returns (run by :func:`main`, not
        in-process by a test or another program)."""
        return bool(_ENTRY)

    def topology(self) -> Topology:
        if self._topology is None:
            from mr_failover import topology

            self._topology = topology.load(self.config)
        return self._topology

    def config_or_example(self) -> Path:
        """--config; when none was given and ./config/regions.yaml is not there (the tool
        installed with pip or pipx, run outside a clone), the example the package ships."""
        if self.config_given or Path(self.config).exists():
            return Path(self.config)
        from importlib import resources

        return Path(str(resources.files("mr_failover").joinpath("data", "regions.yaml")))

    def factory(self) -> ClientFactory:
        if self._factory is None:
            from mr_failover.aws import ClientFactory

            factory = ClientFactory(self.topology(), endpoint_url=self.endpoint_url)
            # A missing profile is the operator's to fix (exit 5), before any AWS call.
            factory.check_profiles()
            self._factory = factory
        return self._factory

    def console(self, stderr: bool = False) -> Console:
        from rich.console import Console

        from mr_failover.text import terminal_width

        return Console(
            stderr=stderr,
            no_color=not self.color,
            highlight=False,
            soft_wrap=False,
            # COLUMNS, else the terminal's width, else 80 (piped): never rich's guess from
            # another stream (stdin's terminal when stdout is piped).
            width=terminal_width(sys.stderr if stderr else sys.stdout),
        )


pass_app = click.make_pass_decorator(AppContext)
# The invocation's AppContext, for main() to report a bug as --output / --debug ask.
_APP: list[AppContext] = []


# A message line longer than this is cut (a 100 KB argument is not echoed whole).
MESSAGE_LIMIT = 1000


def _lines(error: BaseException) -> list[str]:
    """The error's message as escaped, clipped lines (a ConfigError lists its problems)."""
    from mr_failover.text import printable

    if isinstance(error, ConfigError):
        head = Exception.__str__(error)
        return [printable(head, MESSAGE_LIMIT)] + [
            "  " + printable(p, MESSAGE_LIMIT) for p in error.problems
        ]
    return [printable(str(error), MESSAGE_LIMIT)]


def _error_json(kind: str, lines: list[str], code: int) -> str:
    error: dict[str, Any] = {"type": kind, "message": lines[0], "exit_code": code}
    if len(lines) > 1:
        error["problems"] = [line.strip() for line in lines[1:]]
    return json.dumps({"error": error, "exit_code": code}, indent=2)


def fail(ctx: click.Context, error: BaseException, code: int, kind: str | None = None) -> NoReturn:
    """End the command with ``error``: one line on stderr (JSON on stdout with
    ``--output json``), the traceback too with ``--debug``, then exit ``code``."""
    app = ctx.find_object(AppContext)
    if app is not None and app.debug:
        _print_traceback(error)
    lines = _lines(error)
    kind = kind or type(error).__name__
    if app is not None and app.output == "json":
        click.echo(_error_json(kind, lines, code))
    click.echo("Error: " + "\n".join(lines), err=True)
    ctx.exit(code)


def _print_traceback(error: BaseException) -> None:
    """The traceback of ``error`` and of what it was raised from (``raise ... from None``
    hides the botocore exception a tool error translates; --debug shows it)."""
    chain: list[BaseException] = []
    cur: BaseException | None = error
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for exc in reversed(chain):
        sys.stderr.write("".join(traceback.format_exception(exc, chain=False)))


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
            return with_global_options(command)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except MrFailoverError as exc:
            fail(ctx, exc, exc.exit_code)
        except click.Abort as exc:
            # click turns Ctrl-C (and end of input) at a prompt into Abort, keeping the
            # KeyboardInterrupt as its context.
            if isinstance(exc.__context__, KeyboardInterrupt):
                fail(ctx, KeyboardInterrupt("interrupted"), EXIT_INTERRUPTED, "interrupted")
            fail(ctx, click.Abort("aborted at the prompt"), EXIT_FAILED, "aborted")
        except KeyboardInterrupt:
            fail(ctx, KeyboardInterrupt("interrupted"), EXIT_INTERRUPTED, "interrupted")
        except click.ClickException as exc:
            from mr_failover.text import printable

            # click echoes the offending value: escaped and clipped like ours.
            exc.message = printable(exc.message, MESSAGE_LIMIT)  # type: ignore[misc]
            app = ctx.find_object(AppContext)
            if app is None or app.output != "json":
                raise
            usage = exc.format_message()
            fail(ctx, UsageError(usage), exc.exit_code, type(exc).__name__)
        # Any other exception is a bug: it propagates (tests that invoke ``cli`` see it)
        # up to main(), which ends it in one line.


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
@click.option(
    "--debug",
    is_flag=True,
    help="On failure, also print the traceback; log botocore's requests and answers "
    "(credentials masked) to stderr.",
)
@click.version_option(__version__, prog_name="mr-failover")
@click.pass_context
def cli(
    ctx: click.Context,
    config: str,
    output: str,
    endpoint_url: str | None,
    no_color: bool,
    debug: bool,
) -> None:
    """Move a multi-region AWS application between regions, safely.

    The options below also work after the command (and subcommand), as with the AWS
    CLI: `mr-failover status -o json` is `mr-failover -o json status`.

    \b
    Example:
      mr-failover status --config config/regions.yaml
      mr-failover status -o json
    """
    color = not no_color and "NO_COLOR" not in os.environ
    ctx.obj = AppContext(config=config, output=output, endpoint_url=None, color=color, debug=debug)
    _APP[:] = [ctx.obj]
    if debug:
        _wire_log()
    source = ctx.get_parameter_source("endpoint_url")
    named = "AWS_ENDPOINT_URL" if source == click.core.ParameterSource.ENVIRONMENT else None
    ctx.obj.endpoint_url = check_endpoint_url(endpoint_url, named or "--endpoint-url")
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
    ctx.obj.given = {
        name: value
        for name, value in ctx.params.items()
        if sources[name] == click.core.ParameterSource.COMMANDLINE and value is not False
    }
    ctx.obj.config_given = sources["config"] in (
        click.core.ParameterSource.COMMANDLINE,
        click.core.ParameterSource.ENVIRONMENT,
    )


# The root's options that are also accepted after any command (and subcommand), as the
# AWS CLI accepts them anywhere: (name, option strings, what click.Option gets besides).
# After the command they have no default and no environment variable: a value given there
# goes into the AppContext the root made; --help lists them under each command.
GLOBAL_OPTIONS: tuple[tuple[str, tuple[str, ...], dict[str, Any]], ...] = (
    ("config", ("--config", "-c"), {"metavar": "TEXT", "help": "Topology file (global)."}),
    (
        "output",
        ("--output", "-o"),
        {"type": click.Choice(["table", "json"]), "help": "table or json (global)."},
    ),
    (
        "endpoint_url",
        ("--endpoint-url",),
        {"metavar": "TEXT", "help": "Send every AWS call here (global)."},
    ),
    ("no_color", ("--no-color",), {"is_flag": True, "help": "No colors (global)."}),
    ("debug", ("--debug",), {"is_flag": True, "help": "Traceback and wire log (global)."}),
)


def _late_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the command: set it on the root's AppContext."""
    if value is None or value is False:
        return
    name = str(param.name).removeprefix("global_")
    app = ctx.find_object(AppContext)
    if app is None or ctx.resilient_parsing:
        # Shell completion parses without running the root: keep the value for the
        # completers (region names come from this --config).
        ctx.meta[f"mr_failover.{name}"] = value
        return
    before = app.given.get(name)
    if before is not None and before != value:
        raise UsageError(
            f"{param.opts[0]} given twice with different values: {before!r} before the "
            f"command, {value!r} after it; give it once"
        )
    app.given[name] = value
    if name == "endpoint_url":
        app.endpoint_url = check_endpoint_url(value, param.opts[0])
    elif name == "config":
        app.config = value
        app.config_given = True
        app._topology = app._factory = None
    elif name == "output":
        app.output = value
    elif name == "no_color":
        app.color = False
    elif name == "debug" and not app.debug:
        app.debug = True
        _wire_log()


def with_global_options(command: click.Command) -> click.Command:
    """``command`` (and, for a group, its subcommands) accepting the global options too.

    Option strings the command already uses for itself stay its own (``discover --output
    FILE``); the others of that global option still work there (``discover -o json``).
    """
    if getattr(command, "_mr_failover_globals", False):
        return command
    used = {opt for param in command.params for opt in param.opts}
    for name, opts, extra in GLOBAL_OPTIONS:
        free = [opt for opt in opts if opt not in used]
        if free:
            command.params.append(
                click.Option(
                    [f"global_{name}", *free],
                    expose_value=False,
                    callback=_late_global,
                    **extra,
                )
            )
    command._mr_failover_globals = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_global_options(sub)
    return command


def check_endpoint_url(value: str | None, option: str = "--endpoint-url") -> str | None:
    """``value`` if it is an http(s) URL with a host and a valid port, else a UsageError."""
    from ipaddress import IPv6Address
    from urllib.parse import urlsplit

    from mr_failover.text import printable

    if value is None:
        return None
    shown = printable(value, 80)
    why = ""
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError when not a number or outside 0-65535
        if parts.scheme not in ("http", "https"):
            why = "only http:// and https:// URLs are accepted"
        elif not parts.hostname:
            why = "it names no host"
        elif port is not None and not 1 <= port <= 65535:
            why = f"port {port} is not between 1 and 65535"
        elif parts.netloc.startswith("[") or "[" in parts.netloc:
            IPv6Address(parts.hostname)
        if not why and any(c.isspace() or not c.isprintable() for c in value):
            why = "it contains spaces or control characters"
    except ValueError as exc:
        why = printable(str(exc), 80)
    if why:
        raise UsageError(
            f"{option}: {shown or repr(value)} is not a usable endpoint URL ({why}); "
            "for example http://127.0.0.1:4566"
        )
    return value


# botocore's debug log shows headers: the session token and access key ids are masked.
_SECRETS = re.compile(
    r"((?:X-Amz-Security-Token|x-amz-security-token)['\"]?\s*[:=]\s*b?['\"]?)[^'\",\s}]+"
    r"|\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b"
)


class _MaskSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        record.msg = _SECRETS.sub(lambda m: (m.group(1) or "") + "***", text)
        record.args = ()
        return True


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (click's test runner swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


WIRE_LOGGERS = ("botocore", "urllib3", "mr_failover")


def _wire_log() -> None:
    """botocore's DEBUG log (each request and answer) on stderr, credentials masked."""
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    handler.addFilter(_MaskSecrets())
    for name in WIRE_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        if not any(isinstance(h, _Stderr) for h in logger.handlers):
            logger.addHandler(handler)


# Filled by main(): the process is the command's own and ends with it.
_ENTRY: list[bool] = []


def main() -> None:
    """The entry point: a bug ends in one line and exit 1, its traceback with --debug."""
    _ENTRY[:] = [True]
    ctx = click.Context(cli, info_name="mr-failover")
    try:
        cli(prog_name="mr-failover")
    except SystemExit as done:
        if _APP and _APP[0].fast_exit:
            _exit_now(done)
        raise
    except Exception as exc:  # a bug: nothing below click's handling caught it
        bug = RuntimeError(
            f"internal error: {type(exc).__name__}: {exc} (a bug; run again with --debug "
            "for the traceback and report it)"
        )
        bug.__context__ = exc
        ctx.obj = _APP[0] if _APP else None
        try:
            fail(ctx, bug, EXIT_FAILED, "internal")
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
    finally:
        _ENTRY.clear()  # called in-process (a test): later commands run in-process again


def _exit_now(done: SystemExit) -> None:
    """End the process with ``done``'s exit code, skipping the interpreter's teardown.

    A status run leaves botocore's parsed service models (about a million objects) in
    memory; freeing them one by one at exit took 0.1 s of a 0.8 s run
    (bench/bench_status_cold.py). Only a command that has nothing left to do asks for
    this (``AppContext.fast_exit``), after its output is written: the standard streams
    are flushed and logging is shut down here, as the normal exit would. The threads
    still running are daemons, which the normal exit does not wait for either. When a
    stream cannot be flushed (a closed pipe) or the code is not a number, this returns
    and the normal exit reports it as before.
    """
    code = 0 if done.code is None else done.code
    if not isinstance(code, int):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    logging.shutdown()
    os._exit(code)
