"""Every command has --help with an example; the root --help imports no AWS code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mr_failover.cli import COMMANDS, SUMMARIES, cli


def test_every_command_has_a_summary() -> None:
    assert set(COMMANDS) == set(SUMMARIES)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_of_every_command_shows_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert "mr-failover" in result.output


def test_root_help_imports_neither_boto3_nor_the_core() -> None:
    code = (
        "import sys\n"
        "from mr_failover.cli import main\n"
        "sys.argv = ['mr-failover', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'rich', 'yaml',"
        " 'pydantic') or m in ('mr_failover.topology', 'mr_failover.aws')]\n"
        "print('LOADED:' + ','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "LOADED:"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_readme_shows_every_command_with_an_example(name: str) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"mr-failover {name}" in readme, f"README.md has no example of `mr-failover {name}`"
