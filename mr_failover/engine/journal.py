"""The write-ahead run journal: one JSON-lines file per run, resume and history.

Every mutating run gets an id and a file ``<state dir>/runs/<run id>.jsonl`` (the user's
platformdirs state directory; ``MR_FAILOVER_STATE_DIR`` overrides it), created with mode
0600. Records, each flushed and fsynced before the next action: ``run`` (command,
params, who ran it, the plan), ``intent`` before a step, ``outcome`` after it,
``resume`` when a later attempt continues the run, ``wait`` when a wait starts (with
the wall time of the change it waits after, so a resume waits only the rest), ``note``
(a lock break's reason), ``end``. Credentials never belong here: keys that name secrets
are redacted and access-key-shaped strings are masked before a line is written.

Reading is tolerant but never trusting (:func:`scan_runs`, :func:`read_run`): only
regular files owned by the user are read (:mod:`mr_failover.statedir` refuses a state
folder others may write to), and each line must be a record of the expected shape. A bad
line is a :class:`JournalProblem` naming the file and the line: ``history`` reports it
and skips it, ``--resume`` refuses the run (exit 3), since a resume decides from the
journal which steps not to repeat. A torn last line (a crash mid-write) is expected and
left out silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import math
import os
import re
import secrets
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mr_failover import statedir
from mr_failover.engine.plan import Clock, Plan, Step, StepOutcome, SystemClock
from mr_failover.errors import RefusedError, UsageError
from mr_failover.statedir import ENV_STATE_DIR, state_dir

if TYPE_CHECKING:
    from mr_failover.engine.shared import SharedJournal

__all__ = ["ENV_STATE_DIR", "state_dir"]

# \Z, not $: "$" also matches before a trailing newline.
RUN_ID = re.compile(r"\A\d{8}T\d{6}Z-[0-9a-f]{6}\Z")
_SECRET_KEY = re.compile(r"secret|token|password|credential|session|private", re.I)
_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
REDACTED = "***redacted***"


def runs_dir() -> Path:
    """``<state dir>/runs``, created 0700 (each level); refused if others may write in it."""
    return statedir.private_dir("runs")


def check_writable() -> Path:
    """The runs folder, if a journal can be created in it; else UnsafeStateError (exit 3).

    Mutating commands call this before any AWS call and before the lock: a run that
    cannot be journaled must not start.
    """
    path = runs_dir()
    statedir.check_writable(path)
    return path


def new_run_id(clock: Clock) -> str:
    stamp = datetime.fromtimestamp(clock.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Who:
    """Who ran it: the AWS caller and the person at the keyboard."""

    caller_arn: str
    os_user: str
    host: str

    @classmethod
    def current(cls, caller_arn: str) -> Who:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry in some containers
            user = str(os.getuid())
        return cls(caller_arn=caller_arn, os_user=user, host=socket.gethostname())

    def to_json(self) -> dict[str, str]:
        return {"caller_arn": self.caller_arn, "os_user": self.os_user, "host": self.host}


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-named keys and access-key-shaped strings masked."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _ACCESS_KEY.sub(REDACTED, value)
    return value


def _path(run_id: str) -> Path:
    if not RUN_ID.match(run_id):
        shown = repr(run_id) if len(run_id) <= 60 else f"{run_id[:40]!r}... ({len(run_id)} chars)"
        raise UsageError(f"{shown} is not a run id (like 20260101T120000Z-a1b2c3; see history)")
    return runs_dir() / f"{run_id}.jsonl"


class Journal:
    """An open run journal (a :class:`~mr_failover.engine.plan.Recorder`)."""

    def __init__(
        self, run_id: str, path: Path, fd: int, clock: Clock, shared: SharedJournal | None = None
    ) -> None:
        self.run_id = run_id
        self.path = path
        self._fd = fd
        self._clock = clock
        self._shared = shared

    @classmethod
    def create(
        cls,
        run_id: str,
        *,
        command: str,
        params: Mapping[str, Any],
        who: Who,
        plan: Plan | None,
        clock: Clock | None = None,
        shared: SharedJournal | None = None,
    ) -> Journal:
        clock = clock or SystemClock()
        path = _path(run_id)
        # 0600 from the first byte: the file says who ran what against which account.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        journal = cls(run_id, path, fd, clock, shared)
        journal._write(
            {
                "type": "run",
                "run_id": run_id,
                "command": command,
                "params": dict(params),
                "who": who.to_json(),
                "pid": os.getpid(),
                "plan": plan.to_json() if plan else None,
            }
        )
        return journal

    @classmethod
    def reopen(
        cls,
        run_id: str,
        *,
        who: Who,
        plan: Plan,
        clock: Clock | None = None,
        shared: SharedJournal | None = None,
    ) -> Journal:
        """Continue an earlier run (``--resume``): append a ``resume`` record."""
        clock = clock or SystemClock()
        path = _path(run_id)
        if not path.exists():
            raise UsageError(f"no run {run_id} in {path.parent} (see `mr-failover history`)")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        journal = cls(run_id, path, fd, clock, shared)
        journal._write({"type": "resume", "who": who.to_json(), "plan": plan.to_json()})
        return journal

    def _write(self, record: dict[str, Any]) -> None:
        record = {"at": iso(self._clock.time()), "t": round(self._clock.time(), 3), **record}
        line = json.dumps(redact(record), sort_keys=False, default=str) + "\n"
        os.write(self._fd, line.encode())
        # Write-ahead means durable before the step acts, not merely buffered.
        os.fsync(self._fd)
        if self._shared is not None:
            # The team's copy too, before the step acts (a failure stops the run).
            self._shared.append(self.run_id, line.encode())

    def intent(self, step: Step, index: int) -> None:
        self._write({"type": "intent", "step": step.id, "index": index, "call": step.to_json()})

    def outcome(self, outcome: StepOutcome) -> None:
        self._write(
            {
                "type": "outcome",
                "step": outcome.step_id,
                "status": outcome.status,
                "seconds": round(outcome.seconds, 3),
                "detail": outcome.detail,
            }
        )

    def wait(self, step: Step, *, since: float, seconds: float, remaining: float) -> None:
        """A wait starts; ``since``: when the change it waits after was applied (wall)."""
        self._write(
            {
                "type": "wait",
                "step": step.id,
                "since": iso(since),
                "since_t": round(since, 3),
                "seconds": seconds,
                "remaining": round(remaining, 3),
            }
        )

    def note(self, kind: str, **fields: Any) -> None:
        self._write({"type": "note", "kind": kind, **fields})

    def end(self, outcome: str, seconds: float, detail: str = "") -> None:
        self._write(
            {"type": "end", "outcome": outcome, "seconds": round(seconds, 3), "detail": detail}
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


@dataclass(frozen=True)
class RunRecord:
    """A run as read back from its journal."""

    run_id: str
    command: str
    params: Mapping[str, Any]
    who: Who
    started: float  # epoch seconds
    outcome: str  # succeeded | failed | refused | interrupted | incomplete (crashed or running)
    seconds: float  # time spent running, summed over attempts
    completed: frozenset[str]  # steps whose last outcome was applied or skipped
    attempts: int
    detail: str
    # The plan of the run's first attempt, as journaled (undrain reads what a drain saw).
    first_plan: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "command": self.command,
            "params": dict(self.params),
            "who": self.who.to_json(),
            "started": iso(self.started),
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
            "detail": self.detail,
        }


# Journals larger than this are not read (a drill's journal is tens of kilobytes).
MAX_JOURNAL_BYTES = 64 * 1024 * 1024
# Timestamps a journal may hold: 1970 to the end of year 9999 (what datetime can show).
MAX_EPOCH = 253_402_300_799.0


@dataclass(frozen=True)
class JournalProblem:
    """Why a journal file, or one line of it (``line`` from 1; 0: the whole file), is bad."""

    path: Path  # for a shared journal, s3:/bucket/prefix/<run id>.jsonl (a label: see file)
    line: int
    problem: str

    @property
    def file(self) -> str:
        """The path, or the shared journal's URL (a Path keeps one slash of ``s3://``)."""
        text = str(self.path)
        return "s3://" + text[4:] if text.startswith("s3:/") and text[4:5] != "/" else text

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.problem}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "problem": self.problem}


