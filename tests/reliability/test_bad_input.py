"""Malformed topology files through the CLI: exit 2, a located message, no AWS call.

tests/unit/test_topology_property.py proves the loader (every mutant loads or raises
ConfigError with file:line:column). This goes one level up, through the CLI as an
operator runs it against a live endpoint (the sandbox): for mutants that do *not* load
(hypothesis: wrong types, unknown keys, deleted keys, truncated text, junk bytes, plus
alias bombs, huge values and binary data), ``status`` and a mutation (``drain``) must
exit 2, print one located ``Error:`` per problem on stderr (never a traceback), and make
no AWS call at all: the sandbox's call log must not grow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings

from mr_failover import topology
from mr_failover.errors import ConfigError
from mr_failover.sandbox.client import SandboxClient
from tests.unit.test_topology_property import FILE_LEVEL, structural_mutants, text_mutants

COMMANDS = (("status",), ("drain", "--region", "us-east-1", "--yes"))
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
Check = Callable[[bytes], None]


def alias_bomb(levels: int = 12) -> bytes:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    return ("\n".join(lines) + "\napplication: *a11\n").encode()


SPECIAL = {
    "alias bomb": alias_bomb(),
    "huge value": topology.shipped_example().replace("arc309", "x" * 3_000_000, 1).encode(),
    "binary": bytes(range(256)) * 8,
    "empty": b"",
    "not a mapping": b"- just\n- a list\n",
    "unknown top key": topology.shipped_example().encode() + b"\nsurprise: 1\n",
    "truncated": topology.shipped_example().encode()[:200],
    "nul bytes": topology.shipped_example().encode().replace(b"regions:", b"regi\x00ns:"),
}


@pytest.fixture
def check_cli(
    e2e_env: dict[str, str], control: SandboxClient, run_cli: Any, tmp_path: Path
) -> Check:
    mutant = tmp_path / "mutant.yaml"

    def check(content: bytes) -> None:
        mutant.write_bytes(content)
        for command in COMMANDS:
            before = len(control.calls())
            result = run_cli("--config", str(mutant), *command)
            assert result.exit_code == 2, (command, result.output[-500:])
            assert "Traceback" not in result.output
            assert len(control.calls()) == before, f"{command}: an AWS call was made"
            located(mutant, result.stderr)

    return check


def located(file: Path, stderr: str) -> None:
    """Each problem line names the file and a line:column, or is a file-level form."""
    name = re.escape(str(file))
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "no message"
    assert str(file) in lines[0], lines[0]
    for line in lines:
        line = line.removeprefix("Error: ").strip()
        if re.match(rf"^{name}: \d+ problems?$", line):
            continue
        positioned = re.match(rf"^(- )?{name}:\d+:\d+: \S", line)
        file_level = line.startswith(f"{file}: ") and line.removeprefix(f"{file}: ").startswith(
            FILE_LEVEL
        )
        assert positioned or file_level, line


def does_not_load(tmp_path: Path, content: bytes) -> bool:
    probe = tmp_path / "probe.yaml"
    probe.write_bytes(content)
    try:
        topology.load(probe)
    except ConfigError:
        return True
    return False


def test_hand_made_bad_files_exit_2_without_calling_aws(check_cli: Check) -> None:
    # One test for all (not parametrized): each test pays for a seeded sandbox.
    for name, content in SPECIAL.items():
        try:
            check_cli(content)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


@SETTINGS
@given(content=structural_mutants())
def test_structural_mutants_exit_2_through_the_cli(
    check_cli: Check, tmp_path: Path, content: str
) -> None:
    raw = content.encode()
    assume(does_not_load(tmp_path, raw))
    check_cli(raw)


@SETTINGS
@given(content=text_mutants())
def test_text_mutants_exit_2_through_the_cli(
    check_cli: Check, tmp_path: Path, content: bytes
) -> None:
    assume(does_not_load(tmp_path, content))
    check_cli(content)
