"""Run every benchmark in bench/ and print their figures (``make bench``).

Each ``bench/bench_*.py`` runs with its defaults as a child process of this interpreter
(the venv's), one after another (the machine has 2 cores: benchmarks in parallel would
measure each other). Its output is printed under a heading with its wall time; a failing
benchmark is reported and the others still run. Exit code: 1 if any failed.
``--only NAME`` (repeatable) runs a subset, e.g. ``--only status --only memory``.
``--quick`` passes ``--quick`` to each (bench/quick.py: seconds in all, figures printed
but not meaningful); tests/bench/test_bench_quick.py runs the same in ``make test``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="bench name, e.g. status")
    parser.add_argument("--quick", action="store_true", help="each in its --quick smoke mode")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        argv = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
        done = subprocess.run(argv, cwd=HERE.parent, check=False)
        took = time.perf_counter() - t0
        if done.returncode != 0:
            failed.append(script.name)
            print(f"   FAILED (exit {done.returncode})")
        print(f"   ({took:.0f} s)\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    print(f"all {len(scripts)} benchmarks ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