class JournalError(RefusedError):
    """A journal that cannot be trusted for this run (exit 3): names the file and line."""

    def __init__(self, problem: JournalProblem, hint: str) -> None:
        self.problem = problem
        super().__init__(f"{problem}; {hint}")


class _Bad(Exception):
    """One line's problem, raised by the record checks."""


def _read_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, ends with a newline) of a journal the user owns.

    Raises _Bad for a file that is not a regular file, not the user's, too large, or
    unreadable.
    """
    try:
        fd = statedir.open_regular(path, follow=False)
    except statedir.NotRegularFileError as exc:
        raise _Bad(f"{exc.kind}, not a journal file; remove it") from None
    except OSError as exc:
        if exc.errno is not None and exc.errno == getattr(os, "ELOOP", -1):
            raise _Bad("a symbolic link, not a journal file; remove it") from None
        raise _Bad(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if info.st_uid != statedir.my_uid():
            raise _Bad(
                f"owned by uid {info.st_uid}, not by you (uid {statedir.my_uid()}): not trusted; "
                "remove it, or chown it if it is yours"
            )
        if info.st_size > MAX_JOURNAL_BYTES:
            raise _Bad(f"larger than {MAX_JOURNAL_BYTES} bytes; not read")
        data = stream.read(MAX_JOURNAL_BYTES + 1)
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)
        if last and not raw:
            return  # the file ends with a newline
        yield number, raw, not last


def _text(value: object, key: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{key!r} is {_kind(value)}, expected text")
    return value


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{key!r} is {_kind(value)}, expected a mapping")
    return value


def _seconds(value: object, key: str, *, epoch: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{key!r} is {_kind(value)}, expected a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    top = MAX_EPOCH if epoch else 10 * 365 * 86_400.0
    if not math.isfinite(number) or not 0 <= number <= top:
        raise _Bad(f"{key!r} is {_clip_number(value)}, out of range (0 to {top:.0f})")
    return number


def _clip_number(value: object) -> str:
    text = str(value)
    return text if len(text) <= 30 else f"{text[:20]}... ({len(text)} digits)"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _record(raw: bytes) -> dict[str, Any]:
    """One line as a record of a known shape; raises _Bad saying what is wrong."""
    try:
        rec = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise _Bad("not UTF-8 text") from None
    except (ValueError, RecursionError):
        raise _Bad("not a JSON record") from None
    if not isinstance(rec, dict):
        raise _Bad(f"{_kind(rec)}, not a journal record (a JSON mapping)")
    kind = rec.get("type")
    if not isinstance(kind, str):
        raise _Bad(f"'type' is {_kind(kind)}, expected text")
    if kind == "run":
        _text(rec.get("run_id"), "run_id")
        if not _text(rec.get("command"), "command"):
            raise _Bad("'command' is empty")
        _mapping(rec.get("params"), "params")
        for key, value in _mapping(rec.get("who"), "who").items():
            _text(value, f"who.{key}")
        _seconds(rec.get("t"), "t", epoch=True)
        plan = _mapping(rec.get("plan"), "plan")
        _mapping(plan.get("params"), "plan.params")
    elif kind == "resume":
        _mapping(rec.get("who"), "who")
    elif kind == "outcome":
        _text(rec.get("step"), "step")
        _text(rec.get("status"), "status")
    elif kind == "end":
        _text(rec.get("outcome"), "outcome")
        _text(rec.get("detail"), "detail", required=False)
        if rec.get("seconds") is not None:
            _seconds(rec.get("seconds"), "seconds")
    return rec  # intent, note and newer record types: only their type is needed here


def _no_constant(name: str) -> None:
    raise _Bad(f"{name} is not a number a journal holds")


def _shared_lines(lines: list[bytes]) -> Iterator[tuple[int, bytes, bool]]:
    """A shared journal's records as numbered lines (each object is one whole line)."""
    for number, raw in enumerate(lines, start=1):
        yield number, raw.rstrip(b"\n"), True


