"""The engine's run lifecycle: re-check under the lock, resumed waits, signals, resume rules.

No AWS here: the account guard is replaced by a fixed answer and the topology names no
lock table (the lock has its own tests in tests/functional/test_lock_clocks.py and the
torture test in tests/reliability). Jobs are plans of fake switches (tests/unit/test_plan.py's
``Switch``) whose "world" another operator can change between plan and confirmation.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from mr_failover import topology as topo
from mr_failover.aws import AccountCheck
from mr_failover.engine import guard, journal, run
from mr_failover.engine.executor import execute
from mr_failover.engine.plan import Plan, Step, StepAction, Wait
from mr_failover.errors import EXIT_OK, EXIT_REFUSED, MrFailoverError, RefusedError
from tests.clocks import FakeClock
from tests.unit.test_plan import Switch, World, step

CONFIG = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
T0 = 1_800_000_000.0


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv(journal.ENV_STATE_DIR, str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def no_lock() -> topo.Topology:
    return topo.load(CONFIG).model_copy(update={"lock": None})


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    def require_account(*_: Any, **__: Any) -> AccountCheck:
        arn = "arn:aws:iam::123456789012:user/alice"
        return AccountCheck("123456789012", "123456789012", arn, "us-east-1")

    monkeypatch.setattr(guard, "require_account", require_account)


class Waiting(StepAction):
    """A wait step's action: nothing to apply; counts its polls."""

    def __init__(self) -> None:
        self.polls = 0

    def holds(self) -> bool:
        raise AssertionError("the executor owns a Wait step: holds() is not asked")

    def apply(self) -> None:
        raise AssertionError("the executor owns a Wait step: apply() is not called")

    def settled(self) -> bool:
        self.polls += 1
        return True

    def verify(self) -> str | None:
        return None


def wait_step(seconds: float, after: tuple[str, ...]) -> Step:
    return Step(
        id="dns:wait-ttl:us-east-1",
        title=f"wait {seconds:g}s (record TTL)",
        service="dns",
        call="WaitTTL",
        params={"seconds": seconds},
        region="-",
        plane="data",
        plane_region=None,
        undoable=True,
        timeout=seconds + 30,
        poll=0.5,
        max_poll=2.0,
        action=Waiting(),
        wait=Wait(seconds, after),
    )


class Job(run.Job):
    """Plans one switch per name in ``wanted``; refuses when ``world.on['blocked']``."""

    def __init__(self, world: World, wanted: list[str]) -> None:
        self.world = world
        self.wanted = wanted
        self.plans = 0
        self.executed = False

    def plan(self) -> Plan:
        self.plans += 1
        if self.world.on.get("blocked"):
            raise RefusedError("refused: us-east-1 is the last region serving")
        steps = tuple(step(Switch(self.world, n)) for n in self.wanted)
        return Plan("fake", dict(self.info.params), steps)

    def execute(self, plan: Plan, ex: run.Execution) -> run.Finished:
        self.executed = True
        return super().execute(plan, ex)


def request(**kw: Any) -> run.Request:
    return run.Request("fake", {"region": "us-west-2"}, **kw)


# --- re-check under the lock ------------------------------------------------------------------


def test_plan_changes_names_what_moved() -> None:
    world = World()
    shown = Plan(
        "fake", {"mode": "switchover"}, (step(Switch(world, "a")), step(Switch(world, "b")))
    )
    same = Plan(
        "fake", {"mode": "switchover"}, (step(Switch(world, "a")), step(Switch(world, "b")))
    )
    assert run.plan_changes(shown, same) == []
    fresh = Plan("fake", {"mode": "failover"}, (step(Switch(world, "a")), step(Switch(world, "c"))))
    assert run.plan_changes(shown, fresh) == [
        "no longer planned: turn on b",
        "now also needed: turn on c",
        "mode: 'switchover' -> 'failover'",
    ]


@pytest.mark.usefixtures("state", "guarded")
def test_a_state_change_between_plan_and_confirm_refuses_and_changes_nothing(
    no_lock: topo.Topology,
) -> None:
    world = World()
    job = Job(world, ["a"])
    shown: list[Plan] = []

    def confirm(plan: Plan) -> None:
        world.on["blocked"] = True  # operator A, while B reads the plan

    hooks = run.Hooks(show=shown.append, confirm=confirm)
    with pytest.raises(run.PlanChangedError) as err:
        run.run(no_lock, None, request(), job, hooks, clock=FakeClock(T0))  # type: ignore[arg-type]
    assert err.value.exit_code == EXIT_REFUSED
    assert str(err.value) == (
        "refused: the state changed after the plan was shown, so nothing was changed: "
        "refused: us-east-1 is the last region serving; look at the new plan (--dry-run) "
        "and run again"
    )
    assert (len(shown), job.plans, job.executed, world.applies) == (1, 2, False, [])
    assert journal.list_runs() == []  # nothing ran: no journal


