"""The drill (``mr-failover drill``) under the harness: faults, bad scenarios, secrets.

* ``drill evacuate`` (drain, promote, hold, fail back) completes with 20 % of every AWS
  call failing (5xx, then throttling) in every region: the report's verdict is pass and
  each mutation the drill makes is served exactly once per phase (the failback mirrors
  the evacuation, so each action appears once each way).
* Malformed scenario files (hypothesis mutants of config/drills/region-outage.yaml and
  hand-made ones) exit 2 with a message naming the file and a line:column, no traceback,
  and no AWS call.
* The drill's journal and reports hold no credential and are 0600.

The drill's own tests (tests/e2e/test_drill.py) cover a kill mid-drill and its resume.
"""

from __future__ import annotations

import json
import re
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mr_failover.sandbox.client import SandboxClient
from tests.e2e.conftest import SandboxAdvancingClock
from tests.reliability.conftest import Mutations
from tests.reliability.test_security import FRAGMENTS, canary_env  # noqa: F401

EAST, WEST = "us-east-1", "us-west-2"
SCENARIO = Path(__file__).resolve().parents[2] / "config" / "drills" / "region-outage.yaml"
EVACUATE = ("drill", "evacuate", "--region", EAST, "--hold", "30", "--yes")


def drill(run_cli: Any, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = run_cli("--output", "json", *EVACUATE, *extra)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        report = {}
    return result.exit_code, report, result.output


@pytest.mark.parametrize("kind", ["error5xx", "throttle"])
def test_drill_completes_under_20_percent_errors_without_repeating(
    kind: str,
    e2e_env: dict[str, str],
    control: SandboxClient,
    clock: SandboxAdvancingClock,
    quick_backoff: None,
    run_cli: Any,
    mutations: Mutations,
) -> None:
    control.advance(1.1)  # one round of lag metrics
    before = len(control.calls())
    for region in (EAST, WEST):
        control.fail_region(region, kind=kind, rate=0.2)
    code, report, output = drill(run_cli)
    for region in (EAST, WEST):
        control.heal_region(region)
    injected = [c for c in control.calls()[before:] if c["status"] in (400, 500, 503)]
    assert injected, "no error was injected: the test proves nothing"
    assert code == 0, output[-3000:]
    assert report["verdict"] == "pass"
    served = Counter(m for m in mutations(before) if "/dynamodb:" not in m)
    # Evacuate then fail back: the writer moves there and back, one switchover each way.
    assert served["us-west-2/rds:SwitchoverGlobalCluster"] == 1, served
    assert served["us-east-1/rds:SwitchoverGlobalCluster"] == 1, served
    # Health-check inversion and restore: two updates of the one check, never more.
    assert served["us-east-1/route53:UpdateHealthCheck"] == 2, served
    assert max(served.values()) <= 2, served


def test_drill_report_and_journal_are_private_and_hold_no_secret(
    canary_env: dict[str, str],  # noqa: F811
    control: SandboxClient,
    clock: SandboxAdvancingClock,
    quick_backoff: None,
    run_cli: Any,
) -> None:
    control.advance(1.1)
    code, report, output = drill(run_cli)
    assert code == 0, output[-3000:]
    assert report["verdict"] == "pass"
    assert not [f for f in FRAGMENTS if f in output]
    runs = Path(canary_env["MR_FAILOVER_STATE_DIR"]) / "runs"
    files = sorted(runs.iterdir())
    assert {p.name.split(".", 1)[1] for p in files} >= {"jsonl", "report.md", "report.json"}
    for path in files:
        assert not [f for f in FRAGMENTS if f in path.read_text()], path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path.name, oct(path.stat().st_mode))


# --- malformed scenario files ----------------------------------------------------------

SCENARIO_TEXT = SCENARIO.read_text()
SCENARIO_DATA = yaml.safe_load(SCENARIO_TEXT)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.just("x" * 100_000),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def scenario_mutants(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        raw = SCENARIO_TEXT.encode()
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        if draw(st.booleans()):
            return raw[:at]
        return raw[:at] + draw(st.binary(min_size=1, max_size=12)) + raw[at:]
    data = json.loads(json.dumps(SCENARIO_DATA))
    path = draw(st.sampled_from(_paths(data)))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    op = draw(st.sampled_from(["delete", "rename", "retype"]))
    if op == "delete":
        del parent[path[-1]]
    elif op == "rename" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(path[-1])
    else:
        parent[path[-1]] = draw(junk)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


HAND_MADE = {
    "empty": b"",
    "binary": bytes(range(256)),
    "list": b"- a\n- b\n",
    "unknown action": SCENARIO_TEXT.replace("action: drain", "action: explode", 1).encode(),
    "alias bomb": b'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
    + b"".join(
        f"b{i}: &b{i} [{', '.join(['*a' if i == 0 else f'*b{i - 1}'] * 10)}]\n".encode()
        for i in range(10)
    )
    + b"name: *b9\n",
}


def located(file: Path, stderr: str) -> None:
    lines = [ln.removeprefix("Error: ").strip() for ln in stderr.splitlines() if ln.strip()]
    assert lines, "no message"
    name = re.escape(str(file))
    for line in lines:
        line = line.removeprefix("- ")
        ok = re.match(rf"^{name}(:\d+:\d+)?: \S", line)
        assert ok, line


def test_hand_made_bad_scenarios_exit_2_without_calling_aws(
    e2e_env: dict[str, str], control: SandboxClient, run_cli: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "scenario.yaml"
    for name, content in HAND_MADE.items():
        bad.write_bytes(content)
        before = len(control.calls())
        result = run_cli("drill", str(bad), "--yes")
        assert result.exit_code == 2, (name, result.output[-500:])
        assert "Traceback" not in result.output, name
        assert len(control.calls()) == before, f"{name}: an AWS call was made"
        located(bad, result.stderr)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(content=scenario_mutants())
def test_scenario_mutants_exit_2_or_run_never_crash(
    e2e_env: dict[str, str],
    control: SandboxClient,
    run_cli: Any,
    tmp_path: Path,
    content: bytes,
) -> None:
    bad = tmp_path / "scenario.yaml"
    bad.write_bytes(content)
    before = len(control.calls())
    # --dry-run: a mutant that is still valid plans and stops, changing nothing (exit 0, or
    # exit 3 saying what a real run would refuse: the sandbox here is not in steady state).
    result = run_cli("drill", str(bad), "--dry-run")
    assume(result.exit_code != 0 and "a real run would refuse" not in result.stderr)
    assert result.exit_code == 2, result.output[-800:]
    assert "Traceback" not in result.output
    assert len(control.calls()) == before, "an AWS call was made for a bad scenario"
    located(bad, result.stderr)