def _records(
    path: Path, lines: list[bytes] | None = None
) -> tuple[list[dict[str, Any]], list[JournalProblem]]:
    """The file's good records (or ``lines``' for a shared journal), and a problem per bad
    line (or for the whole file)."""
    out: list[dict[str, Any]] = []
    problems: list[JournalProblem] = []
    numbered = _read_lines(path) if lines is None else _shared_lines(lines)
    try:
        for number, raw, complete in numbered:
            try:
                out.append(_record(raw))
            except _Bad as exc:
                if complete:
                    problems.append(JournalProblem(path, number, str(exc)))
                # else: a torn last line from a crash: the records before it stand
    except _Bad as exc:
        return [], [JournalProblem(path, 0, str(exc))]
    return out, problems


def _parse(
    path: Path, lines: list[bytes] | None = None
) -> tuple[RunRecord | None, list[JournalProblem]]:
    """The run a journal file records (None if it has no usable head), and its problems."""
    records, problems = _records(path, lines)
    head: dict[str, Any] | None = None
    status: dict[str, str] = {}
    outcome, detail, seconds, attempts = "incomplete", "", 0.0, 1
    for rec in records:
        kind = rec["type"]
        if kind == "run":
            if head is None:
                head = rec
        elif kind == "resume":
            attempts += 1
            outcome = "incomplete"
        elif kind == "outcome":
            status[rec["step"]] = rec["status"]
        elif kind == "end":
            outcome, detail = rec["outcome"], rec.get("detail") or ""
            seconds += float(rec.get("seconds") or 0.0)
    if head is None:
        if not any(p.line == 0 for p in problems):
            problems.append(JournalProblem(path, 0, "not a run journal (no 'run' record)"))
        return None, problems
    if head["run_id"] != path.stem:
        problems.append(
            JournalProblem(path, 0, f"records run {head['run_id'][:40]!r}, not {path.stem}")
        )
        return None, problems
    who = head.get("who") or {}
    return (
        RunRecord(
            run_id=head["run_id"],
            command=head["command"],
            params=head.get("params") or {},
            who=Who(who.get("caller_arn", "?"), who.get("os_user", "?"), who.get("host", "?")),
            started=float(head["t"]),
            outcome=outcome,
            seconds=seconds,
            completed=frozenset(s for s, st in status.items() if st in ("applied", "skipped")),
            attempts=attempts,
            detail=detail,
            first_plan=head.get("plan") or {},
        ),
        problems,
    )