@pytest.mark.usefixtures("state", "guarded")
def test_a_plan_that_grew_under_the_lock_is_refused(no_lock: topo.Topology) -> None:
    world = World()
    job = Job(world, ["a"])

    def confirm(plan: Plan) -> None:
        job.wanted = ["a", "b"]

    with pytest.raises(run.PlanChangedError, match="now also needed: turn on b"):
        run.run(no_lock, None, request(), job, run.Hooks(confirm=confirm), clock=FakeClock(T0))  # type: ignore[arg-type]
    assert world.applies == []


@pytest.mark.usefixtures("state", "guarded")
def test_with_yes_the_plan_is_built_again_under_the_lock(no_lock: topo.Topology) -> None:
    world = World()
    job = Job(world, ["a", "b"])
    notices: list[str] = []
    done = run.run(
        no_lock,
        None,  # type: ignore[arg-type]
        request(yes=True),
        job,
        run.Hooks(notice=notices.append),
        clock=FakeClock(T0),
    )
    assert done.finished is not None and done.finished.outcome == "succeeded"
    assert (job.plans, world.applies) == (2, ["a", "b"])
    assert notices == [
        "warning: the topology names no lock table; other operators are not excluded"
    ]
    (record,) = journal.list_runs()
    assert (record.run_id, record.outcome) == (done.run_id, "succeeded")


class NothingLeft(MrFailoverError):
    exit_code = EXIT_OK


@pytest.mark.usefixtures("state", "guarded")
def test_with_yes_nothing_left_to_do_under_the_lock_is_said_not_refused(
    no_lock: topo.Topology,
) -> None:
    world = World()

    class Done(Job):
        def plan(self) -> Plan:
            if self.plans:
                raise NothingLeft("nothing to do: us-west-2 is already the writer")
            return super().plan()

    job = Done(world, ["a"])
    with pytest.raises(NothingLeft):
        run.run(no_lock, None, request(yes=True), job, run.Hooks(), clock=FakeClock(T0))  # type: ignore[arg-type]
    assert world.applies == []
    # Confirmed by a person, the same is a refusal: the plan they approved no longer holds.
    job = Done(world, ["a"])
    with pytest.raises(run.PlanChangedError, match="nothing to do: us-west-2 is already"):
        run.run(
            no_lock,
            None,
            request(),
            job,
            run.Hooks(confirm=lambda p: None),
            clock=FakeClock(T0),  # type: ignore[arg-type]
        )


@pytest.mark.usefixtures("state", "guarded")
def test_an_unchanged_state_runs_the_confirmed_plan(no_lock: topo.Topology) -> None:
    world = World()
    job = Job(world, ["a"])
    done = run.run(
        no_lock,
        None,
        request(),
        job,
        run.Hooks(confirm=lambda p: None),
        clock=FakeClock(T0),  # type: ignore[arg-type]
    )
    assert done.finished is not None and job.plans == 2 and world.applies == ["a"]


# --- --resume of a succeeded run (item 8) -----------------------------------------------------


@pytest.mark.usefixtures("state", "guarded")
def test_resuming_a_succeeded_run_is_refused_and_leaves_its_journal_alone(
    no_lock: topo.Topology,
) -> None:
    world = World()
    done = run.run(
        no_lock, None, request(yes=True), Job(world, ["a"]), run.Hooks(), clock=FakeClock(T0)
    )  # type: ignore[arg-type]
    path = journal.runs_dir() / f"{done.run_id}.jsonl"
    before = path.read_bytes()
    job = Job(world, ["a"])
    with pytest.raises(RefusedError) as err:
        run.run(
            no_lock,
            None,  # type: ignore[arg-type]
            request(yes=True, resume=done.run_id),
            job,
            run.Hooks(),
            clock=FakeClock(T0 + 60),
        )
    assert str(err.value) == (
        f"run {done.run_id} already succeeded: there is nothing to resume (its journal is "
        "left as it is); start a new run to change anything"
    )
    assert (job.plans, path.read_bytes()) == (0, before)


# --- waits that resume with what remains (item 2) ---------------------------------------------


def drain_like(world: World, ttl: float = 60.0) -> Plan:
    move = step(Switch(world, "weight-0"))
    return Plan("drain", {"region": "us-east-1"}, (move, wait_step(ttl, (move.id,))))


def test_a_fresh_run_waits_the_whole_ttl_after_its_change() -> None:
    clock = FakeClock(T0)
    result = execute(drain_like(World()), clock=clock)
    assert [o.status for o in result.outcomes] == ["applied", "applied"]
    assert 60 <= clock.slept <= 62


def test_nothing_moved_by_this_run_means_no_wait() -> None:
    world, clock = World(), FakeClock(T0)
    world.on["weight-0"] = True
    result = execute(drain_like(world), clock=clock)
    assert [(o.status, o.detail) for o in result.outcomes] == [
        ("skipped", "already in place"),
        ("skipped", "nothing this run changed: no wait"),
    ]
    assert clock.slept == 0


