"""Benchmarks cannot rot: every ``bench/bench_*.py`` runs to its end in ``--quick`` mode.

Each script runs as a child process (the venv's interpreter, the repository as working
directory), as ``bench/run.py --quick`` runs it. The figures are not judged (too few runs,
beside other tests); the test checks the exit code, that no traceback was printed, and
that each figure's line is there with a number in it. A new benchmark is run too: without
patterns of its own, it must still exit 0 and print something.

A command a benchmark runs may end "not ready" (exit 4) or "refused" (exit 3) when the
machine is so busy that status reads miss their deadline: that is load, not rot, and the
figure's line says so. A usage error (2: the benchmark's command line no longer parses), a
failure (1) or a crash is rot, and fails the test.

These start their own sandbox in the child, never ``mock_aws`` in this process, so they
may run in either pytest process; the Makefile puts them with tests/unit.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each benchmark on its own xdist worker

BENCH = Path(__file__).resolve().parents[2] / "bench"
NUMBER = r"[\d.]+"
# Per script: a pattern for each figure it prints (re.search over its stdout).
FIGURES: dict[str, tuple[str, ...]] = {
    "bench_cli.py": (
        rf"mr-failover --help\s+median {NUMBER} s",
        rf"mr-failover status\s+median {NUMBER} s .*\n.*\(exit [04];",
    ),
    "bench_sandbox.py": (
        rf"\[default lags\] start \+ seed example: median\s+{NUMBER} ms",
        rf"\[short lags\] start \+ seed example: median\s+{NUMBER} ms",
        rf"DescribeTable median: sandbox {NUMBER} ms, bare moto server {NUMBER} ms",
    ),
    "bench_status.py": (
        rf"example .*status median {NUMBER} s wall \({NUMBER} s observing, \d+ calls",
        rf"sequential aws CLI script: {NUMBER} s for \d+ calls;",
        rf"observe/sum = {NUMBER}",
    ),
    "bench_status_cold.py": (
        rf"baseline\s+median {NUMBER} s wall, {NUMBER} s CPU",
        rf"status, no latency\s+median {NUMBER} s wall, {NUMBER} s CPU \(exit [04],",
        rf"status, \d+ ms/call\s+median {NUMBER} s wall, {NUMBER} s CPU \(exit [04],",
    ),
    "bench_memory.py": (
        rf"peak RSS of status, large topology .*: median {NUMBER} MB",
        rf"peak RSS of --help \(floor\): median {NUMBER} MB",
    ),
    "bench_arc.py": (
        rf"mode down .*\n(.*\n)*\s+UpdateRoutingControlStates\s+1/5 out: median\s+{NUMBER} ms",
        rf"mode blackhole .*\n(.*\n)*\s+read states \(status\)\s+1/5 out: median\s+{NUMBER} ms",
        rf"drain\s+all 5 endpoints up\s+overhead\s+{NUMBER}s",
        rf"undrain\s+2 out \(refused, unavailable\)\s+overhead\s+{NUMBER}s",
        rf"export region-switch .*: median {NUMBER} ms",
    ),
    "bench_actions.py": (
        rf"health-check invert us-east-1\s+wall\s+{NUMBER}s .* overhead\s+{NUMBER}s",
        rf"drain us-east-1 --no-scale-up\s+wall\s+{NUMBER}s",
        rf"promote us-west-2 switchover\s+wall\s+{NUMBER}s",
        rf"drill evacuate us-east-1 --hold 1\s+wall\s+{NUMBER}s|drill .* FAILED \(exit [34]\)",
        # The watcher may miss a change under heavy load: "no measure" is no rot.
        rf"Aurora switchover \(.*\): (median {NUMBER}s|no measure)",
        rf"health check healthy again \(.*\): (median {NUMBER}s|no measure)",
    ),
}
SCRIPTS = sorted(p.name for p in BENCH.glob("bench_*.py"))


def test_every_figure_list_names_a_script() -> None:
    assert set(FIGURES) <= set(SCRIPTS), set(FIGURES) - set(SCRIPTS)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_to_the_end_in_quick_mode(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        timeout=570,
        check=False,
    )
    said = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, said
    assert "Traceback" not in done.stderr, said
    for failed in re.findall(r"FAILED.*", done.stdout):
        assert re.match(r"FAILED \(exit [34]\)", failed), said
    assert re.search(r"\d", done.stdout), said
    for pattern in FIGURES.get(script, ()):
        assert re.search(pattern, done.stdout), f"no figure /{pattern}/ in\n{said}"