def _shared_label(shared: SharedJournal, run_id: str) -> Path:
    return Path(f"{shared.url}{run_id}.jsonl")


def fetch_shared(run_id: str, shared: SharedJournal) -> Path:
    """Copy a run's shared records into a local journal (``--resume`` on another machine).

    Each record is checked as a local line would be; a bad one refuses the copy (nothing
    is written locally), since a resume decides from the journal which steps not to redo.
    """
    path = _path(run_id)
    lines = _trusted_shared(run_id, shared)
    if not lines:
        raise UsageError(
            f"no run {run_id} in {path.parent} nor in the team's journal {shared.url} "
            "(see `mr-failover history`)"
        )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"".join(lines))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


_UNTRUSTED = "the team's journal of this run cannot be trusted to say which steps are done"


def _trusted_shared(run_id: str, shared: SharedJournal) -> list[bytes]:
    """The run's shared records, refused (JournalError) when one is bad or missing; [] when
    the team's journal has none of them."""
    from mr_failover.engine.shared import missing

    numbered = shared.numbered_lines(run_id)
    if not numbered:
        return []
    label = _shared_label(shared, run_id)
    gaps = missing(numbered)
    if gaps:
        shown = ", ".join(str(n) for n in gaps[:5]) + (" ..." if len(gaps) > 5 else "")
        raise JournalError(
            JournalProblem(label, gaps[0], f"record(s) {shown} missing (lost or removed)"),
            _UNTRUSTED,
        )
    lines = [line for _, line in numbered]
    run, problems = _parse(label, lines)
    if problems or run is None:
        raise JournalError(
            problems[0] if problems else JournalProblem(label, 0, "no run"), _UNTRUSTED
        )
    return lines


