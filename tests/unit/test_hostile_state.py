"""Corrupt, planted and unsafe state files (issue 14, items 6, 7 and 15's run id).

A journal line of the wrong shape is reported with its file and line and skipped by
``history``, and refuses ``--resume`` (exit 3), never a traceback; hypothesis corrupts
journals many ways. Only regular files are opened (a FIFO among the journals, as the
topology or as a scenario file is refused at once: those tests run the installed entry
point with a timeout, so a regression fails instead of hanging). State folders are 0700,
must belong to the user and must not be writable by others; journals that are not the
user's are not trusted. No test here makes an AWS call.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mr_failover import statedir
from mr_failover.cli import cli
from mr_failover.engine import journal
from mr_failover.engine.journal import Journal, JournalError, Who
from mr_failover.errors import MrFailoverError, UsageError
from tests.clocks import FakeClock

NEW_YEAR = 1_767_225_600.0
WHO = Who("arn:aws:iam::123456789012:user/alice", "alice", "laptop")
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
ENTRY = str(Path(sys.executable).parent / "mr-failover")


@pytest.fixture(autouse=True)
def state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path / "state"


def make_run(t: float = NEW_YEAR, outcome: str | None = "succeeded") -> Path:
    clock = FakeClock(t)
    run_id = journal.new_run_id(clock)
    jr = Journal.create(
        run_id, command="drain", params={"region": "us-east-1"}, who=WHO, plan=None, clock=clock
    )
    jr.note("lock", table="t", region="us-east-1", not_answering={})
    if outcome:
        jr.end(outcome, 1.5)
    jr.close()
    return jr.path


def drain_offline(*args: str) -> Result:
    """``drain ARGS --yes`` against an endpoint nobody listens on: an AWS call would end
    in the account guard's refusal ("could not be verified"), not in the error expected."""
    return CliRunner().invoke(
        cli,
        ["--config", str(EXAMPLE), "--endpoint-url", "http://127.0.0.1:9", "drain", *args, "--yes"],
    )


def history(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "history"])


# (name, how line 1 (the 'run' record) or a whole line becomes bad)
def _head(**changes: Any) -> Callable[[list[str]], tuple[list[str], int]]:
    def corrupt(lines: list[str]) -> tuple[list[str], int]:
        head = json.loads(lines[0])
        for key, value in changes.items():
            if value is _DROP:
                head.pop(key)
            else:
                head[key] = value
        return [json.dumps(head), *lines[1:]], 1

    return corrupt


def _line(text: str, at: int = 2) -> Callable[[list[str]], tuple[list[str], int]]:
    def corrupt(lines: list[str]) -> tuple[list[str], int]:
        return [*lines[: at - 1], text, *lines[at - 1 :]], at

    return corrupt


def _end(**changes: Any) -> Callable[[list[str]], tuple[list[str], int]]:
    def corrupt(lines: list[str]) -> tuple[list[str], int]:
        end = json.loads(lines[-1])
        end.update(changes)
        return [*lines[:-1], json.dumps(end)], len(lines)

    return corrupt


_DROP = object()
CORRUPTIONS: dict[str, Callable[[list[str]], tuple[list[str], int]]] = {
    "a list": _line("[1, 2, 3]"),
    "null": _line("null"),
    "a number": _line("42"),
    "a string": _line('"run"'),
    "true": _line("true"),
    "an empty line": _line(""),
    "not JSON": _line("{not json"),
    "NaN": _line('{"type": "note", "t": NaN}'),
    "deep nesting": _line("[" * 100_000 + "]" * 100_000),
    "invalid UTF-8": _line("\udcff"),  # written with surrogateescape: a lone 0xff byte
    "type null": _line('{"type": null}'),
    "type a number": _line('{"type": 5}'),
    "no type": _line("{}"),
    "t null": _head(t=None),
    "t huge": _head(t=1e300),
    "t too far": _head(t=10**400),
    "t negative": _head(t=-1),
    "t a string": _head(t="2026-01-01"),
    "t missing": _head(t=_DROP),
    "run_id a number": _head(run_id=7),
    "run_id another run": _head(run_id="20260101T000000Z-abcdef"),
    "command null": _head(command=None),
    "command a list": _head(command=["drain"]),
    "params a list": _head(params=[1]),
    "who a string": _head(who="alice"),
    "who.os_user a number": _head(who={"os_user": 5}),
    "plan a list": _head(plan=[1]),
    "plan.params a string": _head(plan={"params": "x"}),
    "outcome step null": _line('{"type": "outcome", "step": null, "status": "applied"}'),
    "outcome status a list": _line('{"type": "outcome", "step": "s", "status": []}'),
    "end outcome null": _end(outcome=None),
    "end seconds text": _end(seconds="x"),
    "end seconds infinite": _end(seconds=1e400),
    "end detail a number": _end(detail=3),
}


