"""The write-ahead journal: file mode, record order, redaction, history, crash and resume."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from mr_failover.engine import journal
from mr_failover.engine.executor import StepFailedError, execute
from mr_failover.engine.journal import Journal, Who
from mr_failover.engine.plan import Plan, Step, StepAction
from mr_failover.errors import UsageError
from tests.clocks import FakeClock

NEW_YEAR = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Crash(Exception):
    """Stands for the process dying between two steps."""


class Switch(StepAction):
    def __init__(self, world: dict[str, Any], name: str, crash: bool = False) -> None:
        self.world, self.name, self.crash = world, name, crash

    def holds(self) -> bool:
        return bool(self.world.get(self.name))

    def apply(self) -> None:
        if self.crash:
            raise Crash(self.name)
        self.world.setdefault("applies", []).append(self.name)
        self.world[self.name] = True


def make_plan(world: dict[str, Any], crash_at: str | None = None) -> Plan:
    steps = tuple(
        Step(
            id=f"switch:{n}",
            title=f"turn on {n}",
            service="fake",
            call="TurnOn",
            params={"Name": n},
            region="us-east-1",
            plane="control",
            plane_region="us-east-1",
            undoable=False,
            action=Switch(world, n, crash=n == crash_at),
        )
        for n in ("a", "b", "c")
    )
    return Plan(command="fake run", params={"region": "us-east-1"}, steps=steps)


WHO = Who("arn:aws:iam::123456789012:user/alice", "alice", "laptop")


@pytest.fixture(autouse=True)
def state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_journal_is_0600_in_a_0700_directory_and_logs_intent_before_outcome(
    state: Path,
) -> None:
    clock, world = FakeClock(NEW_YEAR), {}
    jr = Journal.create(
        "20260101T000000Z-abc123",
        command="fake run",
        params={"region": "us-east-1"},
        who=WHO,
        plan=make_plan(world),
        clock=clock,
    )
    execute(make_plan(world), clock=clock, recorder=jr)
    jr.end("succeeded", 0.0)
    jr.close()
    assert stat.S_IMODE(os.stat(jr.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state / "runs").st_mode) == 0o700
    recs = records(jr.path)
    assert [(r["type"], r.get("step")) for r in recs] == [
        ("run", None),
        ("intent", "switch:a"),
        ("outcome", "switch:a"),
        ("intent", "switch:b"),
        ("outcome", "switch:b"),
        ("intent", "switch:c"),
        ("outcome", "switch:c"),
        ("end", None),
    ]
    head = recs[0]
    assert head["at"] == "2026-01-01T00:00:00Z"
    assert head["who"] == {
        "caller_arn": "arn:aws:iam::123456789012:user/alice",
        "os_user": "alice",
        "host": "laptop",
    }
    assert [s["call"] for s in head["plan"]["steps"]] == ["fake:TurnOn"] * 3


def test_secrets_are_redacted_before_writing() -> None:
    jr = Journal.create(
        "20260101T000000Z-abc124",
        command="fake",
        params={
            "region": "us-east-1",
            "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG",
            "nested": [{"SessionToken": "IQoJb3JpZ2luX2VjE"}],
            "note": "key AKIAIOSFODNN7EXAMPLE leaked into a message",
        },
        who=WHO,
        plan=None,
        clock=FakeClock(NEW_YEAR),
    )
    jr.close()
    text = jr.path.read_text()
    for secret in ("wJalrXUtnFEMI", "IQoJb3JpZ2luX2VjE", "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in text
    params = records(jr.path)[0]["params"]
    assert params["SecretAccessKey"] == journal.REDACTED
    assert params["note"] == f"key {journal.REDACTED} leaked into a message"
    assert params["region"] == "us-east-1"


def test_run_ids_are_validated_so_paths_cannot_escape() -> None:
    with pytest.raises(UsageError, match="is not a run id"):
        journal.read_run("../../etc/passwd")
    with pytest.raises(UsageError, match="no run 20260101T000000Z-ffffff"):
        journal.read_run("20260101T000000Z-ffffff")


def test_crash_between_steps_then_resume_does_not_repeat_a_mutation() -> None:
    clock, world = FakeClock(NEW_YEAR), {}
    run_id = journal.new_run_id(clock)
    first = make_plan(world, crash_at="b")
    jr = Journal.create(
        run_id, command="fake run", params={"region": "us-east-1"}, who=WHO, plan=first, clock=clock
    )
    with pytest.raises(Crash):
        execute(first, clock=clock, recorder=jr)
    jr.close()  # the process "died": no end record
    assert world["applies"] == ["a"]

    prior = journal.read_run(run_id)
    assert prior.outcome == "incomplete"
    assert prior.completed == {"switch:a"}

    # Resume: re-plan from real state (the world), continue under the same id.
    clock.t += 300
    again = make_plan(world)
    jr = Journal.reopen(run_id, who=WHO, plan=again, clock=clock)
    result = execute(again, clock=clock, recorder=jr, completed=prior.completed)
    jr.end("succeeded", result.seconds)
    jr.close()

    assert world["applies"] == ["a", "b", "c"]  # "a" was not applied twice
    assert [o.status for o in result.outcomes] == ["skipped", "applied", "applied"]
    assert result.outcomes[0].detail == "done by an earlier attempt of this run"
    after = journal.read_run(run_id)
    assert (after.outcome, after.attempts) == ("succeeded", 2)
    assert after.completed == {"switch:a", "switch:b", "switch:c"}


def test_crash_after_the_call_but_before_the_outcome_is_caught_by_the_read() -> None:
    """The worst window: the mutation happened, the journal never heard of it."""
    clock, world = FakeClock(NEW_YEAR), {"a": True, "applies": ["a"]}  # applied, then died
    run_id = journal.new_run_id(clock)
    jr = Journal.create(run_id, command="fake run", params={}, who=WHO, plan=None, clock=clock)
    jr.intent(make_plan(world).steps[0], 1)
    jr.close()
    prior = journal.read_run(run_id)
    assert prior.completed == frozenset()
    result = execute(make_plan(world), clock=clock, completed=prior.completed)
    assert world["applies"] == ["a", "b", "c"]
    assert result.outcomes[0].status == "skipped"


def test_a_failed_run_records_its_failure_and_history_lists_newest_first() -> None:
    clock = FakeClock(NEW_YEAR)
    ids = []
    for n, outcome in enumerate(("succeeded", "failed")):
        clock.t += 60
        run_id = journal.new_run_id(clock)
        ids.append(run_id)
        jr = Journal.create(
            run_id, command="fake run", params={"n": n}, who=WHO, plan=None, clock=clock
        )
        clock.t += 7.5
        jr.end(outcome, 7.5, "step 1/1 failed" if outcome == "failed" else "")
        jr.close()
    runs = journal.list_runs()
    assert [r.run_id for r in runs] == [ids[1], ids[0]]
    assert [(r.outcome, r.seconds, r.detail) for r in runs] == [
        ("failed", 7.5, "step 1/1 failed"),
        ("succeeded", 7.5, ""),
    ]
    assert runs[0].to_json()["started"] == "2026-01-01T00:02:07Z"
    assert len(journal.list_runs(limit=1)) == 1


def test_a_torn_last_line_does_not_hide_the_run(state: Path) -> None:
    clock = FakeClock(NEW_YEAR)
    run_id = journal.new_run_id(clock)
    jr = Journal.create(run_id, command="fake run", params={}, who=WHO, plan=None, clock=clock)
    jr.close()
    with open(jr.path, "a") as f:
        f.write('{"type": "outcome", "step": "swi')  # the crash cut the write
    assert journal.read_run(run_id).outcome == "incomplete"
    (state / "runs" / "20260101T000000Z-000000.jsonl").write_text("garbage\n")
    assert [r.run_id for r in journal.list_runs()] == [run_id]


def test_resume_of_an_unknown_run_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as err:
        Journal.reopen("20260101T000000Z-aaaaaa", who=WHO, plan=make_plan({}))
    assert err.value.exit_code == 2


def test_step_failure_message_survives_in_the_journal() -> None:
    clock, world = FakeClock(NEW_YEAR), {}
    run_id = journal.new_run_id(clock)
    plan = make_plan(world)
    bad = Step(**{**plan.steps[0].__dict__, "timeout": 0.0, "action": Never()})
    jr = Journal.create(run_id, command="fake run", params={}, who=WHO, plan=None, clock=clock)
    with pytest.raises(StepFailedError):
        execute(Plan("fake run", {}, (bad,)), clock=clock, recorder=jr)
    jr.close()
    last = records(jr.path)[-1]
    assert last["type"] == "outcome" and last["status"] == "failed"
    assert "did not take hold within 0s: stuck" in last["detail"]


class Never(StepAction):
    def holds(self) -> bool:
        return True

    def apply(self) -> None:
        raise AssertionError("must not apply: the step holds")

    def settled(self) -> bool:
        return False

    def state(self) -> str:
        return "stuck"
