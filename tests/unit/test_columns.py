"""80 columns first: status, plans, history and drill reports fit the terminal.

Rendered on a captured terminal (a rich Console of width 80 with ``force_terminal``, so
colours and all) and piped through click's runner with ``COLUMNS``: no line is longer
than the width and no identifier from the data is cut in two (:mod:`tests.columns`).
A wider terminal gets more detail (columns), not a stretched table.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console, RenderableType
from rich.table import Table

from mr_failover.cli import cli
from mr_failover.commands._mutation import show_plan
from mr_failover.commands.history import drill_table, rto_chart, runs_table
from mr_failover.drill_report import build, trend
from mr_failover.engine import journal
from mr_failover.engine.plan import Plan, Step
from mr_failover.render import Fitted, drill_report_view, show, status_table, wrap_spans
from mr_failover.resources.section import Drift
from mr_failover.status import StatusReport
from mr_failover.text import DEFAULT_WIDTH, terminal_width
from tests.columns import assert_fits, plain_lines, split_ids
from tests.unit.test_drill_history import _drill_journal
from tests.unit.test_render import _report

E, W = "us-east-1", "us-west-2"
HC = "351a9b6f-7909-42fd-8290-a0142016e056"
CLUSTER_ARN = "arn:aws:rds:us-west-2:123456789012:cluster:arc309-usw2"
CONTROL_ARN = (
    "arn:aws:route53-recovery-control::123456789012:controlpanel/"
    "2e448e62512a4477ab763ae84cb5a2d3/routingcontrol/15439755097e42e3"
)


def _render(renderable: RenderableType, width: int) -> str:
    """What a terminal of ``width`` columns shows (escape sequences included)."""
    console = Console(width=width, force_terminal=True, file=io.StringIO(), highlight=False)
    with console.capture() as cap:
        show(console, renderable)
    return cap.get()


# --- the width -----------------------------------------------------------------------


def test_width_is_columns_else_the_terminal_else_80(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal_width(io.StringIO()) == DEFAULT_WIDTH == 80  # piped: no terminal
    monkeypatch.setenv("COLUMNS", "132")
    assert terminal_width(io.StringIO()) == 132
    for bad in ("", "0", "-5", "wide"):
        monkeypatch.setenv("COLUMNS", bad)
        assert terminal_width(io.StringIO()) == 80


def test_the_checker_finds_a_folded_cell_and_a_hard_wrapped_id() -> None:
    table = Table(box=None)
    table.add_column("call", overflow="fold", width=20)
    table.add_column("where")
    table.add_row(f"AutoScalingGroupName=arc309-web-usw2 HealthCheckId={HC}", E)
    folded = plain_lines(_render(table, 40))
    assert split_ids(folded, ["arc309-web-usw2", HC])
    hard = textwrap.wrap(f"cluster is {CLUSTER_ARN} now", width=30, break_long_words=True)
    assert split_ids(hard, [CLUSTER_ARN]) == [f"{CLUSTER_ARN} (line 1)"]
    # textwrap also breaks after a hyphen by default: that splits an id too.
    hyphen = textwrap.wrap(f"cluster is {CLUSTER_ARN} now", width=30, break_long_words=False)
    assert split_ids(hyphen, [CLUSTER_ARN]) == [f"{CLUSTER_ARN} (line 1)"]
    soft = textwrap.wrap(
        f"cluster is {CLUSTER_ARN} now", width=30, break_long_words=False, break_on_hyphens=False
    )
    assert split_ids(soft, [CLUSTER_ARN]) == []


def test_prose_breaks_at_spaces_and_a_long_url_before_a_slash() -> None:
    text = f'no answer from "http://127.0.0.1:4566/2013-04-01/healthcheck/{HC}". (retry)'
    lines = [text[a:b] for a, b in wrap_spans(text, 50, 2)]
    assert lines == [
        'no answer from "http://127.0.0.1:4566/2013-04-01',
        "/healthcheck",
        f'/{HC}". (retry)',
    ]
    rule = f"rule {CONTROL_ARN} is off"
    arn = [rule[a:b] for a, b in wrap_spans(rule, 40, 2)]
    assert arn == ["rule", CONTROL_ARN, "is off"]  # longer than a line: whole, never cut


# --- status ------------------------------------------------------------------------------


def _healthy() -> StatusReport:
    report = _report()
    east, west = report.regions
    west = replace(
        east, name=W, verdict="serving", is_writer=False, traffic=west.traffic, aurora=None
    )
    east = replace(east, verdict="serving")
    return replace(report, regions=(east, west), warnings=())


def _drifted() -> StatusReport:
    report = _report()
    east, west = report.regions
    drift = (Drift("health check arc309-use1 of api.example.com.", "port", "443", "8443"),)
    east = replace(east, drift=drift, warnings=("compute: ecs arc309/api is scaled to 0",))
    return replace(report, regions=(east, west))


STATUS_IDS = [E, W, "hc-1", "api.example.com.", "c/api", "arc309-use1", "arc309-usw2"]


@pytest.mark.parametrize("report", [_report, _healthy, _drifted])
def test_status_fits_80_columns_on_a_terminal(report: Any) -> None:
    lines = assert_fits(_render(status_table(report()), 80), 80, STATUS_IDS, shown=[E, W])
    header = lines[1].split()
    assert header[:3] == ["Region", "Verdict", "Takeover"]
    # One line per region, whatever the detail: the details go under the table.
    assert [line.split()[0] for line in lines[3:5]] == [E, W]
    assert "…" not in "".join(lines)  # no header or cell cut short


def test_status_on_a_wider_terminal_has_more_columns_not_a_stretched_table() -> None:
    narrow = plain_lines(_render(status_table(_report()), 80))
    wide = assert_fits(_render(status_table(_report()), 120), 120, STATUS_IDS, shown=[E, W])
    assert len(wide[1].split()) > len(narrow[1].split())
    assert len(wide) < len(narrow)  # what had to go under the table now has a column
    assert max(len(line) for line in wide) < 120  # as wide as its content


def test_status_piped_honours_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    for width in (60, 80, 100):
        monkeypatch.setenv("COLUMNS", str(width))
        console = Console(file=io.StringIO(), width=terminal_width(io.StringIO()))
        with console.capture() as cap:
            show(console, status_table(_drifted()))
        assert_fits(cap.get(), width, STATUS_IDS, shown=[E, W])


# --- plans -------------------------------------------------------------------------------


def _step(title: str, call: str, params: dict[str, Any], region: str, undoable: bool) -> Step:
    service, operation = call.split(":")
    data = service in ("route53-recovery-cluster", "dns", "drill")
    return Step(
        id=title,
        title=title,
        service=service,
        call=operation,
        params=params,
        region=region,
        plane="data" if data else "control",
        plane_region=None if data else region,
        undoable=undoable,
        undo="mr-failover undrain --region us-east-1" if undoable else None,
    )


SCALE = _step(
    "scale up asg arc309-web-usw2 in us-west-2 to 4 (from 2)",
    "autoscaling:SetDesiredCapacity",
    {"AutoScalingGroupName": "arc309-web-usw2", "DesiredCapacity": 4, "HonorCooldown": False},
    W,
    True,
)
INVERT = _step(
    "invert health check api-us-east-1 (us-east-1 unhealthy)",
    "route53:UpdateHealthCheck",
    {"HealthCheckId": HC, "HealthCheckVersion": "<read at call time>", "Inverted": True},
    E,
    True,
)
CONTROL = _step(
    "turn us-east-1's routing controls OFF (us-east-1/5e2c4f1b-EXAMPLE-use1)",
    "route53-recovery-cluster:UpdateRoutingControlStates",
    {"UpdateRoutingControlStateEntries": [{"RoutingControlArn": CONTROL_ARN, "State": "Off"}]},
    "any ARC endpoint",
    True,
)
SWITCH = _step(
    "switch over arc309-global to arc309-usw2 (us-west-2)",
    "rds:SwitchoverGlobalCluster",
    {"GlobalClusterIdentifier": "arc309-global", "TargetDbClusterIdentifier": CLUSTER_ARN},
    E,
    True,
)
CACHE = _step(
    "promote ElastiCache arc309-cache-usw2 (us-west-2) to primary of global datastore "
    "uvxag-arc309-cache",
    "elasticache:FailoverGlobalReplicationGroup",
    {"GlobalReplicationGroupId": "uvxag-arc309-cache", "PrimaryRegion": W},
    W,
    False,
)
PLANS = {
    "drain": Plan("drain", {"region": E}, (SCALE, CONTROL), notes=("regions taking the traffic: "
                                                                   "us-west-2",)),
    "promote": Plan("promote", {"region": W}, (SWITCH, CACHE)),
    "drill": Plan("drill", {"scenario": "evacuate"}, (SCALE, INVERT, SWITCH, CACHE)),
}  # fmt: skip
STEPS = (SCALE, INVERT, CONTROL, SWITCH, CACHE)
PLAN_IDS = [
    E, W, HC, CLUSTER_ARN, CONTROL_ARN, "arc309-web-usw2", "arc309-global", "arc309-usw2",
    "uvxag-arc309-cache", "arc309-cache-usw2", "us-east-1/5e2c4f1b-EXAMPLE-use1",
    *(f"{s.service}:{s.call}" for s in STEPS),
]  # fmt: skip


def _plan(plan: Plan, width: int, verbose: bool = False) -> str:
    console = Console(width=width, force_terminal=True, file=io.StringIO(), highlight=False)
    with console.capture() as cap:
        show_plan(console, plan, verbose)
    return cap.get()


@pytest.mark.parametrize("name", sorted(PLANS))
def test_a_plan_is_compact_at_80_columns(name: str) -> None:
    plan = PLANS[name]
    titles = [s.title for s in plan.steps]
    lines = assert_fits(_plan(plan, 80), 80, PLAN_IDS)
    assert lines[0] == f"Plan: {name}"
    assert lines[1].split() == ["#", "Step", "Where", "Undo"]
    # What, where, undoable: no parameter in the compact plan.
    assert not any("=" in line for line in lines)
    text = " ".join(" ".join(lines).split())
    for n, step in enumerate(plan.steps, start=1):
        row = next(line for line in lines if line.startswith(f"{n}  "))
        assert row.split()[-1] == ("yes" if step.undoable else "no")
        assert step.region in row
    for title in titles:  # titles wrap at spaces only: every word is intact
        assert all(word in text for word in title.split())


def test_verbose_plan_lists_each_calls_parameters_and_keeps_arns_whole() -> None:
    text = _plan(PLANS["drain"], 80, verbose=True)
    lines = plain_lines(text)
    assert "AutoScalingGroupName: arc309-web-usw2" in [line.strip() for line in lines]
    # The routing control's ARN is longer than a line: alone on its line, whole.
    long = [line for line in lines if len(line) > 80]
    assert [line.strip().strip("',") for line in long] == [CONTROL_ARN]
    assert split_ids(lines, PLAN_IDS) == []
    promote = _plan(PLANS["promote"], 80, verbose=True)
    lines = assert_fits(promote, 80, PLAN_IDS, shown=[CLUSTER_ARN, "arc309-global"])
    assert lines[lines.index("     TargetDbClusterIdentifier:") + 1].strip() == CLUSTER_ARN


def test_a_wider_terminal_also_shows_each_steps_plane_and_call() -> None:
    lines = assert_fits(_plan(PLANS["drill"], 160), 160, PLAN_IDS)
    assert lines[1].split() == ["#", "Step", "Call", "Where", "Plane", "Undo"]
    middle = assert_fits(_plan(PLANS["drill"], 120), 120, PLAN_IDS)
    assert middle[1].split() == ["#", "Step", "Where", "Plane", "Undo"]
    for step in PLANS["drill"].steps:
        assert any(f"{step.service}:{step.call}" in line for line in lines)
    narrow = plain_lines(_plan(PLANS["drill"], 80))
    assert len(lines) <= len(narrow)


# --- history and the drill report ---------------------------------------------------------


@pytest.fixture
def drills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv(journal.ENV_STATE_DIR, str(tmp_path))
    monkeypatch.setenv("NO_COLOR", "1")
    return [
        _drill_journal(1_800_000_000.0, 75.0),
        _drill_journal(1_800_100_000.0, 1200.0, lag=90.0, stopped=True),
    ]


def test_history_piped_fits_columns_and_wider_shows_who(drills: list[str]) -> None:
    ids = [*drills, E, W, "evacuate", "ana@laptop"]
    narrow = CliRunner().invoke(cli, ["history"], env={"COLUMNS": "80"}, catch_exceptions=False)
    assert narrow.exit_code == 0, narrow.output
    lines = assert_fits(narrow.stdout, 80, ids, shown=drills)
    assert lines[0].split() == ["RUN", "ID", "COMMAND", "OUTCOME", "TIME"]
    assert "RTO per drill, oldest first (| is the target)" in lines
    wide = CliRunner().invoke(cli, ["history"], env={"COLUMNS": "160"}, catch_exceptions=False)
    wide_lines = assert_fits(wide.stdout, 160, ids, shown=[*drills, "ana@laptop"])
    assert wide_lines[0].split() == ["RUN", "ID", "COMMAND", "WHO", "STARTED", "OUTCOME", "TIME"]


def test_history_fits_80_columns_on_a_terminal(drills: list[str]) -> None:
    runs, _ = journal.scan_runs(10)
    measured = [(r, trend(build(r.run_id, journal.read_records(r.run_id)))) for r in runs]
    for part in (Fitted(lambda width: [runs_table(runs, width)]), drill_table(measured)):
        assert_fits(_render(part, 80), 80, [*drills, E], shown=drills)
    chart = assert_fits(_render(rto_chart(measured), 80), 80, [E])
    assert len(chart) == 3 and "|" in chart[1]
    wide = plain_lines(_render(Fitted(lambda width: [runs_table(runs, width)]), 120))
    assert wide[0].split() == ["RUN", "ID", "COMMAND", "WHO", "OUTCOME", "TIME"]


def test_history_unknown_width_is_80(drills: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    result = CliRunner().invoke(cli, ["history"], catch_exceptions=False)
    assert_fits(result.stdout, 80, drills, shown=drills)


def test_drill_report_fits_80_columns_on_a_terminal(drills: list[str]) -> None:
    report = build(drills[1], journal.read_records(drills[1]))
    lines = assert_fits(_render(drill_report_view(report), 80), 80, [*drills, E], shown=drills[1:])
    assert lines[0] == "Drill report: evacuate us-east-1: STOPPED"
    assert any(line.startswith("RTO 1200.0s of 900s: NOT met") for line in lines)
    wide = plain_lines(_render(drill_report_view(report), 120))
    steps = next(i for i, line in enumerate(wide) if line.split()[:2] == ["phase", "step"])
    assert wide[steps].split() == ["phase", "step", "start", "end", "time", "outcome"]


def test_region_rows_never_wrap_even_with_long_names() -> None:
    report = _report()
    east, west = report.regions
    long = "ap-southeast-2-long-name"
    west = replace(west, name=long)
    lines = assert_fits(
        _render(status_table(replace(report, regions=(east, west))), 80), 80, [long, E]
    )
    assert any(line.startswith(f"{long} ") for line in lines)


def test_split_brain_and_unreachable_lines_fit() -> None:
    report = _report()
    east, west = report.regions
    west = replace(west, split_brain=True)
    lines = assert_fits(
        _render(status_table(replace(report, regions=(east, west))), 80), 80, [E, W]
    )
    assert "Fence it: mr-failover fence --region us-west-2" in " ".join(lines)
