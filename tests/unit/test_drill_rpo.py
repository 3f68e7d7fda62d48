"""A drill that moves no writer (an evacuation of a region that does not hold it) has no
RPO to judge: it can pass on its RTO; one that moves the writer still needs its RPO."""

from __future__ import annotations

import dataclasses

from mr_failover.drill_report import DrillReport, markdown


def _report(**changes: object) -> DrillReport:
    base = DrillReport(
        run_id="20261206T070000Z-a1b2c3",
        scenario="evacuate us-west-2",
        description="",
        who="ops@host (arn)",
        started=1_800_000_000.0,
        outcome="succeeded",
        phases=(),
        rto_seconds=30.0,
        rto_target=900,
        rpo_lag_seconds=None,
        rpo_target=60,
        canaries_written=0,
        canaries_lost=0,
        stopped_by=None,
        steady_before=(),
        steady_after=(),
        stability=(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_traffic_only_evacuation_passes_without_an_rpo() -> None:
    r = _report(cut_over=False)
    assert (r.rpo_met, r.verdict) == (True, "pass")
    assert r.to_json()["rpo"]["applicable"] is False
    assert "| RPO (replication lag at cut-over) | n/a: the writer did not move |" in markdown(r)
    assert _report(cut_over=False, canaries_lost=1).verdict == "fail"


def test_a_writer_move_without_a_measure_still_fails() -> None:
    r = _report()  # cut over, but neither a lag nor a canary measured it
    assert (r.rpo_met, r.verdict) == (False, "fail")
    assert r.to_json()["rpo"]["applicable"] is True
    assert _report(canaries_written=2).verdict == "pass"
