"""Mutating commands in the sandbox: the tool's own overhead, and how fast it notices.

Run: ``.venv/bin/python bench/bench_actions.py [--runs N] [--detect-runs N] [--skip-waits]
[--fast-sandbox] [--quick]``.

Overhead: each mutating command that exists (health-check invert/restore, drain/undrain,
promote switchover there and back; picked from the CLI's command table) runs in-process
against a sandbox seeded with config/regions.yaml. Wall time minus the time the
executor spent sleeping between polls (waiting on AWS-side transitions, counted by an
instrumented clock) is the overhead: CLI parsing, topology load, account guard, plan
reads, lock, journal, the calls themselves. Medians over ``--runs``. Goal: under 1 s.

Detection delay: a watcher thread polls the sandbox every 20 ms for the state change a
step waits for (Aurora writer moved; a healed region's health check healthy again) and
notes when it happens; the tool "notices" when the step is reported done. Goal: within
one polling interval, at most 2 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import quick

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "regions.yaml"
EAST, WEST = "us-east-1", "us-west-2"
WATCH_EVERY = 0.02
# --fast-sandbox (--quick): AWS-side transitions in a fraction of the sandbox's defaults.
FAST = {"aurora_failover_seconds": 0.5, "health_check_interval": 0.2}


@dataclass
class TimingClock:
    """The real clock, counting the seconds the executor sleeps (its waits on AWS)."""

    slept: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        t0 = time.perf_counter()
        time.sleep(seconds)
        took = time.perf_counter() - t0
        self.slept += took
        self.sleeps.append(took)


@dataclass
class SandboxWaits(TimingClock):
    """The executor's clock on the sandbox's: a wait advances it and returns at once.

    ``slept`` (real sleeping, what bench_actions subtracts from wall time) stays 0, so the
    whole wall time is the tool's overhead; ``skipped`` counts the sandbox seconds waited.
    """

    sandbox: Any = None
    skipped: float = 0.0

    def monotonic(self) -> float:
        return float(self.sandbox.now())

    def sleep(self, seconds: float) -> None:
        self.sandbox.advance(seconds)
        self.skipped += seconds


@dataclass
class Run:
    wall: float
    waited: float
    ok: bool
    output: str
    done_at: dict[str, float]  # step title -> perf_counter when reported done
    exit_code: int = 0

    @property
    def overhead(self) -> float:
        return self.wall - self.waited


@contextmanager
def captured_steps(done_at: dict[str, float]) -> Iterator[None]:
    """Note when each step is reported done (wraps the commands' progress callback)."""
    from mr_failover.commands import _mutation

    real = _mutation.progress_printer

    def progress(console: Any, status: Any, **kwargs: Any) -> Callable[[Any], None]:
        inner = real(console, status, **kwargs)

        def on_event(event: Any) -> None:
            if event.kind == "step-done":
                done_at[event.step.title] = time.perf_counter()
            inner(event)

        return on_event

    _mutation.progress_printer = progress  # type: ignore[assignment]
    try:
        yield
    finally:
        _mutation.progress_printer = real  # type: ignore[assignment]


def run_cli(*args: str, clock: TimingClock | None = None) -> Run:
    """Run ``mr-failover ARGS`` in-process; ``clock`` (default: the real one) times the waits."""
    from click.testing import CliRunner

    from mr_failover.cli import cli
    from mr_failover.commands import _mutation

    clock = clock or TimingClock()
    done_at: dict[str, float] = {}
    _mutation.CLOCK = clock
    try:
        with captured_steps(done_at):
            t0 = time.perf_counter()
            result = CliRunner().invoke(cli, list(args))
            wall = time.perf_counter() - t0
    finally:
        _mutation.CLOCK = None
    return Run(wall, clock.slept, result.exit_code == 0, result.output, done_at, result.exit_code)


@dataclass(frozen=True)
class Op:
    name: str
    command: str  # must be in the CLI's COMMANDS
    forward: tuple[str, ...]
    back: tuple[str, ...]


OPS = (
    Op(
        "health-check invert/restore",
        "health-check",
        ("health-check", "invert", "--region", EAST, "--yes"),
        ("health-check", "restore", "--region", EAST, "--yes"),
    ),
    Op(
        "drain/undrain (no scaling)",
        "drain",
        ("drain", "--region", EAST, "--no-scale-up", "--yes"),
        ("undrain", "--region", EAST, "--no-scale-back", "--yes"),
    ),
    Op(
        "promote switchover/back",
        "promote",
        ("promote", "--region", WEST, "--mode", "switchover", "--yes"),
        ("promote", "--region", EAST, "--mode", "switchover", "--yes"),
    ),
    # A whole game day: drain, promote, verify, hold 1 s, fail back. It waits out two real
    # record TTLs (60 s each), so it runs once whatever --runs says; "back" only checks
    # that every region serves again.
    Op(
        "drill evacuate + failback",
        "drill",
        ("drill", "evacuate", "--region", EAST, "--hold", "1", "--yes"),
        # A deadline a loaded machine cannot miss: this checks the end state, not speed.
        ("status", "--deadline", "60"),
    ),
)


def available_ops() -> list[Op]:
    from mr_failover.cli import COMMANDS

    return [op for op in OPS if op.command in COMMANDS and op.back[0] in COMMANDS]


_SEEDED: dict[int, tuple[Any, Any]] = {}  # id(sandbox) -> (seeded topology, checkpoint)


def fresh(sandbox: Any, workdir: Path) -> Any:
    """Reset and seed the sandbox; point the CLI at the seeded topology and a new state dir.

    The first call per sandbox seeds and takes a checkpoint; later ones restore it (the
    same resources and ids in milliseconds: mr_failover.sandbox.snapshot). Seeding is
    never part of a figure.
    """
    from mr_failover import topology as topo
    from mr_failover.aws import ClientFactory
    from mr_failover.sandbox.seed import seed
    from mr_failover.sandbox.snapshot import checkpoint, restore

    sandbox.reset()
    if id(sandbox) in _SEEDED:
        seeded, saved = _SEEDED[id(sandbox)]
        restore(sandbox, saved)
    else:
        factory = ClientFactory(None, endpoint_url=sandbox.endpoint_url)
        seeded = seed(topo.load(EXAMPLE), factory)
        _SEEDED[id(sandbox)] = (seeded, checkpoint(sandbox))
    # One health-checking round now: its CloudWatch datapoints are what the tool reads a
    # check's health from (a restored checkpoint's are as old as the checkpoint).
    sandbox.advance(sandbox.settings.health_check_interval)
    config = workdir / "regions.yaml"
    config.write_text(topo.dump(seeded))
    state = Path(tempfile.mkdtemp(dir=workdir))
    os.environ["MR_FAILOVER_CONFIG"] = str(config)
    os.environ["MR_FAILOVER_STATE_DIR"] = str(state)
    return seeded.model_copy(deep=True)


def measure_overhead(sandbox: Any, workdir: Path, runs: int, skip_waits: bool = False) -> None:
    how = "waits skipped on the sandbox clock" if skip_waits else "real waits"
    print(f"overhead (wall - waits), median of {runs} run(s), in-process CLI, {how}:")
    for op in available_ops():
        fresh(sandbox, workdir)
        rows: dict[str, list[Run]] = {"forward": [], "back": []}
        failed = ""
        for _ in range(1 if op.command == "drill" else runs):
            for leg, args in (("forward", op.forward), ("back", op.back)):
                clock = SandboxWaits(sandbox=sandbox) if skip_waits else TimingClock()
                run = run_cli(*args, clock=clock)
                if not run.ok:
                    tail = run.output.strip().splitlines()[-1:]
                    failed = f"(exit {run.exit_code}) {' '.join(args)}: {tail}"
                    break
                rows[leg].append(run)
            if failed:
                break
        if failed:
            print(f"  {op.name:36s} FAILED {failed}")
            continue
        for leg, args in (("forward", op.forward), ("back", op.back)):
            got = rows[leg]
            label = " ".join(a for a in args if a not in ("--yes", "--region", "--mode"))
            print(
                f"  {label:36s} wall {med(r.wall for r in got):6.3f}s  "
                f"waits {med(r.waited for r in got):6.3f}s  "
                f"overhead {med(r.overhead for r in got):6.3f}s  "
                f"(max {max(r.overhead for r in got):.3f}s)"
            )


def med(values: Any) -> float:
    return statistics.median(list(values))


def watch(predicate: Callable[[], bool], stop: threading.Event) -> list[float]:
    """Start a thread noting (perf_counter) when ``predicate`` first holds."""
    seen: list[float] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                if predicate():
                    seen.append(time.perf_counter())
                    return
            except Exception:  # a transient read error: look again
                pass
            time.sleep(WATCH_EVERY)

    threading.Thread(target=loop, daemon=True).start()
    return seen


def detect_aurora(sandbox: Any, workdir: Path, runs: int) -> list[float]:
    from mr_failover.aws import ClientFactory

    fresh(sandbox, workdir)
    rds = ClientFactory(None, endpoint_url=sandbox.endpoint_url).client("rds", EAST)
    delays = []
    for i in range(runs):
        target = (WEST, EAST)[i % 2]

        def moved(target: str = target) -> bool:
            (gc,) = rds.describe_global_clusters(GlobalClusterIdentifier="arc309-global")[
                "GlobalClusters"
            ]
            writers = [m for m in gc["GlobalClusterMembers"] if m["IsWriter"]]
            return (
                "FailoverState" not in gc
                and len(writers) == 1
                and f":{target}:" in writers[0]["DBClusterArn"]
            )

        stop = threading.Event()
        seen = watch(moved, stop)
        run = run_cli("promote", "--region", target, "--mode", "switchover", "--yes")
        stop.set()
        if not run.ok or not seen or not run.done_at:
            print(f"  promote to {target}: no measure ({run.output.strip()[-200:]})")
            continue
        # The Aurora step itself: promote goes on to the ElastiCache datastore after it.
        done = [t for title, t in run.done_at.items() if title.startswith("switch over")]
        delays.append(done[0] - seen[0])
    return delays


def detect_health_check(sandbox: Any, workdir: Path, runs: int) -> list[float]:
    from mr_failover.aws import ClientFactory
    from mr_failover.sandbox.client import SandboxClient

    control = SandboxClient(sandbox.endpoint_url, token=sandbox.token)
    delays = []
    for _ in range(runs):
        seeded = fresh(sandbox, workdir)
        r53 = ClientFactory(None, endpoint_url=sandbox.endpoint_url).client("route53", EAST)
        (check,) = seeded.regions[WEST].traffic.health_checks
        assert run_cli("health-check", "invert", "--region", WEST, "--yes").ok
        control.fail_region(WEST)

        # The bench's own observer (a development diagnostic, what GetHealthCheckStatus is
        # for); the tool reads Route 53's per-minute CloudWatch metrics instead.
        def checkers(ok: bool, r53: Any = r53, check_id: str | None = check.id) -> bool:
            obs = r53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
            return bool(obs) and all(
                o["StatusReport"]["Status"].startswith("Success") == ok for o in obs
            )

        while not checkers(False):
            time.sleep(WATCH_EVERY)
        result: list[Run] = []
        worker = threading.Thread(
            target=lambda out=result: out.append(
                run_cli("health-check", "restore", "--region", WEST, "--yes")
            )
        )
        worker.start()
        time.sleep(1.0)  # the restore is waiting now
        stop = threading.Event()
        control.heal_region(WEST)
        seen = watch(lambda: checkers(True), stop)
        worker.join(timeout=120)
        stop.set()
        if not result or not result[0].ok or not seen:
            print(f"  restore after heal: no measure ({result[0].output[-200:] if result else ''})")
            continue
        delays.append(max(result[0].done_at.values()) - seen[0])
    return delays


def sandbox_env() -> None:
    """Dummy credentials, no profile, no colour: the sandbox takes any key, and a real
    profile is never read."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=EAST,
        NO_COLOR="1",
    )
    os.environ.pop("AWS_PROFILE", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--detect-runs", type=int, default=3)
    parser.add_argument(
        "--skip-waits",
        action="store_true",
        help="overhead runs wait on the sandbox clock (no real record-TTL waits)",
    )
    parser.add_argument(
        "--fast-sandbox",
        action="store_true",
        help=f"Aurora switchover {FAST['aurora_failover_seconds']:g} s, health checks every "
        f"{FAST['health_check_interval']:g} s, instead of the sandbox's defaults",
    )
    args = quick.parse(parser, runs=1, detect_runs=1, skip_waits=True, fast_sandbox=True)
    logging.disable(logging.WARNING)
    sandbox_env()
    from mr_failover.sandbox.core import Sandbox, SandboxSettings

    # The sandbox's default pace (Aurora switchover 3 s, health checks every 1 s).
    sandbox = Sandbox(settings=SandboxSettings(**(FAST if args.fast_sandbox else {})))
    os.environ["AWS_ENDPOINT_URL"] = sandbox.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            print(f"mutating commands found: {', '.join(o.name for o in available_ops())}")
            measure_overhead(sandbox, workdir, args.runs, args.skip_waits)
            print("detection delay (state change in the sandbox -> step reported done):")
            settings = sandbox.settings
            if any(o.command == "promote" for o in available_ops()):
                report(
                    f"  Aurora switchover ({settings.aurora_failover_seconds:g}s)",
                    detect_aurora(sandbox, workdir, args.detect_runs),
                )
            report(
                f"  health check healthy again (interval {settings.health_check_interval:g}s)",
                detect_health_check(sandbox, workdir, args.detect_runs),
                # The step polls Route 53's one-minute metrics every 15-20 s (issue 15).
                goal="<= 20 s",
            )
    finally:
        sandbox.stop()


def report(label: str, delays: list[float], goal: str = "<= 2 s") -> None:
    if not delays:
        print(f"{label}: no measure")
        return
    print(
        f"{label}: median {statistics.median(delays):.2f}s, max {max(delays):.2f}s "
        f"over {len(delays)} run(s) (goal {goal})"
    )


if __name__ == "__main__":
    main()