def corrupt(path: Path, how: Callable[[list[str]], tuple[list[str], int]]) -> int:
    lines = path.read_text().splitlines()
    new, bad = how(lines)
    path.write_bytes(("\n".join(new) + "\n").encode("utf-8", "surrogateescape"))
    return bad


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_bad_journal_line_is_reported_with_file_and_line_and_skipped(case: str) -> None:
    good = make_run(NEW_YEAR)
    bad = make_run(NEW_YEAR + 60)
    line = corrupt(bad, CORRUPTIONS[case])

    table = history()
    assert table.exit_code == 0, table.output
    assert "Traceback" not in table.output
    assert f"{bad}:{line}" in table.stderr or f"{bad}:" in table.stderr, table.stderr
    assert good.stem in table.stdout  # the other runs are still listed

    doc = json.loads(history("--output", "json").stdout)
    assert good.stem in [r["run_id"] for r in doc["runs"]]
    assert doc["skipped"] and all(p["file"] == str(bad) for p in doc["skipped"])
    assert doc["exit_code"] == 0

    # --resume decides from the journal what not to repeat: a bad line refuses it.
    with pytest.raises(JournalError) as refused:
        journal.read_run(bad.stem)
    assert refused.value.exit_code == 3
    assert str(bad) in str(refused.value) and "not resumed" in str(refused.value)


def test_a_torn_last_line_is_expected_after_a_crash() -> None:
    path = make_run(outcome=None)
    with path.open("a") as f:
        f.write('{"type": "outcome", "step": "s", "sta')  # killed mid-write
    run = journal.read_run(path.stem)
    assert run.outcome == "incomplete"
    assert history().stderr == ""


