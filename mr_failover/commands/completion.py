"""``mr-failover completion SHELL``: print click's completion script for the shell."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
# The environment variable the script sets when it asks mr-failover for completions.
COMPLETE_VAR = "_MR_FAILOVER_COMPLETE"


def completion_script(shell: str) -> str:
    from click.shell_completion import get_completion_class

    from mr_failover.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None, shell  # SHELLS are click's own
    return cls(cli, {}, "mr-failover", COMPLETE_VAR).source()


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script: commands, options, the topology's region
    names (--region) and run ids (--resume).

    The region names come from the --config on the line being completed (else
    config/regions.yaml or MR_FAILOVER_CONFIG); run ids from the journals in the state
    directory. Load it in the shell's start-up file.

    \b
    Example:
      eval "$(mr-failover completion bash)"     # in ~/.bashrc
      eval "$(mr-failover completion zsh)"      # in ~/.zshrc, after compinit
      mr-failover completion fish > ~/.config/fish/completions/mr-failover.fish
    """
    click.echo(completion_script(shell), nl=False)
