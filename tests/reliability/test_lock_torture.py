"""Lock torture: operators with skewed clocks, killed at random, on a lossy, slow network.

Each round, ``OPERATORS`` operators (threads of this process, each with its own client
factory, its own clock and its own "process" that can be killed) all start a mutating
run at once through the engine's real lifecycle (:func:`mr_failover.engine.run.run`:
account guard, plan, lock, re-check, journal, execute, release) against the sandbox.
Each operator's clock is off by a random skew of up to ±10 minutes (wall time only: its
monotonic clock is the machine's). A killer stops one operator at a random moment in
most rounds, like ``kill -9``: from then on each of its AWS calls and sleeps blocks
forever, so it never renews, releases or journals again. The sandbox drops (503) and
delays calls: DynamoDB (the lock) and SSM (the work) answer 10 % 503s, SSM adds latency.
The lease is 3 s (heartbeat every second) so that rounds are short.

An operator refused because the lock is held retries until the round's deadline. A run
is three ``ssm:PutParameter`` steps in the operator's own region, each followed by a
short settle, so the sandbox's call log tells whose calls they are.

Invariant, from the sandbox's call log: the served mutating calls of different runs
never interleave: sorted by their first call, each run's calls start after the previous
run's last call. Progress: after the round, every run the journal holds that did not
succeed (killed, or stopped by a lost lease) is resumed by a recovery operator, and must
then succeed; a run that left no journal changed nothing.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from mr_failover.aws import ClientFactory, Timeouts, error_code
from mr_failover.engine import journal, lock, run
from mr_failover.engine.plan import Plan, Step, StepAction
from mr_failover.errors import MrFailoverError, RefusedError
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.topology import Topology

OPERATORS = 4
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")  # one per operator
STEPS = 3
LEASE = 3.0
SKEW = 600.0  # ±10 minutes
KILL_CHANCE = 0.7
ROUND_SECONDS = 14.0


class Killed(BaseException):
    """Never raised in practice: a killed operator blocks forever (see Switch)."""


class Switch:
    """An operator's process: once killed, every AWS call and sleep blocks for good."""

    def __init__(self) -> None:
        self.killed = threading.Event()
        self._never = threading.Event()

    def gate(self, **_: Any) -> None:
        if self.killed.is_set():
            self._never.wait()
            raise Killed


class OperatorFactory(ClientFactory):
    """A client factory whose calls pass the operator's switch first."""

    def __init__(self, endpoint_url: str, switch: Switch, timeouts: Timeouts | None = None):
        super().__init__(None, endpoint_url=endpoint_url, timeouts=timeouts)
        self.switch = switch
        self._hooked: set[int] = set()

    def with_timeouts(self, timeouts: Timeouts) -> ClientFactory:
        other = OperatorFactory(str(self.endpoint_url), self.switch, timeouts)
        other._lock, other._sessions, other._making = self._lock, self._sessions, self._making
        return other

    def client(self, service: str, region: str, *, endpoint_url: str | None = None) -> Any:
        made = super().client(service, region, endpoint_url=endpoint_url)
        if id(made) not in self._hooked:
            made.meta.events.register("before-send", self.switch.gate)
            self._hooked.add(id(made))
        return made


class SkewedClock:
    """Wall time ``skew`` seconds off; real monotonic time; sleeps pass the switch."""

    def __init__(self, skew: float, switch: Switch) -> None:
        self.skew = skew
        self.switch = switch

    def time(self) -> float:
        return time.time() + self.skew

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.switch.gate()
        time.sleep(seconds)
        self.switch.gate()


class Put(StepAction):
    """ssm:PutParameter of this run's value; it settles after a short hold (the work)."""

    def __init__(self, client: Any, name: str, value: str, clock: SkewedClock) -> None:
        self.client = client
        self.name = name
        self.value = value
        self.clock = clock
        self.applied_at: float | None = None

    def holds(self) -> bool:
        try:
            found = self.client.get_parameter(Name=self.name)["Parameter"]["Value"]
        except Exception as exc:
            if error_code(exc) == "ParameterNotFound":
                return False
            raise
        return bool(found == self.value)

    def apply(self) -> None:
        self.client.put_parameter(Name=self.name, Value=self.value, Type="String", Overwrite=True)
        self.applied_at = self.clock.monotonic()

    def settled(self) -> bool:
        return self.applied_at is None or self.clock.monotonic() >= self.applied_at + 0.15


