"""The drill's HTML report: one self-contained page, its structure read with an HTML
parser (html.parser from the standard library): figures, a timeline lane per phase with
its steps, the outage / RTO / cut-over marks, DNS and probe lanes when the journal has
them, the trend of earlier drills, and nothing loaded from elsewhere."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from mr_failover import drill_html, drill_report
from mr_failover.drill import earlier_drills, save_report
from mr_failover.engine import journal
from mr_failover.engine.plan import Plan, Step
from tests.clocks import FakeClock

T0 = 1_800_000_000.0


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if t == tag
            and all(attrs[k] in a.get(k, "").split() or a.get(k) == attrs[k] for k in attrs)
        ]

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def _journal(
    state: Path, started: float, rto: float, *, title: str = "drain us-east-1", dns: bool = True
) -> str:
    clock = FakeClock(started)
    run_id = journal.new_run_id(clock)
    who = journal.Who("arn:aws:iam::123456789012:role/sre", "ana", "laptop")
    step = Step(
        id="s1/invert",
        title="invert api-us-east-1",
        service="route53",
        call="UpdateHealthCheck",
        params={"Inverted": True},
        region="us-east-1",
        plane="control",
        plane_region="us-east-1",
        undoable=True,
    )
    jr = journal.Journal.create(
        run_id,
        command="drill",
        params={"scenario": "evacuate", "region": "us-east-1"},
        who=who,
        plan=Plan("drill", {}, ()),
        clock=clock,
    )
    jr.note("drill-plan", scenario="evacuate us-east-1", rto_target=900, rpo_target=60)
    jr.note("drill-steady", when="before", problems=[])
    jr.note("drill-phase", phase="s1", title=title, event="start", disruptive=True)
    jr.intent(step, 0)
    clock.t += 2
    jr._write({"type": "outcome", "step": "s1/invert", "status": "applied", "seconds": 2.0})
    if dns:
        jr.note("dns-answers", name="api.example.com.", regions=["us-east-1", "us-west-2"])
    jr.note("drill-measure", key="s2:cutover", measure="cutover", lag_seconds=0.4, t=clock.t)
    clock.t += 30
    if dns:
        jr.note("dns-answers", name="api.example.com.", regions=["us-west-2"])
    jr.note("drill-probe", region="us-west-2", ok=False, detail="HTTP 503")
    clock.t += rto - 32
    jr.note("drill-probe", region="us-west-2", ok=True, detail="HTTP 200")
    jr.note("drill-measure", key="s3:serving", measure="serving", t=clock.t, canaries_written=2)
    jr.note("drill-phase", phase="s1", title=title, event="done", seconds=rto)
    jr.note("drill-steady", when="after", problems=[])
    jr.end("succeeded", rto + 5)
    jr.close()
    return run_id


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(journal.ENV_STATE_DIR, str(tmp_path))
    return tmp_path


def _page(run_id: str, earlier: list[dict[str, Any]] | None = None) -> tuple[Page, str]:
    records = journal.read_records(run_id)
    report = drill_report.build(run_id, records)
    text = drill_html.render(report, records, earlier or [])
    return Page(text), text


def test_the_page_has_the_figures_the_timeline_and_its_marks(state: Path) -> None:
    run_id = _journal(state, T0, 75.0)
    page, text = _page(run_id)
    assert text.startswith("<!doctype html>")
    assert run_id in page.all_text and "pass" in page.all_text
    assert {f["data-figure"] for f in page.find("div", **{"class": "figure"})} == {
        "rto",
        "rpo",
        "steady state after",
    }
    assert "75.0 s" in page.all_text
    (svg,) = page.find("svg", **{"class": "timeline"})
    assert svg["viewbox"].startswith("0 0 ")
    phases = page.find("g", **{"class": "phase"})
    assert [(p["data-phase"], p["data-outcome"]) for p in phases] == [("s1", "done")]
    assert len(page.find("line", **{"class": "step"})) == 1
    marks = Counter(
        a["class"].split()[1] for t, a in page.tags if t == "g" and "mark" in a.get("class", "")
    )
    assert marks == {"mark-outage": 1, "mark-rto": 1, "mark-rpo": 1}
    # DNS answers as they changed, and the probes: one lane each.
    assert [g["data-name"] for g in page.find("g", **{"class": "dns"})] == ["api.example.com."]
    assert "us-east-1, us-west-2" in page.all_text
    assert len(page.find("circle", **{"class": "failed"})) == 1
    assert len(page.find("circle", **{"class": "ok"})) == 1


def test_the_page_is_self_contained_and_escapes_the_journals_text(state: Path) -> None:
    run_id = _journal(state, T0, 40.0, title='<script>alert("x")</script>', dns=False)
    page, text = _page(run_id)
    assert "<script" not in text.lower()
    assert '<script>alert("x")</script>' in page.all_text  # shown as text
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            assert name not in attrs, (tag, attrs)
    assert not page.find("link") and not page.find("img")
    assert not page.find("g", **{"class": "dns"})  # no DNS notes: no DNS lane


def test_the_trend_shows_earlier_drills_oldest_first_and_the_target(state: Path) -> None:
    first = _journal(state, T0, 75.0)
    second = _journal(state, T0 + 86_400, 1200.0)
    third = _journal(state, T0 + 2 * 86_400, 60.0)
    report = drill_report.build(third, journal.read_records(third))
    earlier = earlier_drills(report)
    assert [e["run_id"] for e in earlier] == [first, second]
    page, _ = _page(third, earlier)
    bars = page.find("rect", **{"class": "bar"})
    assert [b["fill"] for b in bars] == ["#2e7d32", "#c62828", "#2e7d32"]  # pass, fail, pass
    heights = [float(b["height"]) for b in bars]
    assert heights[1] > heights[0] > heights[2]
    assert page.find("line", **{"class": "target"})


def test_save_report_writes_the_page_beside_the_others(state: Path) -> None:
    run_id = _journal(state, T0, 75.0)
    _, md_path, _ = save_report(run_id)
    page_path = md_path.with_name(f"{run_id}.report.html")
    assert page_path.exists() and oct(page_path.stat().st_mode & 0o777) == "0o600"
    assert Page(page_path.read_text()).find("svg", **{"class": "timeline"})


def test_the_synthetic_clients_figures_reach_the_report_and_the_page(state: Path) -> None:
    from mr_failover.resources.client import Sample, figures

    run_id = _journal(state, T0, 75.0)
    records = journal.read_records(run_id)
    samples = [
        Sample(T0 + i, i not in (3, 4), "us-west-2" if i > 4 else "us-east-1", 5.0)
        for i in range(10)
    ]
    records.insert(-1, {"type": "note", "kind": "drill-client", "t": T0 + 10, **figures(samples)})
    report = drill_report.build(run_id, records)
    assert report.client is not None and report.client["rto_seconds"] == 2.0
    doc = report.to_json()
    assert doc["client"]["errors"] == 2
    markdown = drill_report.markdown(report)
    assert "client-visible RTO: 2.0s" in markdown and "us-west-2 5" in markdown
    page = Page(drill_html.render(report, records))
    assert {f["data-figure"] for f in page.find("div", **{"class": "figure"})} >= {
        "client-visible rto"
    }
