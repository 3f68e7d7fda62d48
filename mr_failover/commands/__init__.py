"""The CLI's commands, one module each (loaded lazily by mr_failover.cli), and the
options several read-only commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# The same as status.DEFAULT_DEADLINE; not imported from there, so that loading a
# command does not load the status engine.
DEFAULT_DEADLINE = 8.0


def deadline_option(help: str) -> Callable[[F], F]:
    """``--deadline SECONDS``: how long a read-only command waits for AWS."""
    return click.option(
        "--deadline",
        type=click.FloatRange(min=0.1),
        default=DEFAULT_DEADLINE,
        show_default=True,
        help=help,
    )
