"""The executor: runs a :class:`~mr_failover.engine.plan.Plan` step by step.

Each step's action must be idempotent: the executor asks whether its change already holds
(then skips it), applies it, polls until its effect takes hold (tenacity, with a deadline
measured on the injected clock) and verifies it from a fresh read. Progress goes to a
callback and intent/outcome to a :class:`~mr_failover.engine.plan.Recorder` (the
journal); the executor never prints.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from mr_failover.engine.plan import (
    Clock,
    Event,
    Plan,
    Recorder,
    RunResult,
    Step,
    StepAction,
    StepOutcome,
    StepStatus,
    SystemClock,
)
from mr_failover.errors import EXIT_FAILED, AwsCallError, MrFailoverError


class StepFailedError(MrFailoverError):
    """A step failed; names the step, the region, the call and the error."""

    exit_code = EXIT_FAILED

    def __init__(self, step: Step, index: int, total: int, detail: str) -> None:
        self.step = step
        self.index = index
        self.total = total
        self.detail = detail
        self.run_id: str | None = None
        super().__init__(detail)

    def __str__(self) -> str:
        s = self.step
        text = (
            f"step {self.index}/{self.total} '{s.title}' failed "
            f"({s.service}:{s.call} in {s.region}): {self.detail}"
        )
        if self.run_id:
            text += f"; fix the cause, then resume with --resume {self.run_id}"
        return text


class _StopAt(stop_base):
    """Stop at a deadline on the injected clock (tenacity's stop_after_delay reads the real
    one, which would make tests sleep)."""

    def __init__(self, clock: Clock, deadline: float) -> None:
        self.clock = clock
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock.monotonic() >= self.deadline


# After each poll: (settled?, seconds since the wait started, the poll's error or None).
OnPoll = Callable[[bool, float, "str | None"], None]


def wait_until(
    check: Callable[[], bool],
    *,
    clock: Clock,
    timeout: float,
    poll: float = 2.0,
    max_poll: float = 2.0,
    on_poll: OnPoll | None = None,
) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` passes on ``clock``.

    Transient AWS errors (throttling, a slow region) are retried too; the last one is
    raised if the deadline passes while failing. ``on_poll`` hears of every poll (live
    progress: the command shows what the wait is at).
    """
    started = clock.monotonic()

    def attempt() -> bool:
        try:
            ok = bool(check())
        except AwsCallError as exc:
            if on_poll is not None:
                on_poll(False, clock.monotonic() - started, str(exc))
            raise
        if on_poll is not None:
            on_poll(ok, clock.monotonic() - started, None)
        return ok

    retrying = Retrying(
        stop=_StopAt(clock, started + timeout),
        wait=wait_exponential_jitter(multiplier=poll, max=max_poll, jitter=poll / 2),
        sleep=clock.sleep,
        retry=retry_if_result(lambda ok: not ok) | retry_if_exception_type(AwsCallError),
        reraise=True,
    )
    try:
        return bool(retrying(attempt))
    except RetryError:
        return False


# Given a wait's deadline (and what to say when the action observes nothing), its on_poll.
Waiting = Callable[[float, Callable[[], str] | None], OnPoll]


def _waiting(
    emit: Callable[[Event], None], index: int, total: int, step: Step, action: StepAction
) -> Waiting:
    """The ``on_poll`` of a step's wait: a ``step-waiting`` event while it is not settled."""

    def for_deadline(deadline: float, otherwise: Callable[[], str] | None = None) -> OnPoll:
        def on_poll(ok: bool, elapsed: float, error: str | None) -> None:
            if not ok:
                seen = error or action.state() or (otherwise() if otherwise else "")
                emit(Event("step-waiting", index, total, step, seen, elapsed, deadline))

        return on_poll

    return for_deadline


