"""The executor: idempotent steps, waits on an injected clock, failures that name the step."""

from __future__ import annotations

import time

import pytest

from mr_failover.engine.executor import StepFailedError, execute, wait_until
from mr_failover.engine.plan import Event, Plan, Step, StepAction, StepOutcome
from mr_failover.errors import AwsCallError, MrFailoverError
from tests.clocks import FakeClock


class World:
    """What the fake steps change: a dict of switches, as AWS would hold them."""

    def __init__(self) -> None:
        self.on: dict[str, bool] = {}
        self.applies: list[str] = []


class Switch(StepAction):
    """Turns a switch on; its effect shows after ``settle_after`` polls."""

    def __init__(
        self,
        world: World,
        name: str,
        *,
        settle_after: int = 0,
        fail_apply: BaseException | None = None,
        flaky_polls: int = 0,
        revert_before_verify: bool = False,
    ) -> None:
        self.world = world
        self.name = name
        self.settle_after = settle_after
        self.fail_apply = fail_apply
        self.flaky_polls = flaky_polls
        self.revert_before_verify = revert_before_verify
        self.polls = 0

    def holds(self) -> bool:
        return self.world.on.get(self.name, False)

    def apply(self) -> None:
        if self.fail_apply is not None:
            raise self.fail_apply
        self.world.applies.append(self.name)
        self.world.on[self.name] = True

    def settled(self) -> bool:
        self.polls += 1
        if self.flaky_polls:
            self.flaky_polls -= 1
            raise AwsCallError("us-west-2", "fake:Describe", "throttled (Throttling)")
        return self.polls > self.settle_after

    def state(self) -> str:
        return f"{self.name} polled {self.polls} times"

    def verify(self) -> str | None:
        if self.revert_before_verify:
            self.world.on[self.name] = False
        return super().verify()


def step(action: Switch, *, timeout: float = 60.0) -> Step:
    return Step(
        id=f"switch:{action.name}",
        title=f"turn on {action.name}",
        service="fake",
        call="TurnOn",
        params={"Name": action.name},
        region="us-west-2",
        plane="data",
        plane_region=None,
        undoable=True,
        undo=f"turn off {action.name}",
        timeout=timeout,
        poll=2.0,
        max_poll=10.0,
        action=action,
    )


def plan(*steps: Step) -> Plan:
    return Plan(command="fake", params={"region": "us-west-2"}, steps=steps)


class ListRecorder:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, str]] = []

    def intent(self, step: Step, index: int) -> None:
        self.records.append(("intent", step.id, str(index)))

    def outcome(self, outcome: StepOutcome) -> None:
        self.records.append(("outcome", outcome.step_id, outcome.status))


def test_applies_in_order_and_reports_events() -> None:
    world, clock, events = World(), FakeClock(1_000.0), []
    rec = ListRecorder()
    result = execute(
        plan(step(Switch(world, "a")), step(Switch(world, "b"))),
        clock=clock,
        recorder=rec,
        on_event=events.append,
    )
    assert world.applies == ["a", "b"]
    assert [o.status for o in result.outcomes] == ["applied", "applied"]
    assert [(e.kind, e.index, e.total) for e in events] == [
        ("step-start", 1, 2),
        ("step-applied", 1, 2),
        ("step-done", 1, 2),
        ("step-start", 2, 2),
        ("step-applied", 2, 2),
        ("step-done", 2, 2),
    ]
    assert rec.records == [
        ("intent", "switch:a", "1"),
        ("outcome", "switch:a", "applied"),
        ("intent", "switch:b", "2"),
        ("outcome", "switch:b", "applied"),
    ]


def test_a_step_whose_effect_holds_is_skipped_not_applied() -> None:
    world = World()
    world.on["a"] = True
    result = execute(plan(step(Switch(world, "a"))), clock=FakeClock(1_000.0))
    assert world.applies == []
    assert result.outcomes[0].status == "skipped"
    assert result.outcomes[0].detail == "already in place"


def test_wait_polls_with_backoff_on_the_injected_clock() -> None:
    world, clock = World(), FakeClock(1_000.0)
    action = Switch(world, "a", settle_after=4)
    real_start = time.monotonic()
    result = execute(plan(step(action, timeout=600)), clock=clock)
    assert time.monotonic() - real_start < 2  # no real sleeping
    assert action.polls == 5 + 1  # four misses, one hit, and the verify's fresh read
    assert len(clock.sleeps) == 4
    # Exponential backoff with jitter: each wait at least the undisturbed exponential.
    for n, slept in enumerate(clock.sleeps):
        assert min(2.0 * 2**n, 10.0) <= slept <= 10.0 + 1.0
    assert result.outcomes[0].seconds == pytest.approx(sum(clock.sleeps))


