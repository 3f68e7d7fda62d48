"""Route 53 ARC routing controls: the cost of the endpoint rotation, drain overhead, export.

Run: ``.venv/bin/python bench/bench_arc.py [--runs 20] [--blackhole-runs 6]
[--overhead-runs 5] [--export-runs 20] [--max-out 4] [--quick]``.

A sandbox (in-process, loopback) is seeded with config/regions.yaml: one ARC cluster with
five endpoints, one routing control per region.

Rotation: :class:`mr_failover.resources.arc.DataPlane` tries the five endpoints in random
order, one short attempt each (``arc.ENDPOINT_TIMEOUTS``). With 0, 1, 2 and 4 of them
out, it times the call ``status`` makes (``arc.region_controls``: ListRoutingControls)
and one UpdateRoutingControlStates, each on a fresh DataPlane, as one CLI run makes
them (so the first call pays for its endpoint clients). Two ways out: ``down``, the
listener closed (connection refused at once), and ``blackhole``, a sandbox fault that
accepts the request and never answers (what a regional outage looks like from outside):
the attempt costs the read deadline. Random order makes the cost vary: median and max
over the runs, next to the expected value (``k`` of ``n`` out: on average ``k/(n-k+1)``
dead endpoints are tried before a live one, at worst ``k``) and the measured cost per
dead endpoint tried.

Overhead: ``drain`` / ``undrain --region us-east-1 --no-scale-up`` with ``drain_lever:
routing_control``, in-process (bench_actions' ``run_cli``), with all endpoints up and with
two out (one refused, one unavailable). The record-TTL wait passes on the sandbox clock,
so wall time is the tool's own: CLI, topology, guard, plan reads (status of the other
region, safety rules), lock, journal and the ARC calls. Goal: under 1 s.

Export: ``export region-switch --regions us-east-1,us-west-2`` in-process (no AWS call).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import quick
from bench_actions import EAST, EXAMPLE, SandboxWaits, fresh, med, run_cli, sandbox_env

MODES = ("down", "blackhole")
OUT_COUNTS = (0, 1, 2, 4)
SERVICE = "route53-recovery-cluster"


@dataclass
class Timed:
    seconds: list[float] = field(default_factory=list)
    dead_tried: list[int] = field(default_factory=list)  # endpoints tried that did not answer


def expected_dead_tried(out: int, n: int = 5) -> float:
    """Dead endpoints tried before the first live one, on average, in a random order."""
    return out / (n - out + 1)


def take_out(sandbox: Any, mode: str, indexes: range) -> Callable[[], None]:
    """Put endpoints ``indexes`` out in ``mode``; the function that brings them back."""
    from mr_failover.sandbox import arc as sandbox_arc
    from mr_failover.sandbox.faults import Fault

    regions = [sandbox_arc.ENDPOINT_REGIONS[i] for i in indexes]
    for i, region in zip(indexes, regions, strict=True):
        if mode == "blackhole":
            sandbox.add_fault(Fault(region=region, service=SERVICE, mode="blackhole"))
        else:
            sandbox.set_arc_endpoint(i, mode)

    def back() -> None:
        for i, region in zip(indexes, regions, strict=True):
            sandbox.heal(region, SERVICE)
            sandbox.set_arc_endpoint(i, "up")

    return back


def measure_rotation(
    sandbox: Any, topology: Any, factory: Any, runs: int, mode: str, max_out: int = 4
) -> None:
    from mr_failover.resources import arc
    from mr_failover.resources.arc_steps import update_params

    rng = random.Random()
    arns = topology.regions[EAST].traffic.routing_controls
    reads: dict[int, Timed] = {}
    updates: dict[int, Timed] = {}
    counts = [out for out in OUT_COUNTS if out <= max_out]
    for out in counts:
        back = take_out(sandbox, mode, range(out))
        reads[out], updates[out] = Timed(), Timed()
        try:
            for i in range(runs):
                t0 = time.perf_counter()
                plane = arc.data_plane(topology, factory, rng=rng)
                states = arc.read_states(topology, plane, arc.panels_of(arns))
                reads[out].seconds.append(time.perf_counter() - t0)
                reads[out].dead_tried.append(sum(a.failure is not None for a in states.served_by))
                assert states.controls[arns[0]].state is not None

                params = update_params(arns, on=i % 2 == 1, overrides=())
                t0 = time.perf_counter()
                plane = arc.data_plane(topology, factory, rng=rng)
                plane.call("update_routing_control_states", **params)
                updates[out].seconds.append(time.perf_counter() - t0)
                updates[out].dead_tried.append(sum(a.failure is not None for a in plane.attempts))
        finally:
            back()
    # Leave the control ON whatever the run count was.
    arc.data_plane(topology, factory).call(
        "update_routing_control_states", **update_params(arns, on=True, overrides=())
    )
    deadline = {
        "down": "refused at once",
        "blackhole": f"read deadline {arc.ENDPOINT_TIMEOUTS.read:g} s",
    }[mode]
    print(f"  mode {mode} ({deadline}), {runs} run(s) per row:")
    for label, table in (("read states (status)", reads), ("UpdateRoutingControlStates", updates)):
        base = med(table[0].seconds)
        for out in counts:
            got = table[out]
            per_dead = [
                (s - base) / n for s, n in zip(got.seconds, got.dead_tried, strict=True) if n
            ]
            cost = f"{med(per_dead) * 1000:7.1f} ms" if per_dead else "      -   "
            print(
                f"    {label:27s} {out}/5 out: median {med(got.seconds) * 1000:7.1f} ms  "
                f"max {max(got.seconds) * 1000:7.1f} ms  "
                f"dead tried {statistics.mean(got.dead_tried):.2f} "
                f"(expected {expected_dead_tried(out):.2f}, max {out})  "
                f"per dead endpoint {cost}"
            )


def routing_control_config(workdir: Path, seeded: Any) -> Path:
    """The seeded topology with both regions' drain lever switched to routing_control."""
    from mr_failover import topology as topo
    from mr_failover.sandbox.demo import routing_control_lever

    path = workdir / "regions.routing-control.yaml"
    path.write_text(topo.dump(routing_control_lever(seeded, seeded.regions)))
    return path


