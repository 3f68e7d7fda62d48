"""The compute section's judgement on findings built by hand."""

from __future__ import annotations

from pathlib import Path

from mr_failover import topology
from mr_failover.resources import compute
from mr_failover.resources.section import RegionView

EXAMPLE = topology.load(Path(__file__).resolve().parents[2] / "config" / "regions.yaml")


def judge(*services: compute.ServiceFinding) -> tuple[str, ...]:
    found = {"us-west-2": {"compute": compute.ComputeStatus(services=services, functions=())}}
    return tuple(compute.SECTION.judge(RegionView(EXAMPLE, "us-west-2", found, {})).reasons)


def test_takeover_above_the_groups_max_size_is_a_reason() -> None:
    asg = compute.ServiceFinding("asg", "web", True, 2, 2, takeover_desired=8, max_size=6)
    assert judge(asg) == (
        "compute: asg web cannot take over: takeover_desired 8 exceeds its MaxSize 6",
    )


def test_takeover_within_the_max_size_is_fine() -> None:
    asg = compute.ServiceFinding("asg", "web", True, 2, 2, takeover_desired=6, max_size=6)
    assert judge(asg) == ()
