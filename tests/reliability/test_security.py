"""Secrets never leak, state files are private, a wrong account changes nothing.

The CLI runs with distinctive fake credentials (an access key id, a secret and a
session token that appear nowhere else), through a successful drain, a failing run (a
region down), ``status``, ``history``, ``lock status`` and ``--output json``. None of the
three values may appear, even in part, in stdout, stderr, or any file the tool wrote
under its state directory (journals, reports). Journals are 0600 in a 0700 directory.
With a topology whose ``account_id`` is not the caller's, promote and drain are refused
(exit 3) before the sandbox serves a single mutating call (the lock's included).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover.sandbox.client import SandboxClient
from tests.e2e.conftest import SandboxAdvancingClock
from tests.reliability.conftest import Mutations

EAST, WEST = "us-east-1", "us-west-2"
KEY_ID = "AKIAH13LEAKCANARY0X7"
SECRET = "h13+Secret/canary+NeverPrintThis0123456789"
TOKEN = "FwoGZXIvYXdzEH13SessionTokenCanary//////////NeverLogThisTokenH13"
# Fragments a partial leak would still show (masking that keeps a prefix, say).
FRAGMENTS = (KEY_ID, KEY_ID[4:], SECRET, SECRET[:16], SECRET[-16:], TOKEN, TOKEN[:20], TOKEN[-20:])


@pytest.fixture
def canary_env(e2e_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    canaries = {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
    }
    for name, value in canaries.items():
        monkeypatch.setenv(name, value)
    e2e_env.update(canaries)
    return e2e_env


def leaks(text: str) -> list[str]:
    return [f for f in FRAGMENTS if f in text]


def test_no_credential_in_output_journals_or_reports(
    canary_env: dict[str, str],
    control: SandboxClient,
    clock: SandboxAdvancingClock,
    run_cli: Any,
    run_cli_subprocess: Any,
) -> None:
    outputs = []
    for args in (
        ("drain", "--region", EAST, "--yes"),
        ("--output", "json", "status"),
        ("history",),
        ("--output", "json", "history"),
        ("lock", "status"),
        ("--output", "json", "undrain", "--region", EAST, "--yes"),
    ):
        result = run_cli(*args)
        outputs.append((args, result.exit_code, result.output))
    assert outputs[0][1] == 0, outputs[0][2]
    # Failing runs: errors carry the most context (request details, endpoint URLs).
    control.fail_region(WEST)
    failed = run_cli_subprocess("promote", "--region", WEST, "--yes", "--allow-data-loss")
    down = run_cli_subprocess("--output", "json", "status", "--deadline", "2")
    control.heal_region(WEST)
    assert failed.returncode != 0 and down.returncode == 4
    outputs += [("promote", failed.returncode, failed.stdout + failed.stderr)]
    outputs += [("status", down.returncode, down.stdout + down.stderr)]
    for args, _, text in outputs:
        assert not leaks(text), (args, leaks(text))

    state = Path(canary_env["MR_FAILOVER_STATE_DIR"])
    written = [p for p in state.rglob("*") if p.is_file()]
    assert len([p for p in written if p.suffix == ".jsonl"]) >= 2  # drain, undrain
    for path in written:
        assert not leaks(path.read_text(errors="replace")), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
    for directory in [state, *(p for p in state.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0, directory


@pytest.mark.parametrize(
    "command",
    [("promote", "--region", WEST, "--yes"), ("drain", "--region", EAST, "--yes")],
)
def test_a_wrong_account_is_refused_before_any_mutating_call(
    command: tuple[str, ...],
    e2e_env: dict[str, str],
    control: SandboxClient,
    run_cli: Any,
    mutations: Mutations,
    tmp_path: Path,
) -> None:
    control.advance(1.1)
    data = yaml.safe_load(Path(e2e_env["MR_FAILOVER_CONFIG"]).read_text())
    data["account_id"] = "999999999999"
    other = tmp_path / "other-account.yaml"
    other.write_text(yaml.safe_dump(data, sort_keys=False))
    before = len(control.calls())
    result = run_cli("--config", str(other), *command)
    assert result.exit_code == 3, result.output
    assert "999999999999" in result.stderr and "123456789012" in result.stderr
    assert mutations(before) == []
    # And the guard is the first call: nothing else was read either.
    assert [c["action"] for c in control.calls()[before:]] == ["GetCallerIdentity"]
