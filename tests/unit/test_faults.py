"""Faults behind one interface: FIS built in, the sandbox's outage found as an entry point.

The drill plans a fault step with the first injector that can inject the outage; it
never imports the sandbox (checked on the source of the whole operational code, and on
the modules a drill loads).
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mr_failover import drill, faults
from mr_failover import topology as topo
from mr_failover.engine.plan import StepAction
from mr_failover.errors import UsageError
from mr_failover.faults import FaultContext, FaultInjector, FaultStep, Outage
from tests.unit.test_drill import topology  # noqa: F401  (the example topology fixture)

EAST = "us-east-1"
PACKAGE = Path(faults.__file__).parent
# Modules that may reach the sandbox: the sandbox itself and the commands that start it.
SANDBOX_SIDE = ("sandbox/", "commands/sandbox.py", "commands/demo.py")


def ctx(t: topo.Topology, endpoint_url: str | None = None) -> drill.DrillContext:
    return drill.DrillContext(t, None, None, "r", endpoint_url=endpoint_url)  # type: ignore[arg-type]


def scenario_step(action: str = "fault", fis_template: str | None = None) -> drill.ScenarioStep:
    return drill.ScenarioStep.model_validate(
        {"action": action, "region": EAST, "fis_template": fis_template}
    )


def test_the_sandbox_outage_is_registered_as_an_entry_point() -> None:
    entries = importlib.metadata.entry_points(group=faults.ENTRY_POINT_GROUP)
    assert {e.name: e.value for e in entries}["sandbox"] == (
        "mr_failover.sandbox.injector:SandboxOutage"
    )
    assert [i.name for i in faults.injectors()] == ["fis", "sandbox"]  # FIS tried first


def test_fis_when_the_step_names_a_template(topology: topo.Topology) -> None:  # noqa: F811
    plan = drill.build_phase("s2", scenario_step(fis_template="EXT1"), ctx(topology))
    (step,) = plan.steps
    assert (step.id, step.service, step.call, step.region, step.plane) == (
        "s2/s2:fis",
        "fis",
        "StartExperiment",
        EAST,
        "control",
    )
    assert step.title == "start FIS experiment EXT1"
    assert isinstance(step.action, faults.FisExperiment) and step.action.start
    stop = drill.build_phase("f1", scenario_step("fault-stop", "EXT1"), ctx(topology))
    assert (stop.steps[0].call, stop.steps[0].action.start) == ("StopExperiment", False)  # type: ignore[attr-defined]


def test_no_injector_is_a_usage_error_naming_what_each_needs(
    topology: topo.Topology,  # noqa: F811
) -> None:
    # Nothing listens on port 9: no sandbox answers there.
    for endpoint in (None, "http://127.0.0.1:9"):
        with pytest.raises(UsageError) as err:
            drill.build_phase("s2", scenario_step(), ctx(topology, endpoint))
        message = str(err.value)
        assert message.startswith(f"the fault step for {EAST} has no fault injector")
        assert "fis_template" in message and "MR_FAILOVER_SANDBOX_TOKEN" in message


class _Recording(FaultInjector):
    name = "recording"
    requirement = "nothing"

    def __init__(self) -> None:
        self.seen: list[Outage] = []

    def available(self, outage: Outage) -> bool:
        self.seen.append(outage)
        return outage.endpoint_url == "http://fake"

    def describe(self, outage: Outage, start: bool) -> FaultStep:
        return FaultStep("rec", f"rec {outage.region} {start}", "rec", "Rec", "-", {"k": 1})

    def start(self, ctx: FaultContext, outage: Outage) -> StepAction:
        return _Noop()

    def stop(self, ctx: FaultContext, outage: Outage) -> StepAction:
        return _Noop()


class _Noop(StepAction):
    def holds(self) -> bool:
        return False

    def apply(self) -> None:
        pass


def test_a_registered_injector_plans_the_step(
    topology: topo.Topology,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recording = _Recording()
    monkeypatch.setattr(faults, "registered", lambda: [recording])
    plan = drill.build_phase("s2", scenario_step(), ctx(topology, "http://fake"))
    (step,) = plan.steps
    assert (step.id, step.title, step.call, dict(step.params)) == (
        "s2/s2:rec",
        "rec us-east-1 True",
        "Rec",
        {"k": 1},
    )
    assert recording.seen == [Outage(EAST, "fault:us-east-1", "http://fake", None)]


class _Entry:
    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.target = target

    def load(self) -> Any:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


def test_an_entry_point_that_fails_to_load_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [
        _Entry("b-good", _Recording),
        _Entry("a-broken", ModuleNotFoundError("No module named 'moto'")),
        _Entry("c-not-an-injector", dict),
    ]
    monkeypatch.setattr(faults.importlib.metadata, "entry_points", lambda group: entries)
    assert [i.name for i in faults.registered()] == ["recording"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_sandbox_branch_in_operational_code() -> None:
    """No module outside the sandbox side imports it, calls its control API or /moto-api."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(SANDBOX_SIDE):
            continue
        imported = _imports(path)
        text = path.read_text()
        if any(
            n == "mr_failover.sandbox" or n.startswith("mr_failover.sandbox.") for n in imported
        ):
            offenders.append(f"{relative} imports mr_failover.sandbox")
        if "/_sandbox" in text or "/moto-api" in text:
            offenders.append(f"{relative} names the sandbox's control API")
    assert len(list(PACKAGE.rglob("*.py"))) > 40
    assert not offenders, offenders


def test_planning_a_drill_loads_no_sandbox_module_unless_a_fault_needs_one() -> None:
    code = (
        "import sys\n"
        "from mr_failover import drill, faults\n"
        "import mr_failover.commands.drill\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('mr_failover.sandbox'))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
