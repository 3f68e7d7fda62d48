"""Live progress during waits: the engine's callback and the command layer's two forms.

The engine reports each poll of a step that has not settled as a ``step-waiting`` event
(what was observed, time waited, deadline); ``commands/_mutation.progress_printer`` shows
it on the live status line of a terminal, or as plain lines when piped or with
``--output json``.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from mr_failover.commands._mutation import PLAIN_WAIT_EVERY, progress_printer
from mr_failover.engine.executor import execute, wait_until
from mr_failover.engine.plan import Event
from mr_failover.errors import AwsCallError
from tests.clocks import FakeClock
from tests.unit.test_plan import Switch, World, plan, step


def _events(*actions: Switch, timeout: float = 60.0) -> list[Event]:
    events: list[Event] = []
    execute(
        plan(*(step(a, timeout=timeout) for a in actions)),
        clock=FakeClock(),
        on_event=events.append,
    )
    return events


def test_each_poll_before_the_effect_holds_reports_what_was_observed() -> None:
    events = _events(Switch(World(), "a", settle_after=3))
    waiting = [e for e in events if e.kind == "step-waiting"]
    assert [e.detail for e in waiting] == [f"a polled {n} times" for n in (1, 2, 3)]
    assert [e.deadline for e in waiting] == [60.0] * 3
    seconds = [e.seconds for e in waiting]
    assert seconds[0] == 0.0 and seconds == sorted(seconds) and seconds[2] > seconds[1] > 0
    assert all((e.index, e.total, e.step.id) == (1, 1, "switch:a") for e in waiting)
    kinds = [e.kind for e in events]
    assert kinds == ["step-start", "step-applied", *["step-waiting"] * 3, "step-done"]


def test_a_step_that_holds_at_once_reports_no_wait() -> None:
    assert [e.kind for e in _events(Switch(World(), "a"))] == [
        "step-start",
        "step-applied",
        "step-done",
    ]


def test_a_failed_poll_is_reported_with_its_error() -> None:
    events = _events(Switch(World(), "a", flaky_polls=1))
    (waiting,) = [e for e in events if e.kind == "step-waiting"]
    assert waiting.detail == str(
        AwsCallError("us-west-2", "fake:Describe", "throttled (Throttling)")
    )


def test_wait_until_hears_every_poll() -> None:
    heard: list[tuple[bool, float, str | None]] = []
    answers = iter([False, False, True])
    clock = FakeClock()
    assert wait_until(
        lambda: next(answers),
        clock=clock,
        timeout=100,
        poll=1,
        max_poll=1,
        on_poll=lambda ok, elapsed, error: heard.append((ok, elapsed, error)),
    )
    assert [ok for ok, _, _ in heard] == [False, False, True]
    assert [elapsed for _, elapsed, _ in heard] == [0.0, clock.sleeps[0], clock.slept]


class FakeStatus:
    def __init__(self) -> None:
        self.shown: list[str] = []

    def update(self, text: Any) -> None:
        self.shown.append(str(text))


def _waiting(detail: str, seconds: float, index: int = 1) -> Event:
    action = Switch(World(), "a")
    return Event("step-waiting", index, 2, step(action), detail, seconds, 600.0)


def test_plain_lines_say_the_step_what_is_polled_the_value_and_the_time() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    show = progress_printer(console, FakeStatus(), plain=True)
    show(_waiting("a is [b]pending[/b]", 0.0))
    show(_waiting("a is [b]pending[/b]", 2.0))  # same value, soon after: no new line
    show(_waiting("a is [b]pending[/b]", PLAIN_WAIT_EVERY + 1))  # still waiting: a reminder
    show(_waiting("a is settling", PLAIN_WAIT_EVERY + 3))  # a new value: at once
    head = "[1/2] turn on a: waiting for fake:TurnOn in us-west-2: "
    assert out.getvalue().splitlines() == [
        head + "a is [b]pending[/b] (0s, deadline 600s)",
        head + "a is [b]pending[/b] (16s, deadline 600s)",
        head + "a is settling (18s, deadline 600s)",
    ]


def test_on_a_terminal_the_live_status_line_shows_the_wait() -> None:
    out = io.StringIO()
    status = FakeStatus()
    show = progress_printer(Console(file=out), status, plain=False)
    show(_waiting("a is pending", 4.0))
    show(_waiting("a is pending", 6.0))
    assert status.shown == [
        f"[1/2] turn on a: waiting for fake:TurnOn in us-west-2: a is pending ({s}s, deadline 600s)"
        for s in (4, 6)
    ]
    assert out.getvalue() == ""  # nothing printed between the status line's updates


def test_control_characters_from_aws_do_not_reach_the_terminal() -> None:
    out = io.StringIO()
    show = progress_printer(Console(file=out, width=200), FakeStatus(), plain=True)
    show(_waiting("evil\x1b[2J\nline", 1.0))
    assert "\x1b" not in out.getvalue() and len(out.getvalue().splitlines()) == 1


def test_plain_lines_when_not_a_terminal_or_with_output_json() -> None:
    from mr_failover.cli import AppContext
    from mr_failover.commands._mutation import plain_progress

    def app(output: str) -> AppContext:
        return AppContext(config="x", output=output, endpoint_url=None, color=False)

    terminal = Console(file=io.StringIO(), force_terminal=True)
    piped = Console(file=io.StringIO())
    assert plain_progress(app("table"), terminal) is False
    assert plain_progress(app("json"), terminal) is True
    assert plain_progress(app("table"), piped) is True