def execute(
    plan: Plan,
    *,
    clock: Clock | None = None,
    recorder: Recorder | None = None,
    on_event: Callable[[Event], None] | None = None,
    completed: Collection[str] = (),
    before_step: Callable[[Step], None] | None = None,
    applied_at: Mapping[str, float] | None = None,
) -> RunResult:
    """Run ``plan`` in order; stop at the first failing step (StepFailedError).

    ``completed`` holds ids of steps an earlier attempt of the same run finished (from
    the journal): they are not applied again, only checked to still hold.
    ``before_step`` runs before each step (the lock's "still mine?" check).
    ``applied_at``: wall times at which earlier attempts applied steps (from the
    journal), so that a wait (:class:`~mr_failover.engine.plan.Wait`) resumes with
    what remains of it.
    """
    clock = clock or SystemClock()
    emit = on_event or (lambda _e: None)
    total = len(plan.steps)
    outcomes: list[StepOutcome] = []
    earlier = dict(applied_at or {})
    applied: dict[str, float] = {}  # this attempt's
    started = clock.monotonic()
    for index, step in enumerate(plan.steps, start=1):
        if before_step is not None:
            before_step(step)
        if step.action is None:
            raise ValueError(f"step {step.id} has no action: a display-only plan cannot run")
        action = step.action
        if recorder is not None:
            recorder.intent(step, index)
        emit(Event("step-start", index, total, step))
        waiting = _waiting(emit, index, total, step, action)
        t0 = clock.monotonic()
        status: StepStatus
        try:
            if step.wait is not None:
                status, detail = _wait(
                    step, action, clock, recorder, applied, earlier, completed, waiting
                )
                if status == "skipped":
                    emit(Event("step-skipped", index, total, step, detail))
                else:
                    emit(Event("step-applied", index, total, step, detail))
            elif action.holds():
                status = "skipped"
                detail = (
                    "done by an earlier attempt of this run"
                    if step.id in completed
                    else "already in place"
                )
                emit(Event("step-skipped", index, total, step, detail))
            elif step.id in completed:
                # Re-applying would repeat a mutation the journal says was made: someone
                # changed it back since. A human must decide, not a resume.
                raise MrFailoverError(
                    "the journal says this step completed, but its change no longer holds "
                    "(changed since?); check the state and start a new run"
                )
            else:
                action.apply()
                status = "applied"
                detail = "applied"
                emit(Event("step-applied", index, total, step, detail))
            if not wait_until(
                action.settled,
                clock=clock,
                timeout=step.timeout,
                poll=step.poll,
                max_poll=step.max_poll,
                on_poll=waiting(step.timeout, None),
            ):
                raise MrFailoverError(
                    f"its effect did not take hold within {step.timeout:g}s: {action.state()}"
                )
            problem = action.verify()
            if problem:
                raise MrFailoverError(f"verification failed: {problem}")
        except MrFailoverError as exc:
            failed = StepOutcome(step.id, "failed", clock.monotonic() - t0, str(exc))
            outcomes.append(failed)
            if recorder is not None:
                recorder.outcome(failed)
            emit(Event("step-failed", index, total, step, str(exc), failed.seconds))
            raise StepFailedError(step, index, total, str(exc)) from None
        except BaseException as exc:
            # A bug or Ctrl-C: journal it, then let it propagate with its traceback.
            kind: StepStatus = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            broken = StepOutcome(step.id, kind, clock.monotonic() - t0, repr(exc))
            if recorder is not None:
                recorder.outcome(broken)
            raise
        done = StepOutcome(step.id, status, clock.monotonic() - t0, detail)
        if status == "applied" and step.wait is None:
            applied[step.id] = clock.time()
        outcomes.append(done)
        if recorder is not None:
            recorder.outcome(done)
        emit(Event("step-done", index, total, step, detail, done.seconds))
    return RunResult(tuple(outcomes), clock.monotonic() - started)


def _wait(
    step: Step,
    action: StepAction,
    clock: Clock,
    recorder: Recorder | None,
    applied: Mapping[str, float],
    earlier: Mapping[str, float],
    completed: Collection[str],
    waiting: Waiting,
) -> tuple[StepStatus, str]:
    """Run a :class:`~mr_failover.engine.plan.Wait` step's wait; (status, detail).

    The wait is measured from the wall time at which this run applied the latest change
    it waits after (the journal's time when an earlier attempt applied it), so that an
    interrupted wait, resumed, waits only the rest. Wall time is the only clock two
    attempts share (they may run on two machines): a clock that jumped or two clocks that
    disagree can shorten or lengthen the rest, never beyond the whole wait.
    """
    assert step.wait is not None
    if step.id in completed:
        return "skipped", "done by an earlier attempt of this run"
    now = [applied[s] for s in step.wait.after if s in applied]
    before = [earlier[s] for s in step.wait.after if s in earlier and s not in applied]
    if not now and not before:
        return "skipped", "nothing this run changed: no wait"
    since = max(now + before)
    seconds = step.wait.seconds
    remaining = min(max(seconds - (clock.time() - since), 0.0), seconds)
    if recorder is not None:
        recorder.wait(step, since=since, seconds=seconds, remaining=remaining)
    deadline = clock.monotonic() + remaining
    if not wait_until(
        lambda: action.settled() and clock.monotonic() >= deadline,
        clock=clock,
        timeout=remaining + step.timeout,
        poll=min(step.poll, max(remaining, 0.01)),
        max_poll=step.max_poll,
        on_poll=waiting(
            remaining + step.timeout,
            lambda: f"{max(deadline - clock.monotonic(), 0.0):.0f}s of the {seconds:g}s wait left",
        ),
    ):
        raise MrFailoverError(f"the wait did not end within {step.timeout:g}s: {action.state()}")
    if not now:  # resumed: the change was an earlier attempt's
        return "applied", f"waited the remaining {remaining:.0f}s of {seconds:g}s"
    return "applied", "applied"
