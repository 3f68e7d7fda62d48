"""A drill's report, built from its run journal alone: Markdown and JSON.

The journal holds everything (the scenario and targets in a ``drill-plan`` note, phase
boundaries, measurements, a stop condition, steady-state checks, each step's intent and
outcome), so the report of a resumed run covers every attempt, and ``history`` can show
RTO and RPO of past drills without re-running anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mr_failover.engine.journal import iso

# The phases every drill ends with (mr_failover.drill.Scenario.all_phases), by action.
CLOSING = ("restore-traffic", "restore-writer", "restore-capacity", "cleanup")
# Verdicts that end the drill command with exit 0: "pass" (recovered within the targets)
# and "ran" (a scenario with no disruptive step, every step done, nothing left changed).
OK_VERDICTS = ("pass", "ran")
NOT_DISRUPTED = "no disruptive step: nothing was recovered, so no RTO or RPO is measured"


@dataclass(frozen=True)
class PhaseRow:
    phase: str
    title: str
    start: float | None
    end: float | None
    outcome: str
    steps: tuple[dict[str, Any], ...]

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


@dataclass(frozen=True)
class DrillReport:
    run_id: str
    scenario: str
    description: str
    who: str
    started: float
    outcome: str  # the journal's end outcome
    phases: tuple[PhaseRow, ...]
    rto_seconds: float | None
    rto_target: int
    rpo_lag_seconds: float | None
    rpo_target: int
    canaries_written: int
    canaries_lost: int
    stopped_by: str | None
    steady_before: tuple[str, ...]
    steady_after: tuple[str, ...] | None
    stability: tuple[dict[str, Any], ...]
    # Split-brain regions the failback fenced (drill-fence notes): region, database
    # action, cluster, and the renamed copy holding the diverged writes.
    fenced: tuple[dict[str, Any], ...] = ()
    # The state the drill may touch, before its first step and after its end: key ->
    # {"label", "before", "after"} (after None: not read; the run did not end).
    state: tuple[dict[str, Any], ...] = ()
    state_after_read: bool = False
    # Every canary write the run attempted, and whether its removal step succeeded.
    canaries: tuple[dict[str, Any], ...] = ()
    # The phases every drill ends with (restore, cleanup), apart from the scenario's.
    closing: tuple[PhaseRow, ...] = ()
    # Whether any step was disruptive (drain, fault, promote...): without one, nothing
    # was recovered, so there is no RTO or RPO to judge (a checks-only scenario).
    disrupted: bool = True
    # Whether the drill moved the writer (a cut-over probe ran): without a move no data
    # was at risk, so there is no RPO to judge (an evacuation of a region that does not
    # hold the writer: traffic only).
    cut_over: bool = True

    @property
    def differences(self) -> tuple[dict[str, Any], ...]:
        """Items whose value after the drill is not what it was before."""
        if not self.state_after_read:
            return ()
        return tuple(s for s in self.state if s["before"] != s["after"])

    @property
    def canaries_left(self) -> tuple[dict[str, Any], ...]:
        return tuple(c for c in self.canaries if not c["removed"])

    # What DNS answered, from the zone's name servers: each drain/undrain confirmation
    # (when the region left or came back to the answers) and each verify (to whom DNS
    # sent a client near the target): step or phase, wall time, what was seen.
    dns_answers: tuple[dict[str, Any], ...] = ()
    # What the synthetic client got (resources/client.figures): requests, error rate,
    # longest error window, client-visible RTO, requests per region over time; None when
    # the topology has no probes.global_url.
    client: dict[str, Any] | None = None

    @property
    def rto_met(self) -> bool:
        return self.rto_seconds is not None and self.rto_seconds <= self.rto_target

    @property
    def rpo_met(self) -> bool:
        if self.canaries_lost:
            return False
        if not self.cut_over:
            return True  # nothing moved the writer: no write was at risk
        if self.rpo_lag_seconds is None:
            return self.canaries_written > 0  # measured by canaries only
        return self.rpo_lag_seconds <= self.rpo_target

    @property
    def verdict(self) -> str:
        if self.stopped_by:
            return "stopped"
        if self.outcome != "succeeded":
            return "incomplete"
        # A drill leaves things as it found them: any item that differs, or a canary
        # left behind, fails it.
        ok = not self.steady_after and not self.differences and not self.canaries_left
        if not self.disrupted:
            # Every step ran and nothing was disrupted: "ran", not a pass (no recovery
            # was shown) and not a failure (nothing failed).
            return "ran" if ok else "fail"
        return "pass" if ok and self.rto_met and self.rpo_met else "fail"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "mr-failover/drill-report",
            "run_id": self.run_id,
            "scenario": self.scenario,
            "description": self.description,
            "who": self.who,
            "started": iso(self.started),
            "outcome": self.outcome,
            "verdict": self.verdict,
            "disrupted": self.disrupted,
            "stopped_by": self.stopped_by,
            "rto": {
                "seconds": _r(self.rto_seconds),
                "target_seconds": self.rto_target,
                "met": self.rto_met,
            },
            "rpo": {
                "lag_at_cutover_seconds": _r(self.rpo_lag_seconds),
                "canaries_written": self.canaries_written,
                "canaries_lost": self.canaries_lost,
                "target_seconds": self.rpo_target,
                "met": self.rpo_met,
                "applicable": self.cut_over,
            },
            "steady_state": {
                "before": list(self.steady_before),
                "after": None if self.steady_after is None else list(self.steady_after),
            },
            "phases": [_phase_json(p) for p in self.phases],
            "closing_phases": [_phase_json(p) for p in self.closing],
            "static_stability": list(self.stability),
            "fenced": list(self.fenced),
            "state": {
                "items": list(self.state),
                "after_read": self.state_after_read,
                "differences": list(self.differences),
            },
            "canaries": {
                "written": list(self.canaries),
                "left": [c["id"] for c in self.canaries_left],
            },
            "dns_answers": [{**d, "time": iso(d["t"])} for d in self.dns_answers],
            "client": self.client,
        }


def _phase_json(p: PhaseRow) -> dict[str, Any]:
    return {
        "phase": p.phase,
        "title": p.title,
        "start": iso(p.start) if p.start else None,
        "end": iso(p.end) if p.end else None,
        "seconds": _r(p.seconds),
        "outcome": p.outcome,
        "steps": list(p.steps),
    }


def trend(report: DrillReport) -> dict[str, Any]:
    """What ``history`` shows of a drill: verdict, RTO and RPO against their targets."""
    return {
        "scenario": report.scenario,
        "verdict": report.verdict,
        "stopped_by": report.stopped_by,
        "rto_seconds": _r(report.rto_seconds),
        "rto_target_seconds": report.rto_target,
        "rpo_lag_seconds": _r(report.rpo_lag_seconds),
        "rpo_target_seconds": report.rpo_target,
        "canaries_written": report.canaries_written,
        "canaries_lost": report.canaries_lost,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def build(run_id: str, records: list[dict[str, Any]]) -> DrillReport:
    """The report of run ``run_id`` from its journal records."""
    head = next(r for r in records if r.get("type") == "run")
    notes = [r for r in records if r.get("type") == "note"]
    plan = next((n for n in notes if n.get("kind") == "drill-plan"), {})
    phases: dict[str, dict[str, Any]] = {}
    first_disruptive: float | None = None
    serving: list[dict[str, Any]] = []
    dns: list[dict[str, Any]] = []
    client: dict[str, Any] | None = None
    cutovers: list[dict[str, Any]] = []
    stopped_by = None
    steady_after: tuple[str, ...] | None = None
    steady_before: tuple[str, ...] = ()
    step_rows: dict[str, dict[str, Any]] = {}
    for r in records:
        kind = r.get("type")
        if kind == "intent":
            step_rows[r["step"]] = {"id": r["step"], "title": r["call"]["title"], "start": r["t"]}
        elif kind == "outcome" and r["step"] in step_rows:
            row = step_rows[r["step"]]
            row |= {"end": r["t"], "seconds": r["seconds"], "outcome": r["status"]}
            row["detail"] = r.get("detail", "")
            if "/dns:answers:" in r["step"] and "DNS" in row["detail"]:
                dns.append({"at": r["step"], "t": r["t"], "seen": row["detail"]})
        if kind != "note":
            continue
        note = r.get("kind")
        if note == "drill-phase":
            p = phases.setdefault(
                r["phase"],
                {
                    "title": r["title"],
                    "start": None,
                    "end": None,
                    "outcome": "pending",
                    "closing": r.get("action") in CLOSING,
                },
            )
            if r["event"] == "start":
                p["start"] = p["start"] or r["t"]
                p["outcome"] = "running"
                if r.get("disruptive") and first_disruptive is None:
                    first_disruptive = r["t"]
            else:
                p["end"], p["outcome"] = r["t"], r["event"]
        elif note == "drill-measure":
            if r.get("measure") == "serving":
                serving.append(r)
                if r.get("dns_answers"):
                    dns.append({"at": r["key"], "t": r["t"], "seen": r["dns_answers"]})
        elif note == "drill-client":
            client = {k: v for k, v in r.items() if k not in ("type", "kind", "at", "t")}
        elif note == "drill-stop":
            stopped_by = r["condition"]
        elif note == "drill-steady":
            if r["when"] == "before":
                steady_before = tuple(r["problems"])
            else:
                steady_after = tuple(r["problems"])
    for r in notes:
        if r.get("kind") == "drill-measure" and r.get("measure") == "cutover":
            cutovers.append(r)
    rto = None
    after = [s for s in serving if first_disruptive is not None and s["t"] >= first_disruptive]
    if after and first_disruptive is not None:
        rto = after[0]["t"] - first_disruptive
    lags = [c["lag_seconds"] for c in cutovers if c.get("lag_seconds") is not None]
    rows: list[PhaseRow] = []
    closing: list[PhaseRow] = []
    for key, p in phases.items():
        steps = tuple(
            {k: v for k, v in s.items() if k not in ("start", "end")}
            for sid, s in step_rows.items()
            if sid.startswith(f"{key}/")
        )
        phase_row = PhaseRow(key, p["title"], p["start"], p["end"], p["outcome"], steps)
        (closing if p["closing"] else rows).append(phase_row)
    end = next((r for r in reversed(records) if r.get("type") == "end"), None)
    state_before: dict[str, Any] = {}
    state_after: dict[str, Any] | None = None
    for n in notes:
        if n.get("kind") == "drill-state":
            if n.get("when") == "before" and not state_before:
                state_before = n.get("items") or {}
            elif n.get("when") == "after":
                state_after = n.get("items") or {}
    state = tuple(
        {
            "key": k,
            "label": v.get("label", k),
            "before": v.get("value"),
            "after": None if state_after is None else state_after.get(k, {}).get("value"),
        }
        for k, v in state_before.items()
    )
    outcomes = {
        r["step"]: r["status"] for r in records if r.get("type") == "outcome" and "step" in r
    }
    canaries: dict[str, dict[str, Any]] = {}
    for n in notes:
        if n.get("kind") == "drill-canary" and n.get("id") not in canaries:
            where = n.get("table") or n.get("bucket")
            what = n.get("key") or next(
                (next(iter(v.values())) for v in (n.get("item_key") or {}).values()), ""
            )
            removal = next(
                (st for sid, st in outcomes.items() if sid.endswith(f"/remove:{n['id']}")), None
            )
            canaries[n["id"]] = {
                "id": n["id"],
                "service": n.get("service"),
                "region": n.get("region"),
                "where": where,
                "what": what,
                "removed": removal in ("applied", "skipped"),
            }
    who = head.get("who", {})
    return DrillReport(
        run_id=run_id,
        scenario=str(plan.get("scenario", head.get("params", {}).get("scenario", "?"))),
        description=str(plan.get("description", "")),
        who=f"{who.get('os_user', '?')}@{who.get('host', '?')} ({who.get('caller_arn', '?')})",
        started=float(head["t"]),
        outcome=end["outcome"] if end else "incomplete",
        phases=tuple(rows),
        closing=tuple(closing),
        rto_seconds=rto,
        disrupted=first_disruptive is not None,
        cut_over=bool(cutovers),
        rto_target=int(plan.get("rto_target", 0)),
        rpo_lag_seconds=max(lags) if lags else None,
        rpo_target=int(plan.get("rpo_target", 0)),
        canaries_written=sum(int(s.get("canaries_written", 0)) for s in after[:1]),
        canaries_lost=sum(int(s.get("canaries_lost", 0)) for s in after[:1]),
        stopped_by=stopped_by,
        steady_before=steady_before,
        steady_after=steady_after,
        stability=tuple(plan.get("static_stability", [])),
        fenced=tuple(
            {
                k: v
                for k, v in n.items()
                if k in ("phase", "region", "database", "cluster", "fenced_cluster")
            }
            for n in notes
            if n.get("kind") == "drill-fence"
        ),
        state=state,
        state_after_read=state_after is not None,
        canaries=tuple(canaries.values()),
        dns_answers=tuple(dns),
        client=client,
    )


def client_lines(c: dict[str, Any]) -> list[str]:
    """The synthetic client's figures in words (Markdown and the terminal)."""
    rate = c.get("error_rate")
    rto = c.get("rto_seconds")
    per_region: dict[str, int] = {}
    for b in c.get("per_region") or []:
        for region, n in (b.get("regions") or {}).items():
            per_region[region] = per_region.get(region, 0) + int(n)
    return [
        f"requests: {c.get('requests', 0)}, failed: {c.get('errors', 0)} "
        f"({'-' if rate is None else f'{100 * rate:.1f}%'})",
        f"longest error window: {_secs(c.get('longest_error_window_seconds'))}",
        "client-visible RTO: "
        + (
            _secs(rto)
            if rto is not None
            else ("no request failed" if c.get("recovered") else "not recovered")
        ),
        "served by: " + (", ".join(f"{k} {v}" for k, v in per_region.items()) or "-"),
    ]