def test_a_step_that_never_settles_fails_at_its_deadline() -> None:
    world, clock = World(), FakeClock(1_000.0)
    with pytest.raises(StepFailedError) as err:
        execute(plan(step(Switch(world, "a", settle_after=10**9), timeout=120)), clock=clock)
    waited = clock.t - 1_000.0
    assert 120 <= waited <= 120 + 11  # at most one poll past the deadline
    text = str(err.value)
    assert text.startswith("step 1/1 'turn on a' failed (fake:TurnOn in us-west-2): ")
    assert "did not take hold within 120s: a polled" in text
    assert err.value.exit_code == 1


def test_transient_aws_errors_while_waiting_are_retried() -> None:
    world = World()
    action = Switch(world, "a", flaky_polls=2)
    result = execute(plan(step(action)), clock=FakeClock(1_000.0))
    assert result.outcomes[0].status == "applied"
    assert action.polls == 4  # two throttled polls, one good, one verify


def test_a_failing_step_stops_the_run_and_names_step_region_call() -> None:
    world, rec = World(), ListRecorder()
    boom = AwsCallError("us-west-2", "fake:TurnOn", "InternalError: boom")
    with pytest.raises(StepFailedError) as err:
        execute(
            plan(
                step(Switch(world, "a")),
                step(Switch(world, "b", fail_apply=boom)),
                step(Switch(world, "c")),
            ),
            clock=FakeClock(1_000.0),
            recorder=rec,
        )
    assert world.applies == ["a"]
    assert str(err.value) == (
        "step 2/3 'turn on b' failed (fake:TurnOn in us-west-2): "
        "fake:TurnOn in us-west-2 failed: InternalError: boom"
    )
    assert rec.records[-1] == ("outcome", "switch:b", "failed")
    err.value.run_id = "20260101T000000Z-abcdef"
    assert str(err.value).endswith(
        "; fix the cause, then resume with --resume 20260101T000000Z-abcdef"
    )


def test_verification_reads_fresh_state() -> None:
    world = World()
    with pytest.raises(StepFailedError, match="verification failed: the change is not in place"):
        execute(plan(step(Switch(world, "a", revert_before_verify=True))), clock=FakeClock(1_000.0))


def test_a_bug_in_a_step_is_journaled_and_keeps_its_traceback() -> None:
    world, rec = World(), ListRecorder()
    with pytest.raises(ZeroDivisionError):
        execute(
            plan(step(Switch(world, "a", fail_apply=ZeroDivisionError()))),
            clock=FakeClock(1_000.0),
            recorder=rec,
        )
    assert rec.records == [("intent", "switch:a", "1"), ("outcome", "switch:a", "failed")]


def test_completed_steps_are_not_reapplied_even_if_changed_back() -> None:
    world = World()
    # The journal says "a" completed, yet it is off now: someone reverted it.
    with pytest.raises(StepFailedError, match="the journal says this step completed"):
        execute(plan(step(Switch(world, "a"))), clock=FakeClock(1_000.0), completed={"switch:a"})
    assert world.applies == []


def test_before_step_hook_can_stop_the_run() -> None:
    world = World()

    def lost_lock(s: Step) -> None:
        if s.id == "switch:b":
            raise MrFailoverError("lost the lock")

    with pytest.raises(MrFailoverError, match="lost the lock"):
        execute(
            plan(step(Switch(world, "a")), step(Switch(world, "b"))),
            clock=FakeClock(1_000.0),
            before_step=lost_lock,
        )
    assert world.applies == ["a"]


def test_wait_until_returns_false_at_the_deadline_without_real_sleep() -> None:
    clock = FakeClock(1_000.0)
    start = time.monotonic()
    assert wait_until(lambda: False, clock=clock, timeout=3600, poll=5, max_poll=60) is False
    assert time.monotonic() - start < 2
    assert clock.t - 1_000.0 >= 3600


def test_plan_json_names_call_endpoint_plane_and_undo() -> None:
    s = step(Switch(World(), "a"))
    assert plan(s).to_json() == {
        "command": "fake",
        "params": {"region": "us-west-2"},
        "steps": [
            {
                "id": "switch:a",
                "title": "turn on a",
                "call": "fake:TurnOn",
                "params": {"Name": "a"},
                "region": "us-west-2",
                "plane": "data",
                "plane_region": None,
                "undoable": True,
                "undo": "turn off a",
                "timeout_seconds": 60.0,
            }
        ],
        "notes": [],
    }


def test_events_are_frozen_values() -> None:
    e = Event("step-start", 1, 1, step(Switch(World(), "a")))
    with pytest.raises(AttributeError):
        e.index = 2  # type: ignore[misc]