class Work(run.Job):
    """STEPS puts in ``region``; the value names the run, so a resume finds its own."""

    def __init__(self, factory: ClientFactory, region: str, clock: SkewedClock) -> None:
        self.factory = factory
        self.region = region
        self.clock = clock

    def plan(self) -> Plan:
        region = str(self.info.params["work_region"])
        client = self.factory.client("ssm", region)
        steps = tuple(
            Step(
                id=f"ssm:put:{region}:{k}",
                title=f"put /torture/{region}/{k}",
                service="ssm",
                call="PutParameter",
                params={"Name": f"/torture/{region}/{k}"},
                region=region,
                plane="data",
                plane_region=None,
                undoable=False,
                timeout=20.0,
                poll=0.05,
                max_poll=0.1,
                action=Put(client, f"/torture/{region}/{k}", self.info.run_id, self.clock),
            )
            for k in range(STEPS)
        )
        return Plan("torture", dict(self.info.params), steps)


@dataclass
class Tally:
    rounds: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    notices: Counter[str] = field(default_factory=Counter)
    resumed: int = 0
    intervals: int = 0


def attempt(
    topology: Topology,
    factory: ClientFactory,
    clock: SkewedClock,
    params: dict[str, Any],
    deadline: float,
    tally: Tally,
    resume: str | None = None,
) -> str:
    """One operator's run, retried while the lock is held, until ``deadline``."""
    rng = random.Random()

    def notice(text: str) -> None:
        if "watching its heartbeat" in text:
            tally.notices["watched a lease that looked expired"] += 1
        elif text.startswith("took over"):
            tally.notices["took over a dead lease"] += 1
        else:
            tally.notices[text.split(":")[0]] += 1

    while time.monotonic() < deadline:
        request = run.Request("torture", params, yes=True, resume=resume)
        try:
            run.run(
                topology,
                factory,
                request,
                Work(factory, str(params.get("work_region", "")), clock),
                run.Hooks(notice=notice),
                clock=clock,
                lease_ttl=LEASE,
            )
        except RefusedError as exc:
            text = str(exc)
            if "another operation is running" in text or "changed while taking" in text:
                clock.sleep(rng.uniform(0.1, 0.4))
                continue
            return "stopped: " + text.split(":")[0]
        except MrFailoverError as exc:
            return "failed: " + str(exc)[:60]
        return "succeeded"
    return "gave up (lock held)"


def operate(
    topology: Topology,
    sandbox: Sandbox,
    switch: Switch,
    skew: float,
    region: str,
    deadline: float,
    *,
    results: dict[int, str],
    index: int,
    tally: Tally,
) -> None:
    """One operator's round: its own factory and clock, one run retried until done."""
    factory = OperatorFactory(sandbox.endpoint_url, switch)
    clock = SkewedClock(skew, switch)
    results[index] = attempt(topology, factory, clock, {"work_region": region}, deadline, tally)


def holder(
    control: SandboxClient, sandbox: Sandbox, topology: Topology, deadline: float
) -> int | None:
    """The operator whose run holds the lock (once its journal exists), if any soon."""
    factory = ClientFactory(None, endpoint_url=sandbox.endpoint_url)
    while time.monotonic() < deadline - 4:
        try:
            state = lock.read(factory, topology)
        except MrFailoverError:
            continue
        if state.held and state.owner is not None:
            try:
                region = journal.read_run(state.owner.run_id).params["work_region"]
            except MrFailoverError:
                region = None  # taken, not journaled yet
            if region in REGIONS:
                return REGIONS.index(region)
        time.sleep(0.05)
    return None


