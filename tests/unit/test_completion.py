"""``mr-failover completion SHELL``: the scripts, and bash completing with them.

The bash test loads the generated script in a real bash, sets COMP_WORDS / COMP_CWORD as
readline would, calls the generated function and reads COMPREPLY: the whole path a user's
<TAB> takes (the script runs ``mr-failover`` with click's ``_MR_FAILOVER_COMPLETE``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mr_failover.cli import cli
from mr_failover.commands.completion import completion_script

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "mr_failover" / "data" / "regions.yaml"


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """PATH with an ``mr-failover`` that runs this checkout; a private state dir."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mr-failover"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mr_failover "$@"\n')
    shim.chmod(0o755)
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k != "MR_FAILOVER_CONFIG"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["MR_FAILOVER_STATE_DIR"] = str(state)
    env["PYTHONPATH"] = str(REPO)
    return env


def _bash_complete(line: str, env: dict[str, str], cwd: Path) -> list[str]:
    """What bash offers for <TAB> at the end of ``line``."""
    words = line.split(" ")
    script = completion_script("bash")
    program = (
        script
        + "\nCOMP_WORDS=("
        + " ".join(f"'{w}'" for w in words)
        + f")\nCOMP_CWORD={len(words) - 1}\n"
        + "_mr_failover_completion mr-failover\n"
        + 'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_bash_completes_commands_options_regions_and_run_ids(
    shell_env: dict[str, str], tmp_path: Path
) -> None:
    topology = tmp_path / "regions.yaml"
    topology.write_text(EXAMPLE.read_text())
    runs = tmp_path / "state" / "runs"
    runs.mkdir(parents=True)
    for name in ("20260101T120000Z-a1b2c3", "20260102T080000Z-0f0f0f", "not-a-run"):
        (runs / f"{name}.jsonl").write_text("")

    assert _bash_complete("mr-failover dr", shell_env, tmp_path) == ["drain", "drill"]
    assert "completion" in _bash_complete("mr-failover ", shell_env, tmp_path)
    options = _bash_complete("mr-failover status --", shell_env, tmp_path)
    assert {"--region", "--watch", "--output", "--config", "--debug"} <= set(options)
    # Region names from the --config on the line, before or after the command.
    assert _bash_complete(f"mr-failover drain -c {topology} --region us-", shell_env, tmp_path) == [
        "us-east-1",
        "us-west-2",
    ]
    assert _bash_complete(
        f"mr-failover --config {topology} health-check invert -r us-w", shell_env, tmp_path
    ) == ["us-west-2"]
    # Without --config: ./config/regions.yaml, as the commands read it.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "regions.yaml").write_text(EXAMPLE.read_text())
    assert _bash_complete("mr-failover status --region ", shell_env, tmp_path) == [
        "us-east-1",
        "us-west-2",
    ]
    assert _bash_complete("mr-failover sandbox fail-region us-e", shell_env, tmp_path) == [
        "us-east-1"
    ]
    # Run ids from the state directory's journals, newest first.
    assert _bash_complete("mr-failover drain --resume 2026", shell_env, tmp_path) == [
        "20260102T080000Z-0f0f0f",
        "20260101T120000Z-a1b2c3",
    ]


def test_a_topology_that_cannot_be_read_completes_no_region(
    shell_env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("regions: [unclosed\n")
    assert _bash_complete(f"mr-failover promote -c {bad} --region ", shell_env, tmp_path) == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_each_shells_script(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert "_MR_FAILOVER_COMPLETE" in result.output
    assert f"{shell}_complete" in result.output
    assert result.output.endswith("\n")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_parse_their_script_where_installed(shell: str, tmp_path: Path) -> None:
    program = shutil.which(shell)
    script = tmp_path / f"script.{shell}"
    script.write_text(completion_script(shell))
    if program is None:
        # Not installed here: the script is still the one click generates for the shell.
        assert completion_script(shell).count("_mr_failover_completion") >= 2
        return
    flag = ["-n"] if shell == "zsh" else ["--no-execute"]
    done = subprocess.run([program, *flag, str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_fish_completes_with_its_script_where_installed(
    shell_env: dict[str, str], tmp_path: Path
) -> None:
    fish = shutil.which("fish")
    script = tmp_path / "mr-failover.fish"
    script.write_text(completion_script("fish"))
    if fish is None:
        # Not installed here: the script asks mr-failover with click's fish protocol.
        assert "_MR_FAILOVER_COMPLETE=fish_complete" in script.read_text()
        return
    topology = tmp_path / "regions.yaml"
    topology.write_text(EXAMPLE.read_text())
    line = f"mr-failover promote -c {topology} --region us-"
    done = subprocess.run(
        [fish, "--no-config", "-c", f"source {script}; complete -C '{line}'"],
        env=shell_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [w.split("\t")[0] for w in done.stdout.splitlines()] == ["us-east-1", "us-west-2"]


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["completion", "powershell"])
    assert result.exit_code == 2
    assert "'powershell' is not one of 'bash', 'zsh', 'fish'" in result.output
