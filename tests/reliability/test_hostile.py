"""Hostile conditions against the sandbox (issue 14, items 6, 13, 14 and 15).

The CLI as an operator runs it, against a live endpoint: Ctrl-C at the confirmation
prompt, a corrupt journal given to ``--resume``, control characters in the topology, the
JSON outcomes that print no table (promote's "nothing to do", ``lock break`` of a free
lock), and the seeder given ids from another AWS. Each checks the exit code, that no
traceback is printed, and, from the sandbox's call log, what was (not) called.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover import topology as topo
from mr_failover.engine import journal
from mr_failover.errors import UsageError
from mr_failover.sandbox.client import SandboxClient
from tests.reliability.conftest import Mutations, core_example, seed_core

EAST, WEST = "us-east-1", "us-west-2"


def read_until(child: subprocess.Popen[str], text: str, timeout: float = 60.0) -> str:
    """What the child wrote to stderr up to ``text`` (a prompt has no newline)."""
    assert child.stderr is not None
    fd = child.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")[-500:]
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"ended before {text!r}: {seen.decode(errors='replace')[-500:]}"
            seen += chunk
    return seen.decode(errors="replace")


@pytest.mark.parametrize(("answer", "code"), [("sigint", 130), ("n\n", 1)])
def test_ctrl_c_at_the_prompt_exits_130_and_changes_nothing(
    e2e_env: dict[str, str],
    run_cli_subprocess: Any,
    mutations: Mutations,
    control: SandboxClient,
    answer: str,
    code: int,
) -> None:
    before = len(control.calls())
    child = subprocess.Popen(
        [run_cli_subprocess.exe, "drain", "--region", EAST],
        env=e2e_env,
        cwd=run_cli_subprocess.cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run_cli_subprocess.children.append(child)
    read_until(child, "Run these")
    assert child.stdin is not None
    if answer == "sigint":
        child.send_signal(signal.SIGINT)
    else:
        child.stdin.write(answer.encode())
        child.stdin.flush()
    _, rest = child.communicate(timeout=30)
    assert child.returncode == code, rest
    assert b"Traceback" not in rest
    assert (b"interrupted" if code == 130 else b"aborted") in rest
    assert mutations(before) == [], "nothing changed, not even the lock"
    assert journal.list_runs() == []


def test_resume_of_a_corrupt_journal_is_refused_and_calls_nothing(
    e2e_env: dict[str, str],
    run_cli_subprocess: Any,
    run_cli: Any,
    control: SandboxClient,
    mutations: Mutations,
) -> None:
    run_cli_subprocess.kill_after_step("drain", "--region", EAST, "--yes", step=1)
    (crashed,) = journal.list_runs()
    path = journal.runs_dir() / f"{crashed.run_id}.jsonl"
    lines = path.read_text().splitlines()
    lines.insert(2, "[1, 2, 3]")  # a line of the wrong shape, not a torn last line
    path.write_text("\n".join(lines) + "\n")
    before = len(control.calls())

    result = run_cli("drain", "--resume", crashed.run_id, "--yes")
    assert result.exit_code == 3, result.output
    assert f"{path}:3: a list, not a journal record" in result.stderr
    assert "Traceback" not in result.output
    assert len(control.calls()) == before, "refused before any AWS call"

    shown = run_cli("history")
    assert shown.exit_code == 0
    assert f"warning: skipped {path}:3" in shown.stderr
    assert crashed.run_id in shown.stdout  # the run is listed from its good lines
    assert mutations(before) == []


def test_json_outcomes_without_a_table_are_one_document_with_the_exit_code(
    e2e_env: dict[str, str], run_cli: Any, control: SandboxClient, mutations: Mutations
) -> None:
    before = len(control.calls())
    writer = run_cli("--output", "json", "promote", "--region", EAST, "--yes")
    assert writer.exit_code == 0, writer.output
    doc = json.loads(writer.stdout)
    assert doc["nothing_to_do"] is True and doc["exit_code"] == 0
    assert "already the writer" in doc["message"]

    free = run_cli("--output", "json", "lock", "break", "--reason", "drill", "--yes")
    assert free.exit_code == 0, free.output
    doc = json.loads(free.stdout)
    assert doc["broken"] is None and doc["lock"]["state"] == "free" and doc["exit_code"] == 0

    status = run_cli("--output", "json", "lock", "status")
    assert json.loads(status.stdout)["exit_code"] == 0

    refused = run_cli("--output", "json", "drain", "--region", "eu-west-9", "--yes")
    assert refused.exit_code == 2
    assert json.loads(refused.stdout)["error"]["exit_code"] == 2
    assert mutations(before) == []


def test_control_characters_in_the_topology_are_escaped_in_status(
    e2e_env: dict[str, str], e2e_topology_file: Path, run_cli: Any
) -> None:
    data = yaml.safe_load(e2e_topology_file.read_text())
    data["application"] = "arc309\nus-west-2  SERVING  yes  forged\x1b[2J"
    e2e_topology_file.write_text(yaml.safe_dump(data))
    result = run_cli("status")
    assert "Traceback" not in result.output
    assert "\x1b" not in result.output
    assert "arc309\\nus-west-2  SERVING  yes  forged\\x1b[2J" in result.stdout
    assert not any(
        "forged" in line and not line.startswith("arc309") for line in result.stdout.splitlines()
    )


def test_seeding_ids_from_another_aws_is_refused_before_anything_is_created(
    control: SandboxClient, tmp_path: Path
) -> None:
    control.reset()
    data = yaml.safe_load(core_example())
    east = data["regions"][EAST]["traffic"]
    east["health_checks"][0]["id"] = "0d7e1fa1-0000-4000-8000-00000000f0f0"
    east["records"][0]["hosted_zone_id"] = "Z0FROMANOTHERAWS"
    foreign = tmp_path / "foreign.yaml"
    foreign.write_text(yaml.safe_dump(data))
    before = len(control.calls())
    with pytest.raises(UsageError) as refused:
        seed_core_from(foreign, control.endpoint_url)
    text = str(refused.value)
    assert "0d7e1fa1-0000-4000-8000-00000000f0f0" in text and "Z0FROMANOTHERAWS" in text
    assert "nothing was seeded" in text
    created = [c for c in control.calls()[before:] if c["mutating"]]
    assert created == [], "no half-seeded sandbox"
    # The same file without the foreign ids seeds, and gets this sandbox's ids.
    seeded = seed_core(control.endpoint_url, tmp_path)
    ids = [hc.id for hc in seeded.regions[EAST].traffic.health_checks]
    assert ids and "0d7e1fa1-0000-4000-8000-00000000f0f0" not in ids


def seed_core_from(source: Path, endpoint_url: str) -> Any:
    from mr_failover.aws import ClientFactory, Timeouts
    from mr_failover.sandbox.seed import seed
    from tests.e2e.conftest import _dummy_credentials

    factory = ClientFactory(None, endpoint_url=endpoint_url, timeouts=Timeouts(max_attempts=1))
    with pytest.MonkeyPatch.context() as mp:
        _dummy_credentials(mp)
        return seed(topo.load(source), factory)
