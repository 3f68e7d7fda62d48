"""Status in under a second: ``mr-failover status`` on the example, as a fresh process.

Run: ``.venv/bin/python bench/bench_status_cold.py [--runs 7] [--latency-ms 100] [--quick]``.

Issue 16's goal, measured in one run against one sandbox seeded with the whole example
(``config/regions.yaml``, every section):

* with ``--latency-ms`` (100) added to every AWS call in both regions (the sandbox's
  latency fault, docs/SANDBOX.md): the median wall time of ``status`` is at most 1.0 s;
* with no added latency: at most 2 times ``aws --version`` (the AWS CLI on PATH; a pyenv
  shim is resolved to the real program, so that the shim's own start is not counted),
  timed in the same run, alternating with status.

Each status run is ``mr-failover --config ... --endpoint-url ... -o json status``
through the installed entry point. The child environment drops
``PYTHONDONTWRITEBYTECODE``: an installed tool has its bytecode compiled (pip and pipx
compile it), so the figure must not include compiling the sources. The CPU time (user +
system) of each child is printed beside the wall time: on a shared machine it is the
steadier of the two. Without ``aws`` on PATH, the baseline is a Python process that
imports ``botocore.session`` (the floor of any botocore-based CLI), and the script says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import quick
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "regions.yaml"
ENTRY = Path(sys.executable).parent / "mr-failover"
WALL_GOAL = 1.0  # seconds, with the added latency
RATIO_GOAL = 2.0  # status / aws --version, no added latency
ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "NO_COLOR": "1",
    "MOTO_ECS_SERVICE_RUNNING": "1",
}
for _name in ("AWS_PROFILE", "PYTHONDONTWRITEBYTECODE"):
    ENV.pop(_name, None)


def timed(argv: Sequence[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds of the child, the finished process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def baseline() -> tuple[list[str], str]:
    """The command status is compared with, and how it is named."""
    aws = shutil.which("aws")
    if aws and os.sep + "shims" + os.sep in aws and shutil.which("pyenv"):
        real = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True)
        if real.returncode == 0 and real.stdout.strip():
            aws = real.stdout.strip()
    if aws:
        return [aws, "--version"], f"aws --version ({aws})"
    code = "import botocore.session"
    return [sys.executable, "-c", code], f"no `aws` on PATH: python -c '{code}' instead"


def status_runs(argv: list[str], runs: int) -> tuple[list[float], list[float], dict[str, object]]:
    walls, cpus, doc = [], [], {}
    for _ in range(runs):
        wall, cpu, done = timed(argv)
        walls.append(wall)
        cpus.append(cpu)
        try:
            doc = json.loads(done.stdout)
        except ValueError:
            doc = {"unparsed": done.stdout[:200], "stderr": done.stderr[-300:]}
        doc["exit"] = done.returncode
    return walls, cpus, doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--latency-ms", type=int, default=100)
    args = quick.parse(parser, runs=1)

    from mr_failover.sandbox.client import SandboxClient
    from mr_failover.sandbox.core import Sandbox
    from mr_failover.sandbox.seed import seed_file

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update({k: ENV[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    os.environ["MOTO_ECS_SERVICE_RUNNING"] = "1"
    sandbox = Sandbox()
    url = sandbox.start()
    try:
        seeded = Path(tempfile.mkdtemp(prefix="mr-failover-bench-cold-")) / "regions.yaml"
        seed_file(EXAMPLE, url, write_topology=seeded)
        control = SandboxClient(url, token=sandbox.token)
        control.advance(1.1)  # one round of metrics
        argv = [str(ENTRY), "--config", str(seeded), "--endpoint-url", url, "-o", "json", "status"]
        timed(argv)  # writes the bytecode of a fresh clone, as installing would
        base_argv, base_name = baseline()

        # No added latency: status and the baseline alternate, so load hits both alike.
        walls, cpus, base_walls, base_cpus = [], [], [], []
        doc: dict[str, object] = {}
        for _ in range(args.runs):
            w, c, _done = timed(base_argv)
            base_walls.append(w)
            base_cpus.append(c)
            sw, sc, doc = status_runs(argv, 1)
            walls += sw
            cpus += sc
        calls_before = len(control.calls())
        for region in yaml.safe_load(seeded.read_text())["regions"]:
            control.fail_region(region, kind="latency", ms=args.latency_ms)
        slow_walls, slow_cpus, slow_doc = status_runs(argv, args.runs)
        calls = (len(control.calls()) - calls_before) // max(args.runs, 1)
    finally:
        sandbox.stop()

    base, fast, slow = (statistics.median(x) for x in (base_walls, walls, slow_walls))
    ratio = fast / base
    print(f"status on the example (config/regions.yaml, every section), {args.runs} runs each")
    print(
        f"  baseline            median {base:.3f} s wall, {statistics.median(base_cpus):.3f} s "
        f"CPU: {base_name}"
    )
    print(
        f"  status, no latency  median {fast:.3f} s wall, {statistics.median(cpus):.3f} s CPU "
        f"(exit {doc.get('exit')}, {doc.get('elapsed_seconds')} s observing); "
        f"ratio status / baseline = {ratio:.2f} (goal <= {RATIO_GOAL:g}: "
        f"{'met' if ratio <= RATIO_GOAL else 'MISSED'})"
    )
    print(
        f"  status, {args.latency_ms} ms/call  median {slow:.3f} s wall, "
        f"{statistics.median(slow_cpus):.3f} s CPU (exit {slow_doc.get('exit')}, "
        f"{slow_doc.get('elapsed_seconds')} s observing, {calls} calls per run; "
        f"goal <= {WALL_GOAL:g} s: {'met' if slow <= WALL_GOAL else 'MISSED'})"
    )
    print(f"  every wall (s): no latency {[round(w, 2) for w in walls]}")
    print(f"                  {args.latency_ms} ms/call {[round(w, 2) for w in slow_walls]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