def _same(item: dict[str, Any]) -> str:
    return "yes" if item["before"] == item["after"] else "**no**"


def _v(value: Any) -> str:
    return "-" if value is None else str(value)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def markdown(report: DrillReport) -> str:
    r = report
    lines = [
        f"# Drill report: {r.scenario}",
        "",
        f"- run: `{r.run_id}`",
        f"- who: {r.who}",
        f"- started: {iso(r.started)}",
        f"- outcome: {r.outcome}",
        f"- **verdict: {r.verdict.upper()}**",
    ]
    if r.description:
        lines.append(f"- scenario: {r.description}")
    if r.stopped_by:
        lines.append(f"- **stopped by {r.stopped_by}; the failback steps ran**")
    if not r.disrupted:
        lines.append(f"- {NOT_DISRUPTED}")
    for f in r.fenced:
        kept = (
            f", its diverged writes kept in {f['fenced_cluster']}"
            if f.get("fenced_cluster")
            else ""
        )
        lines.append(
            f"- **fenced {f['region']} (split brain)**: {f['cluster']} accepted writes without "
            f"being the writer; database {f['database']}{kept}"
        )
    lines += [
        "",
        "## RTO and RPO",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
        f"| RTO (first disruptive step to target serving and taking writes) | "
        f"{_secs(r.rto_seconds)} | {r.rto_target}s | {'yes' if r.rto_met else 'no'} |",
        f"| RPO (replication lag at cut-over) | "
        f"{_secs(r.rpo_lag_seconds) if r.cut_over else 'n/a: the writer did not move'} | "
        f"{r.rpo_target}s | {'yes' if r.rpo_met else 'no'} |",
        f"| canary writes lost at cut-over | {r.canaries_lost} of {r.canaries_written} | 0 "
        f"| {'yes' if not r.canaries_lost else 'no'} |",
        "",
        "## Steady state",
        "",
        f"- before: {'; '.join(r.steady_before) or 'steady'}",
        "- after: "
        + ("not checked" if r.steady_after is None else ("; ".join(r.steady_after) or "steady")),
        "",
        "## State before and after (what the drill may touch)",
        "",
        "| item | before | after | same |",
        "|---|---|---|---|",
        *[
            f"| {s['label']} | {_v(s['before'])} | "
            f"{_v(s['after']) if r.state_after_read else 'not read'} | "
            f"{_same(s) if r.state_after_read else '-'} |"
            for s in r.state
        ],
        "",
        f"- differences: {len(r.differences)}"
        + ("" if r.state_after_read else " (the after state was not read: the run did not end)"),
        "",
        "## Canary writes (written, then removed from every replica)",
        "",
        "| canary | service | written in | where | removed |",
        "|---|---|---|---|---|",
        *[
            f"| {c['what']} | {c['service']} | {c['region']} | {c['where']} | "
            f"{'yes' if c['removed'] else '**no**'} |"
            for c in r.canaries
        ],
        "",
        f"- written: {len(r.canaries)}, left behind: {len(r.canaries_left)}",
        "",
        "## Steps",
        "",
        "| phase | step | start | end | duration | outcome |",
        "|---|---|---|---|---|---|",
    ]
    for p in (*r.phases, *r.closing):
        lines.append(
            f"| {p.phase} | **{p.title}** | {iso(p.start) if p.start else '-'} | "
            f"{iso(p.end) if p.end else '-'} | {_secs(p.seconds)} | {p.outcome} |"
        )
        for s in p.steps:
            lines.append(
                f"| | {s['title']} | | | {_secs(s.get('seconds'))} | {s.get('outcome', '-')} |"
            )
    if r.client is not None:
        lines += ["", "## What clients got (the synthetic client)", ""]
        lines += [f"- {line}" for line in client_lines(r.client)]
    if r.dns_answers:
        lines += ["", "## DNS answers (the zone's name servers)", ""]
        lines += [f"- {iso(d['t'])} `{d['at']}`: {d['seen']}" for d in r.dns_answers]
    lines += ["", "## Static stability (steps that fail if a region is down)", ""]
    for f in r.stability:
        names = ", ".join(f"{s['title']} ({s['why']})" for s in f["steps"]) or "none"
        lines.append(f"- if **{f['region']}** is down: {names}")
    return "\n".join(lines) + "\n"


def to_json_text(report: DrillReport) -> str:
    return json.dumps(report.to_json(), indent=2)