def measure_overhead(sandbox: Any, workdir: Path, runs: int) -> None:
    seeded = fresh(sandbox, workdir)
    os.environ["MR_FAILOVER_CONFIG"] = str(routing_control_config(workdir, seeded))
    legs = (
        ("drain", ("drain", "--region", EAST, "--no-scale-up", "--yes")),
        ("undrain", ("undrain", "--region", EAST, "--no-scale-back", "--yes")),
    )
    print(f"drain/undrain overhead, drain_lever routing_control, median of {runs} run(s):")
    for label, modes in (
        ("all 5 endpoints up", {}),
        ("2 out (refused, unavailable)", {0: "down", 1: "unavailable"}),
    ):
        for i, mode in modes.items():
            sandbox.set_arc_endpoint(i, mode)
        overhead: dict[str, list[float]] = {name: [] for name, _ in legs}
        skipped: dict[str, list[float]] = {name: [] for name, _ in legs}
        try:
            for _ in range(runs):
                for name, args in legs:
                    clock = SandboxWaits(sandbox=sandbox)
                    run = run_cli(*args, clock=clock)
                    if not run.ok:
                        tail = run.output.strip().splitlines()[-1:]
                        raise SystemExit(f"{' '.join(args)} failed: {tail}")
                    overhead[name].append(run.overhead)
                    skipped[name].append(clock.skipped)
        finally:
            for i in modes:
                sandbox.set_arc_endpoint(i, "up")
        for name, _ in legs:
            print(
                f"  {name:8s} {label:30s} overhead {med(overhead[name]):6.3f}s "
                f"(max {max(overhead[name]):.3f}s)  sandbox waits skipped "
                f"{med(skipped[name]):5.1f}s"
            )


def measure_export(runs: int) -> None:
    args = ("--config", str(EXAMPLE), "export", "region-switch", "--regions", f"{EAST},us-west-2")
    times = []
    for _ in range(runs):
        run = run_cli(*args)
        assert run.ok, run.output[-500:]
        times.append(run.wall)
    print(
        f"export region-switch (example topology, in-process): median {med(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms over {runs} run(s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per row, mode down")
    parser.add_argument("--blackhole-runs", type=int, default=6, help="runs per row, blackhole")
    parser.add_argument("--overhead-runs", type=int, default=5)
    parser.add_argument("--export-runs", type=int, default=20)
    parser.add_argument(
        "--max-out", type=int, default=4, help="rotation rows up to this many endpoints out"
    )
    args = quick.parse(parser, runs=1, blackhole_runs=1, overhead_runs=1, export_runs=2, max_out=1)
    logging.disable(logging.WARNING)
    sandbox_env()
    from mr_failover.aws import ClientFactory
    from mr_failover.sandbox.core import Sandbox, SandboxSettings

    # A black-holed request is held longer than the client's read deadline, then dropped.
    sandbox = Sandbox(settings=SandboxSettings(blackhole_max_seconds=10.0))
    os.environ["AWS_ENDPOINT_URL"] = sandbox.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            seeded = fresh(sandbox, workdir)
            factory = ClientFactory(None, endpoint_url=sandbox.endpoint_url)
            print("ARC data plane: endpoint rotation (fresh DataPlane per call, 5 endpoints):")
            for mode in MODES:
                runs = args.runs if mode == "down" else args.blackhole_runs
                measure_rotation(sandbox, seeded, factory, runs, mode, args.max_out)
            measure_overhead(sandbox, workdir, args.overhead_runs)
            measure_export(args.export_runs)
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