def intervals(calls: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    by_region: dict[str, list[float]] = {}
    for c in calls:
        if c["service"] == "ssm" and c["action"] == "PutParameter" and 200 <= c["status"] < 300:
            by_region.setdefault(c["region"], []).append(float(c["time"]))
    return sorted((min(ts), max(ts), region) for region, ts in by_region.items())


def assert_no_overlap(spans: list[tuple[float, float, str]]) -> None:
    for (_, end, before), (start, _, after) in itertools.pairwise(spans):
        assert start > end, f"{after} mutated from {start:.3f} while {before} did until {end:.3f}"


def torture(
    rounds: int,
    sandbox: Sandbox,
    control: SandboxClient,
    topology: Topology,
    seed: int,
) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for region in REGIONS:
        control.fail_region(region, service="ssm", kind="error5xx", rate=0.1)
    control.fail_region("us-east-1", service="dynamodb", kind="error5xx", rate=0.1)
    control.fail_region("us-west-2", service="ssm", kind="latency", ms=120)
    control.fail_region("eu-west-1", service="ssm", kind="latency", ms=60)
    recovery_switch = Switch()
    recovery = (
        OperatorFactory(sandbox.endpoint_url, recovery_switch),
        SkewedClock(0.0, recovery_switch),
    )
    recovered: set[str] = set()
    for _ in range(rounds):
        mark = len(control.calls())
        switches = [Switch() for _ in range(OPERATORS)]
        results: dict[int, str] = {}
        deadline = time.monotonic() + ROUND_SECONDS

        skews = [rng.uniform(-SKEW, SKEW) for _ in range(OPERATORS)]
        threads = [
            threading.Thread(
                target=operate,
                args=(topology, sandbox, switches[i], skews[i], REGIONS[i], deadline),
                kwargs={"results": results, "index": i, "tally": tally},
                daemon=True,
            )
            for i in range(OPERATORS)
        ]
        for t in threads:
            t.start()
        if rng.random() < KILL_CHANCE:
            victim = holder(control, sandbox, topology, deadline) if rng.random() < 0.7 else None
            time.sleep(rng.uniform(0.0, 1.5))
            switches[rng.randrange(OPERATORS) if victim is None else victim].killed.set()
        for t, switch in zip(threads, switches, strict=True):
            while t.is_alive() and not switch.killed.is_set():
                t.join(timeout=0.1)
        for i, t in enumerate(threads):
            tally.outcomes["killed" if t.is_alive() else results[i]] += 1
        main = intervals(control.calls()[mark:])
        assert_no_overlap(main)
        tally.intervals += len(main)

        # Every run with a journal either succeeded or is resumed now, and then succeeds.
        for record in journal.list_runs():
            if record.outcome == "succeeded" or record.run_id in recovered:
                continue
            recovered.add(record.run_id)
            before = len(control.calls())
            outcome = attempt(
                topology,
                *recovery,
                dict(record.params),
                time.monotonic() + 4 * LEASE + 10,
                tally,
                resume=record.run_id,
            )
            assert outcome == "succeeded", (record.run_id, record.outcome, outcome)
            assert journal.read_run(record.run_id).outcome == "succeeded"
            spans = intervals(control.calls()[before:])
            assert len(spans) <= 1  # only the resumed run mutated meanwhile
            assert_no_overlap(sorted(main + spans))
            tally.resumed += 1
        tally.rounds += 1
    return tally


def report(tally: Tally) -> str:
    return (
        f"{tally.rounds} rounds, {sum(tally.outcomes.values())} operator attempts: "
        f"{dict(tally.outcomes)}; resumed {tally.resumed}; {tally.intervals} runs mutated, "
        f"none overlapping; lock notices {dict(tally.notices)}"
    )


@pytest.fixture
def torture_env(e2e_env: dict[str, str], e2e_topology: Topology, quick_backoff: None) -> Topology:
    return e2e_topology


@pytest.mark.parametrize(
    "rounds",
    [6, pytest.param(24, marks=[pytest.mark.heavy(seconds=170), pytest.mark.timeout(900)])],
)
def test_operators_with_skewed_clocks_killed_on_a_lossy_network_never_overlap(
    rounds: int,
    torture_env: Topology,
    e2e_sandbox: Sandbox,
    control: SandboxClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    tally = torture(rounds, e2e_sandbox, control, torture_env, seed=rounds)
    assert tally.rounds == rounds
    assert tally.outcomes["succeeded"] >= rounds  # progress: at least one run per round
    assert tally.intervals >= rounds
    with capsys.disabled():
        print(f"\nlock torture: {report(tally)} in {time.monotonic() - started:.0f}s")
