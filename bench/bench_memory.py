"""Peak memory (RSS) of ``mr-failover status`` on the generated large topology.

Run: ``.venv/bin/python bench/bench_memory.py [--runs 3] [--regions 10] [--quick]``.

A sandbox (in-process) is seeded with bench_status's large topology (10 regions, 20
DynamoDB tables, 20 buckets, 10 Aurora clusters); ``status`` runs as a fresh process
and its peak resident set size is read from the kernel when it exits (``os.wait4``'s
``ru_maxrss``, which covers the whole process: interpreter, boto3 and every thread).
Also measured: ``--help`` (the floor: an interpreter and click). Goal: under 150 MB.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quick
from bench_status import ENTRY, ENV, LARGE_REGIONS, large_topology

GOAL_MB = 150.0


# ru_maxrss counts what a child inherits at fork time, and this process holds the whole
# sandbox (moto): a small launcher forks the measured command instead.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def peak_mb(argv: list[str]) -> tuple[float, int]:
    """(peak RSS in MB, exit code) of one run of ``argv``."""
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]) / 1024, int(out[1])  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--regions", type=int, default=len(LARGE_REGIONS), help="of the large topology"
    )
    args = quick.parse(parser, runs=1, regions=3)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from mr_failover.sandbox.core import Sandbox
    from mr_failover.sandbox.seed import seed_file

    os.environ.update({k: ENV[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                           "MOTO_ECS_SERVICE_RUNNING")})  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="mr-failover-bench-memory-"))
    source = work / "large.yaml"
    doc = large_topology(LARGE_REGIONS[: args.regions])
    source.write_text(yaml.safe_dump(doc, sort_keys=False))
    sandbox = Sandbox()
    url = sandbox.start()
    try:
        seeded = work / "seeded.yaml"
        seed_file(source, url, write_topology=seeded)
        status = [str(ENTRY), "--config", str(seeded), "--endpoint-url", url, "status"]
        runs = [peak_mb(status) for _ in range(args.runs)]
        helps = [peak_mb([str(ENTRY), "--help"])[0] for _ in range(args.runs)]
    finally:
        sandbox.stop()
    peak = statistics.median(mb for mb, _ in runs)
    codes = sorted({code for _, code in runs})
    met = "met" if peak < GOAL_MB else "MISSED"
    print(
        f"peak RSS of status, large topology ({args.regions} regions): median {peak:.0f} MB over "
        f"{args.runs} runs (max {max(mb for mb, _ in runs):.0f} MB, exit {codes}; "
        f"goal < {GOAL_MB:.0f} MB: {met})"
    )
    floor = statistics.median(helps)
    print(f"peak RSS of --help (floor): median {floor:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
