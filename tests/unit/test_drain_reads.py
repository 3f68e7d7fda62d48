"""drain reads of the other regions only what judging them as absorbers needs.

No network: the factory records which clients are asked for and answers none of them
(each client is "unreachable"), so the reads fail at once and the drain is refused; what
matters here is what was asked for. The example topology declares every section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mr_failover import status
from mr_failover import topology as topo
from mr_failover.errors import RefusedError, RegionUnreachableError
from mr_failover.operations import drain as op
from mr_failover.topology import Topology

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
# The services behind the data stores, API endpoints, readiness items and CloudFront.
NOT_FOR_DRAIN = {
    "rds",
    "cloudwatch",
    "dynamodb",
    "s3",
    "elasticache",
    "apigateway",
    "apigatewayv2",
    "acm",
    "secretsmanager",
    "ssm",
    "codecommit",
    "cloudfront",
}


class Unanswered:
    """A ClientSource that notes each (service, region) asked and answers nothing."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def client(self, service: str, region: str, **_: Any) -> Any:
        self.asked.append((service, region))
        raise RegionUnreachableError(region, f"{service} client", "no answer", "none")

    def services(self) -> set[str]:
        return {s for s, _ in self.asked}


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Topology:
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path))  # the ARC endpoint cache
    return topo.load(EXAMPLE)


def test_drain_asks_status_only_for_the_absorber_sections(example: Topology) -> None:
    asked: list[tuple[list[str], frozenset[str]]] = []

    def observe(topology: Topology, factory: Any, **kw: Any) -> status.StatusReport:
        asked.append((list(kw["regions"]), frozenset(kw["sections"])))
        return status.observe(topology, factory, **kw)

    factory = Unanswered()
    with pytest.raises(RefusedError):
        op.plan_drain(example, factory, "us-east-1", clock=_NoClock(), observe=observe)
    assert asked == [(["us-west-2"], {"traffic", "routing_controls", "compute", "accelerator"})]
    read = factory.services()
    assert read & NOT_FOR_DRAIN == set()
    # What the judgement uses was asked for (each section stops at its first client that
    # does not answer): Route 53, ECS (compute), the accelerator.
    assert {"route53", "ecs", "globalaccelerator"} <= read


def test_status_still_reads_every_section_by_default(example: Topology) -> None:
    factory = Unanswered()
    report = status.observe(example, factory, regions=["us-west-2"], deadline=5)
    assert {"rds", "dynamodb", "s3", "elasticache", "apigateway", "cloudfront"} <= (
        factory.services()
    )
    (west,) = report.regions
    assert {e.section for e in west.errors} >= {"dynamodb", "s3", "aurora", "readiness", "api"}


def test_a_section_not_read_is_absent_not_an_error(example: Topology) -> None:
    factory = Unanswered()
    report = status.observe(example, factory, regions=["us-west-2"], sections={"compute"})
    (west,) = report.regions
    assert {e.section for e in west.errors} == {"compute"}
    assert {s for s, _ in factory.asked} - {"sts"} <= {"ecs", "autoscaling", "lambda"}
    assert west.dynamodb is None and west.traffic is None
    assert not any("cloudfront" in w for w in report.warnings)


class _NoClock:
    """plan_drain refuses before any step is built, so nothing reads the clock."""

    def monotonic(self) -> float:
        raise AssertionError("no wait expected")

    def time(self) -> float:
        raise AssertionError("no wait expected")

    def sleep(self, seconds: float) -> None:
        raise AssertionError("no wait expected")