def test_resume_of_a_corrupt_journal_is_refused_before_any_aws_call() -> None:
    path = make_run(outcome="failed")
    corrupt(path, CORRUPTIONS["t null"])
    result = drain_offline("--resume", path.stem)
    assert result.exit_code == 3, result.output
    (line,) = result.stderr.strip().splitlines()
    assert f"{path}:1: 't' is null" in line
    assert "Traceback" not in result.output


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["type", "t", "run_id", "command", "params", "who", "plan", "step", "status", "outcome"]
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    line=st.integers(min_value=0, max_value=3),
    key=KEYS,
    value=JSON,
    junk=st.one_of(JSON.map(json.dumps), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))),
    replace_whole_line=st.booleans(),
)
def test_fuzzed_journals_never_give_a_traceback(
    state: Path, line: int, key: str, value: Any, junk: str, replace_whole_line: bool
) -> None:
    for old in (state / "runs").glob("*") if (state / "runs").exists() else ():
        old.unlink()
    path = make_run()
    lines = path.read_text().splitlines()
    line = min(line, len(lines) - 1)
    if replace_whole_line:
        lines[line] = junk.replace("\n", " ")
    else:
        rec = json.loads(lines[line])
        rec[key] = value
        lines[line] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n", errors="surrogateescape")

    runs, problems = journal.scan_runs()
    assert len(runs) + bool(problems) >= 1  # listed, or reported (or both)
    for problem in problems:
        assert str(problem).startswith(str(path))
    try:
        journal.read_run(path.stem)
    except MrFailoverError as exc:
        assert exc.exit_code in (2, 3)
    result = history()
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def run_entry(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The installed entry point: a hang fails the test at ``timeout`` instead of hanging."""
    return subprocess.run(
        [ENTRY, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )


def test_a_fifo_among_the_journals_does_not_hang_history(state: Path) -> None:
    make_run()
    os.mkfifo(state / "runs" / "20260101T000000Z-ffffff.jsonl")
    result = run_entry("history")
    assert result.returncode == 0, result.stderr
    assert "a FIFO (named pipe), not a journal file" in result.stderr
    assert "drain --region us-east-1" in result.stdout


def test_a_fifo_as_topology_or_scenario_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    as_config = run_entry("--config", str(fifo), "status")
    assert as_config.returncode == 2
    assert as_config.stderr == f"Error: {fifo}: is a FIFO (named pipe), not a topology file\n"
    as_scenario = run_entry("--config", str(EXAMPLE), "drill", str(fifo), "--dry-run")
    assert as_scenario.returncode == 2
    assert as_scenario.stderr == (f"Error: {fifo}: is a FIFO (named pipe), not a drill scenario\n")


def test_state_folders_are_created_0700_and_journals_0600(state: Path) -> None:
    path = make_run()
    for folder in (state, state / "runs"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o720])
@pytest.mark.parametrize("which", ["top", "runs"])
def test_a_state_folder_others_may_write_is_refused_like_ssh(
    state: Path, mode: int, which: str
) -> None:
    make_run()
    folder = state if which == "top" else state / "runs"
    folder.chmod(mode)
    result = history()
    assert result.exit_code == 3, result.output
    (line,) = result.stderr.strip().splitlines()
    assert str(folder) in line and f"chmod 700 {folder}" in line
    with pytest.raises(statedir.UnsafeStateError):
        journal.read_run("20260101T000000Z-aaaaaa")


def test_a_state_folder_of_another_user_is_refused(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_run()
    monkeypatch.setattr(statedir, "my_uid", lambda: os.getuid() + 4242)
    result = history()
    assert result.exit_code == 3
    assert "not to you" in result.stderr and str(state) in result.stderr


def test_a_journal_of_another_user_is_not_trusted(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted "succeeded drain" must not drive an undrain's scale-back."""
    planted = make_run()
    monkeypatch.setattr(statedir, "my_uid", lambda: os.getuid() + 4242)
    monkeypatch.setattr(statedir, "check_private", lambda path: None)  # the file's check only
    runs, problems = journal.scan_runs()
    assert runs == []
    (problem,) = problems
    assert problem.path == planted and "not trusted" in problem.problem
    with pytest.raises(JournalError, match="not trusted"):
        journal.read_run(planted.stem)
    from mr_failover.operations.drain import last_dial

    assert last_dial("us-east-1") is None


def test_an_unwritable_state_folder_stops_a_run_before_any_aws_call(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any) -> int:
        if ".write-test." in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(statedir.os, "open", read_only)
    result = drain_offline("--region", "us-east-1")
    assert result.exit_code == 3, result.output
    (line,) = result.stderr.strip().splitlines()
    assert f"cannot write in the state folder {state / 'runs'}" in line
    assert "nothing was started" in line


@pytest.mark.parametrize(
    "run_id",
    ["20260101T000000Z-abcdef\n", "20260101T000000Z-abcdef\r", " 20260101T000000Z-abcdef"],
)
def test_a_run_id_with_a_trailing_newline_is_not_a_run_id(run_id: str) -> None:
    with pytest.raises(UsageError, match="is not a run id"):
        journal.read_run(run_id)


def test_a_huge_run_id_is_not_echoed_whole() -> None:
    with pytest.raises(UsageError) as err:
        journal.read_run("x" * 100_000)
    assert len(str(err.value)) < 200


def test_reports_and_caches_are_written_and_read_only_as_regular_files(
    state: Path, tmp_path: Path
) -> None:
    runs = journal.runs_dir()
    fifo = runs / "20260101T000000Z-ffffff.report.md"
    os.mkfifo(fifo)
    with pytest.raises(statedir.UnsafeStateError, match="FIFO"):
        statedir.create_private(fifo)  # returns at once: no reader is waited for
    link = runs / "20260101T000000Z-eeeeee.report.md"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(statedir.UnsafeStateError):
        statedir.create_private(link)
    assert not (tmp_path / "elsewhere").exists()
    old = runs / "20260101T000000Z-dddddd.report.md"
    old.write_text("x" * 100)
    old.chmod(0o644)
    with os.fdopen(statedir.create_private(old), "w") as out:
        out.write("new")
    assert old.read_text() == "new" and stat.S_IMODE(old.stat().st_mode) == 0o600

    from mr_failover.resources import arc

    arn = "arn:aws:route53-recovery-control::123456789012:cluster/abc"
    arc._write_cache(arn, endpoints=[])
    assert stat.S_IMODE((state / "arc").stat().st_mode) == 0o700
    cached = arc.cache_path(arn)
    cached.unlink()
    os.mkfifo(cached)
    assert arc._read_cache(arn) == {}  # a FIFO is not read (and does not hang)
