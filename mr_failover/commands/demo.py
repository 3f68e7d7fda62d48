"""``mr-failover demo``: the sandbox, status, an outage of the primary, status again."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.errors import UsageError


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the seeded topology (default: a temporary folder).",
)
@pass_app
def demo(app: AppContext, workdir: Path | None) -> None:
    """Run the whole story on this machine, no AWS account needed.

    Starts the embedded sandbox, creates the topology's resources in it, shows
    status, simulates an outage of the primary region, and shows status again.

    \b
    Example:
      mr-failover demo
      mr-failover --config my-regions.yaml demo
    """
    try:
        from mr_failover.sandbox.demo import run_demo
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"the demo needs the sandbox extra ({exc.name} is missing): "
            "pip install 'mr-failover[sandbox]'"
        ) from None
    from mr_failover.render import status_table

    console = app.console()
    folder = workdir or Path(tempfile.mkdtemp(prefix="mr-failover-demo-"))
    result = run_demo(app.config, folder, lambda line: console.print(f"[bold]>[/] {line}"))
    console.print(status_table(result.before))
    console.print(
        f"[bold]>[/] {result.failed_region} outage seen by status after "
        f"{result.detected_after_seconds:.1f} s"
    )
    console.print(status_table(result.after))
