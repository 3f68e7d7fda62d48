"""The CLI's commands, one module each (loaded lazily by mr_failover.cli), and the
options and argument checks several commands share."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from mr_failover.cli import AppContext

F = TypeVar("F", bound=Callable[..., Any])

# The same as status.DEFAULT_DEADLINE; not imported from there, so that loading a
# command does not load the status engine.
DEFAULT_DEADLINE = 8.0
MAX_DEADLINE = 3600.0


class Seconds(click.ParamType):  # type: ignore[type-arg]
    """A finite number of seconds within [low, high]: nan, inf and 1e308 are usage errors."""

    name = "seconds"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float) and math.isfinite(value) and self.low <= value <= self.high:
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{str(value)[:40]!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(
                f"{str(value)[:40]} is not between {self.low:g} and {self.high:g} seconds",
                param,
                ctx,
            )
        return number


def deadline_option(help: str) -> Callable[[F], F]:
    """``--deadline SECONDS``: how long a read-only command waits for AWS."""
    return click.option(
        "--deadline",
        type=Seconds(0.1, MAX_DEADLINE),
        default=DEFAULT_DEADLINE,
        show_default=True,
        help=help,
    )


def check_region(app: AppContext, region: str | None) -> None:
    """Refuse a ``--region`` the topology does not declare, before any AWS call (exit 2)."""
    import difflib

    from mr_failover.errors import UsageError
    from mr_failover.text import printable

    if region is None:
        return
    declared = list(app.topology().regions)
    if region in declared:
        return
    close = difflib.get_close_matches(region, declared, n=1) if region.isascii() else []
    hint = f" (did you mean {close[0]}?)" if close else ""
    if not region.isascii():
        hint = " (it has non-ASCII characters)"
    raise UsageError(
        f"unknown region '{printable(region, 60)}'{hint}; the topology declares "
        f"{', '.join(declared)}"
    )


def preflight(app: AppContext, region: str | None, *, dry_run: bool) -> None:
    """What a mutating command checks before any AWS call and before the lock.

    The ``--region`` must be declared (exit 2), and, unless this is a dry run, the run
    journal's folder must be private and writable (exit 3): a run that could not be
    journaled must not start.
    """
    check_region(app, region)
    if not dry_run:
        from mr_failover.engine import journal

        journal.check_writable()