def _catch_up(path: Path, run_id: str, shared: SharedJournal) -> None:
    """Bring this machine's journal of a run up to the team's: another operator may have
    resumed it since (their records are in S3 only). Deciding from the older local copy
    would redo what they did (a custom step is not idempotent). The local lines must be
    the team's first lines; records only here (a shared write that failed stopped the run
    right after its local write) stay."""
    if _parse(path)[1]:
        return  # not a journal to trust (read_run says why): nothing read through it
    remote = _trusted_shared(run_id, shared)
    data = path.read_bytes()
    local = data.splitlines(keepends=True)
    torn = bool(local) and not local[-1].endswith(b"\n")  # a crash mid-write: not a record
    if torn:
        local.pop()
    common = min(len(local), len(remote))
    for i in range(common):
        if local[i] != remote[i]:
            raise JournalError(
                JournalProblem(path, i + 1, f"differs from record {i + 1} of {shared.url}"),
                "this machine's journal and the team's disagree about the run, so it is not "
                "resumed; compare them (mr-failover history), check the system's state "
                "(mr-failover status) and start a new run",
            )
    if len(remote) > len(local):
        fd = os.open(path, os.O_WRONLY)
        try:
            os.lseek(fd, sum(len(line) for line in local), os.SEEK_SET)
            os.ftruncate(fd, sum(len(line) for line in local))  # the torn line, if any
            os.write(fd, b"".join(remote[len(local) :]))
            os.fsync(fd)
        finally:
            os.close(fd)


def read_run(run_id: str, shared: SharedJournal | None = None) -> RunRecord:
    """The run ``run_id`` for ``--resume``: refused (JournalError) if any line is bad.

    A run this machine has no journal of is copied from the team's journal first; one it
    has is brought up to the team's (records another operator added since).
    """
    path = _path(run_id)
    if not os.path.lexists(path):
        if shared is None:
            raise UsageError(f"no run {run_id} in {path.parent} (see `mr-failover history`)")
        fetch_shared(run_id, shared)
    elif shared is not None:
        _catch_up(path, run_id, shared)
    run, problems = _parse(path)
    if problems or run is None:
        raise JournalError(
            problems[0],
            "the journal cannot be trusted to say which steps are done, so the run is not "
            "resumed; check the system's state (mr-failover status) and start a new run",
        )
    return run


def read_records(run_id: str, shared: SharedJournal | None = None) -> list[dict[str, Any]]:
    """Every good record of a run, in order (bad lines and a torn last line left out);
    from the team's journal when this machine has none of it."""
    path = _path(run_id)
    if shared is not None and not os.path.lexists(path):
        return _records(_shared_label(shared, run_id), shared.lines(run_id))[0]
    return _records(path)[0]


def scan_runs(
    limit: int | None = None, shared: SharedJournal | None = None
) -> tuple[list[RunRecord], list[JournalProblem]]:
    """Runs, newest first, and the problems of the journals (or lines) that were skipped;
    with ``shared``, the team's runs too (a run journaled here and there is read here)."""
    runs: list[RunRecord] = []
    problems: list[JournalProblem] = []
    for path in sorted(runs_dir().glob("*.jsonl")):
        run, found = _parse(path)
        problems += found
        if run is not None:
            runs.append(run)
    if shared is not None:
        here = {r.run_id for r in runs} | {p.stem for p in runs_dir().glob("*.jsonl")}
        # Run ids start with their UTC start time: the newest sort last.
        ids = sorted((i for i in shared.run_ids() if RUN_ID.match(i)), reverse=True)
        for run_id in ids[:limit] if limit else ids:
            if run_id in here:
                continue
            run, found = _parse(_shared_label(shared, run_id), shared.lines(run_id))
            problems += found
            if run is not None:
                runs.append(run)
    runs.sort(key=lambda r: (r.started, r.run_id), reverse=True)
    return (runs[:limit] if limit else runs), problems


def list_runs(limit: int | None = None) -> list[RunRecord]:
    """Runs, newest first (a bad journal or line is left out; see :func:`scan_runs`)."""
    return scan_runs(limit)[0]