class Interrupting(FakeClock):
    """Raises KeyboardInterrupt (Ctrl-C) once ``after`` seconds have been slept."""

    def __init__(self, start: float, after: float) -> None:
        super().__init__(start)
        self.after = after

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.slept >= self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize(("between", "about"), [(0.0, 50.0), (30.0, 20.0), (100.0, 0.0)])
@pytest.mark.usefixtures("state")
def test_a_wait_cut_short_then_resumed_waits_only_the_rest(between: float, about: float) -> None:
    """Interrupted about 10 s into a 60 s wait; resumed ``between`` seconds later."""
    world = World()
    who = journal.Who("arn:aws:iam::123456789012:user/alice", "alice", "laptop")
    first = Interrupting(T0, after=10.0)
    jr = journal.Journal.create(
        "20270115T080000Z-aaaaaa", command="drain", params={}, who=who, plan=None, clock=first
    )
    with pytest.raises(KeyboardInterrupt):
        execute(drain_like(world), clock=first, recorder=jr)
    jr.close()
    (waited,) = [r for r in journal.read_records(jr.run_id) if r["type"] == "wait"]
    assert (waited["since_t"], waited["seconds"], waited["remaining"]) == (T0, 60.0, 60.0)

    prior = journal.read_run(jr.run_id)
    assert prior.completed == {"switch:weight-0"}
    second = FakeClock(first.t + between)
    expected = max(0.0, 60.0 - (second.t - T0))  # 60 s from the change, by the journal
    assert expected == pytest.approx(about, abs=2.5)  # the poll that crossed 10 s
    again = journal.Journal.reopen(jr.run_id, who=who, plan=drain_like(world), clock=second)
    result = execute(
        drain_like(world),
        clock=second,
        recorder=again,
        completed=prior.completed,
        applied_at=run.applied_times(jr.run_id),
    )
    again.close()
    assert [o.status for o in result.outcomes] == ["skipped", "applied"]
    assert expected <= second.slept <= expected + 2  # one poll at most over the rest
    assert world.applies == ["weight-0"]  # the change itself is not repeated
    resumed = [r for r in journal.read_records(jr.run_id) if r["type"] == "wait"][-1]
    assert resumed["since_t"] == T0 and resumed["remaining"] == pytest.approx(expected, abs=0.01)


def test_a_clock_behind_the_journal_never_waits_more_than_the_whole_wait() -> None:
    world, clock = World(), FakeClock(T0 - 300)  # 5 min behind the machine that applied
    world.on["weight-0"] = True
    execute(
        drain_like(world),
        clock=clock,
        completed={"switch:weight-0"},
        applied_at={"switch:weight-0": T0},
    )
    assert 60 <= clock.slept <= 62


# --- signals (item 4) ---------------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_interrupt_like_ctrl_c(signum: int, code: int) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(run.Interrupted) as err, run.signals_interrupt():
        os.kill(os.getpid(), signum)  # the handler runs at the next bytecode, here
        pytest.fail("the signal did not interrupt")
    assert (err.value.exit_code, err.value.signal_name) == (code, signal.Signals(signum).name)
    assert isinstance(err.value, KeyboardInterrupt)
    assert signal.getsignal(signum) == before  # the previous handler is back


@pytest.mark.usefixtures("state", "guarded")
def test_a_signal_mid_run_journals_it_interrupted_with_the_resume_command(
    no_lock: topo.Topology,
) -> None:
    world = World()

    class Killed(Switch):
        def apply(self) -> None:
            raise run.Interrupted(signal.SIGTERM)

    class Stopped(Job):
        def plan(self) -> Plan:
            return Plan(
                "fake", dict(self.info.params), (step(Switch(world, "a")), step(Killed(world, "b")))
            )

    with pytest.raises(run.Interrupted) as err:
        run.run(
            no_lock, None, request(yes=True), Stopped(world, []), run.Hooks(), clock=FakeClock(T0)
        )  # type: ignore[arg-type]
    stopped = err.value
    assert stopped.exit_code == 143 and stopped.journaled
    assert str(stopped) == (
        f"interrupted (SIGTERM): run {stopped.run_id} is journaled as interrupted and the "
        f"lock released; resume with `mr-failover fake --resume {stopped.run_id}`"
    )
    assert stopped.run_id is not None
    record = journal.read_run(stopped.run_id)
    assert (record.outcome, record.completed) == ("interrupted", {"switch:a"})
    assert record.detail == f"SIGTERM; resume with --resume {stopped.run_id}"


def test_interrupted_before_any_change_says_there_is_nothing_to_resume() -> None:
    assert str(run.Interrupted(signal.SIGHUP)) == (
        "interrupted (SIGHUP) before any change: nothing to resume"
    )
