"""The write-ahead run journal: one JSON-lines file per run, resume and history.

Every mutating run gets an id and a file ``<state dir>/runs/<run id>.jsonl`` (the user's
platformdirs state directory; ``MR_FAILOVER_STATE_DIR`` overrides it), created with mode
0600. Records, each flushed and fsynced before the next action: ``run`` (command,
params, who ran it, the plan), ``intent`` before a step, ``outcome`` after it,
``resume`` when a later attempt continues the run, ``wait`` when a wait starts (with
the wall time of the change it waits after, so a resume waits only the rest), ``note``
(a lock break's reason), ``end``. Credentials never belong here: keys that name secrets
are redacted and access-key-shaped strings are masked before a line is written.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from mr_failover.engine.plan import Clock, Plan, Step, StepOutcome, SystemClock
from mr_failover.errors import UsageError

ENV_STATE_DIR = "MR_FAILOVER_STATE_DIR"
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
_SECRET_KEY = re.compile(r"secret|token|password|credential|session|private", re.I)
_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
REDACTED = "***redacted***"


def state_dir() -> Path:
    """Where runs are kept (created 0700 on first use)."""
    override = os.environ.get(ENV_STATE_DIR)
    return Path(override) if override else Path(platformdirs.user_state_dir("mr-failover"))


def runs_dir() -> Path:
    path = state_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
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
        raise UsageError(f"{run_id!r} is not a run id (like 20260101T120000Z-a1b2c3; see history)")
    return runs_dir() / f"{run_id}.jsonl"


class Journal:
    """An open run journal (a :class:`~mr_failover.engine.plan.Recorder`)."""

    def __init__(self, run_id: str, path: Path, fd: int, clock: Clock) -> None:
        self.run_id = run_id
        self.path = path
        self._fd = fd
        self._clock = clock

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
    ) -> Journal:
        clock = clock or SystemClock()
        path = _path(run_id)
        # 0600 from the first byte: the file says who ran what against which account.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        journal = cls(run_id, path, fd, clock)
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
    def reopen(cls, run_id: str, *, who: Who, plan: Plan, clock: Clock | None = None) -> Journal:
        """Continue an earlier run (``--resume``): append a ``resume`` record."""
        clock = clock or SystemClock()
        path = _path(run_id)
        if not path.exists():
            raise UsageError(f"no run {run_id} in {path.parent} (see `mr-failover history`)")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        journal = cls(run_id, path, fd, clock)
        journal._write({"type": "resume", "who": who.to_json(), "plan": plan.to_json()})
        return journal

    def _write(self, record: dict[str, Any]) -> None:
        record = {"at": iso(self._clock.time()), "t": round(self._clock.time(), 3), **record}
        line = json.dumps(redact(record), sort_keys=False, default=str) + "\n"
        os.write(self._fd, line.encode())
        # Write-ahead means durable before the step acts, not merely buffered.
        os.fsync(self._fd)

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


def _parse(path: Path) -> RunRecord:
    head: dict[str, Any] | None = None
    status: dict[str, str] = {}
    outcome, detail, seconds, attempts = "incomplete", "", 0.0, 1
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a crash: the records before it stand
        kind = rec.get("type")
        if kind == "run":
            head = rec
        elif kind == "resume":
            attempts += 1
            outcome = "incomplete"
        elif kind == "outcome":
            status[rec["step"]] = rec["status"]
        elif kind == "end":
            outcome, detail = rec["outcome"], rec.get("detail", "")
            seconds += float(rec.get("seconds", 0.0))
    if head is None:
        raise UsageError(f"{path}: not a run journal (no 'run' record)")
    who = head.get("who", {})
    return RunRecord(
        run_id=head["run_id"],
        command=head["command"],
        params=head.get("params", {}),
        who=Who(who.get("caller_arn", "?"), who.get("os_user", "?"), who.get("host", "?")),
        started=float(head["t"]),
        outcome=outcome,
        seconds=seconds,
        completed=frozenset(s for s, st in status.items() if st in ("applied", "skipped")),
        attempts=attempts,
        detail=detail,
    )


def read_run(run_id: str) -> RunRecord:
    path = _path(run_id)
    if not path.exists():
        raise UsageError(f"no run {run_id} in {path.parent} (see `mr-failover history`)")
    return _parse(path)


def read_records(run_id: str) -> list[dict[str, Any]]:
    """Every record of a run, in order (a torn last line is left out); drills read notes."""
    out = []
    for line in _path(run_id).read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def list_runs(limit: int | None = None) -> list[RunRecord]:
    """Runs, newest first."""
    runs = []
    for path in runs_dir().glob("*.jsonl"):
        try:
            runs.append(_parse(path))
        except (UsageError, KeyError, ValueError, OSError):
            continue  # an unreadable file must not hide the other runs
    runs.sort(key=lambda r: (r.started, r.run_id), reverse=True)
    return runs[:limit] if limit else runs
