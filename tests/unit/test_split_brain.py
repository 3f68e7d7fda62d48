"""Split-brain detection: which regions accept writes, and which must be fenced.

Pure judgements on findings (global and replica mode), then ``status`` observing a
detached secondary through botocore Stubber, and how the table shows it.
"""

from __future__ import annotations

import io

from rich.console import Console

from mr_failover.errors import EXIT_NOT_READY
from mr_failover.render import status_table
from mr_failover.resources.aurora import (
    ClusterFinding,
    GlobalClusterFinding,
    GlobalMember,
    accepts_writes,
    split_brain,
)
from tests.unit.test_status import (
    ARN,
    GLOBAL,
    E,
    StubbedFactory,
    W,
    aurora_topology,
    run,
    stub_cluster,
    stub_lag,
)

C = {r: ClusterFinding(f"shop-{r}", ARN[r], "available", "aurora-mysql", "8", None) for r in (E, W)}


def gc(*members: tuple[str, bool]) -> GlobalClusterFinding:
    return GlobalClusterFinding(
        GLOBAL,
        "available",
        tuple(GlobalMember(ARN[r], r, w, None if w else "connected") for r, w in members),
        None,
    )


def test_a_healthy_global_database_has_one_writer_and_no_split() -> None:
    judged = split_brain("global", C, gc((E, True), (W, False)))
    assert (judged.writer_region, judged.writable, judged.split) == (E, (E,), ())


def test_a_detached_writable_cluster_is_split_brain() -> None:
    judged = split_brain("global", C, gc((E, True)))
    assert (judged.writable, judged.split, judged.detached) == ((E, W), (W,), (W,))
    assert "the global writer is in us-east-1" in judged.why(W)


def test_a_detached_cluster_that_is_stopped_or_modifying_accepts_no_writes() -> None:
    for status in ("stopped", "stopping", "modifying"):
        stopped = {**C, W: ClusterFinding(f"shop-{W}", ARN[W], status, "a", "8", None)}
        judged = split_brain("global", stopped, gc((E, True)))
        assert judged.split == () and judged.detached == (W,)


def test_no_writer_at_all_makes_every_writable_cluster_split() -> None:
    judged = split_brain("global", C, gc())
    assert judged.split == (E, W)
    assert "no writer" in judged.why(E)


def test_no_view_of_the_global_cluster_judges_nothing() -> None:
    assert split_brain("global", C, None).split == ()


def test_replica_mode_two_writable_clusters_are_both_split() -> None:
    source = f"arn:aws:rds:{E}:123456789012:cluster:shop-{E}"
    replica = {**C, W: ClusterFinding(f"shop-{W}", ARN[W], "available", "a", "8", source)}
    one = split_brain("replica", replica, None)
    assert (one.writer_region, one.split) == (E, ())
    assert not accepts_writes(replica[W], None)
    two = split_brain("replica", C, None)
    assert (two.writer_region, two.split) == (None, (E, W))
    assert "2 clusters accept writes" in two.why(W)


def test_status_flags_the_detached_region_in_red_with_the_fix() -> None:
    f = StubbedFactory()
    detached = {
        "GlobalClusterIdentifier": GLOBAL,
        "Status": "available",
        "GlobalClusterMembers": [{"DBClusterArn": ARN[E], "IsWriter": True}],
    }
    for r in (E, W):
        stub_cluster(f, r)
        f.stub("rds", r).add_response(
            "describe_global_clusters",
            {"GlobalClusters": [detached]},
            {"GlobalClusterIdentifier": GLOBAL},
        )
    stub_lag(f, W, rpo_ms=None, repl_ms=None)
    report = run(aurora_topology(), f)
    f.assert_all_used()
    east, west = report.region(E), report.region(W)
    assert (east.split_brain, west.split_brain) == (False, True)
    assert (west.verdict, west.can_take_over) == ("degraded", False)
    assert report.exit_code == EXIT_NOT_READY
    (reason,) = west.reasons
    assert reason.startswith("aurora: SPLIT BRAIN: shop-us-west-2 accepts writes")
    assert reason.endswith("fence it: mr-failover fence --region us-west-2")
    data = report.to_json()
    assert data["split_brain"] == [W]
    assert [r["split_brain"] for r in data["regions"]] == [False, True]

    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(status_table(report))
    lines = buf.getvalue().splitlines()
    row = next(line for line in lines if line.startswith(W))
    assert "SPLIT BRAIN" in row
    assert any(
        line.startswith("SPLIT BRAIN in us-west-2")
        and "mr-failover fence --region us-west-2" in line
        for line in lines
    )
