"""Shell completion of values: region names from the topology, run ids from the journals.

Completers run in the shell's completion call, so they stay cheap and quiet: a topology
that cannot be read, or no state directory, completes nothing rather than failing.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from mr_failover.cli import DEFAULT_CONFIG

# Most recent first; a completion menu of every run ever made helps nobody.
MAX_RUN_IDS = 50


def _config_path(ctx: click.Context) -> Path:
    """The --config of the command line being completed (after or before the command)."""
    after = ctx.meta.get("mr_failover.config")
    if after:
        return Path(after)
    before = ctx.find_root().params.get("config")
    return Path(before or os.environ.get("MR_FAILOVER_CONFIG") or DEFAULT_CONFIG)


def topology_regions(path: Path) -> list[str]:
    """The region names the topology file declares (no validation: completion only)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return []
    regions = data.get("regions") if isinstance(data, dict) else None
    return [str(name) for name in regions] if isinstance(regions, dict) else []


def complete_region(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [r for r in topology_regions(_config_path(ctx)) if r.startswith(incomplete)]


def run_ids() -> list[str]:
    """Run ids of the journals in the state directory, newest first."""
    from mr_failover.engine.journal import RUN_ID
    from mr_failover.statedir import state_dir

    try:
        names = [p.stem for p in (state_dir() / "runs").glob("*.jsonl")]
    except OSError:
        return []
    return sorted((n for n in names if RUN_ID.match(n)), reverse=True)[:MAX_RUN_IDS]


def complete_run_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(r) for r in run_ids() if r.startswith(incomplete)]
