"""drain refuses when a region that would absorb the traffic lacks the Service Quotas
headroom for its take-over scale-up (the capacity section's figures), and the drill's
plan refuses the same; ``--no-scale-up`` draws on no quota and reads none.

No network: the other regions' status is given as values (the capacity section's
reads and judgement are tested against Stubber in tests/unit/test_parity.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mr_failover.drill import PlannedPhase, ScenarioStep, phase_refusal
from mr_failover.errors import RefusedError
from mr_failover.operations import drain as op
from mr_failover.resources.capacity import (
    EC2_STANDARD,
    FARGATE,
    LAMBDA,
    CapacityStatus,
    Headroom,
)
from mr_failover.resources.section import SectionError
from mr_failover.topology import Capacity, Topology
from tests.unit.test_drain import FakeClock, NoClients, ecs, make_topology, region_status, report

EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"


def three(capacity: bool = True) -> Topology:
    t = make_topology()
    regions = dict(t.regions)
    regions[EU] = t.regions[WEST].model_copy(deep=True)
    return t.model_copy(update={"regions": regions, "capacity": Capacity() if capacity else None})


def room(spec: Any, *, quota: float, usage: float, needed: float) -> Headroom:
    return Headroom(
        spec.key, spec.quota_code, spec.unit, quota, usage, "metric", needed, quota - usage
    )


def absorber(name: str, *rooms: Headroom, errors: tuple[SectionError, ...] = ()) -> Any:
    rs = region_status(name, services=(ecs(2, 2),))
    return dataclasses.replace(
        rs, errors=errors, sections={**rs.sections, "capacity": CapacityStatus(tuple(rooms), ())}
    )


class Observed(Exception):
    """Raised by the fake observe once it has recorded what it was asked."""


def observer(*regions: Any, asked: list[frozenset[str]]) -> Any:
    def observe(topology: Topology, factory: Any, *, sections: Any, **_: Any) -> Any:
        asked.append(frozenset(sections))
        return report(*regions)

    return observe


def test_an_absorber_short_of_fargate_vcpu_refuses_the_drain_with_its_figures() -> None:
    asked: list[frozenset[str]] = []
    short = absorber(WEST, room(FARGATE, quota=100, usage=80, needed=48))
    ok = absorber(EU, room(FARGATE, quota=1000, usage=0, needed=48))
    with pytest.raises(op.QuotaShortError) as err:
        op.plan_drain(
            three(), NoClients(), EAST, clock=FakeClock(), observe=observer(short, ok, asked=asked)
        )
    assert err.value.exit_code == 3  # as every refusal
    assert "capacity" in asked[0]  # read with the absorbers, in the same concurrent observe
    assert str(err.value) == (
        "refused: us-west-2 needs 48 more Fargate vCPU; quota headroom 20 (L-3032A538 100, "
        "in use 80): not enough for the take-over scale-up of draining us-east-1, which would "
        "stop half-way; request a quota increase (Service Quotas) or lower takeover_desired, "
        "or drain with --no-scale-up"
    )


def test_every_short_absorber_and_quota_is_named() -> None:
    asked: list[frozenset[str]] = []
    west = absorber(
        WEST,
        room(FARGATE, quota=100, usage=99, needed=4),
        room(EC2_STANDARD, quota=32, usage=8, needed=16),  # fits
    )
    eu = absorber(EU, room(EC2_STANDARD, quota=20, usage=10, needed=16))
    with pytest.raises(op.QuotaShortError) as err:
        op.plan_drain(
            three(), NoClients(), EAST, clock=FakeClock(), observe=observer(west, eu, asked=asked)
        )
    text = str(err.value)
    assert "us-west-2 needs 4 more Fargate vCPU; quota headroom 1 (L-3032A538 100, in use 99)" in (
        text
    )
    assert "eu-west-1 needs 16 more EC2 Standard vCPU; quota headroom 10" in text
    assert "EC2 Standard vCPU; quota headroom 24" not in text


def test_lambda_concurrency_and_a_quota_that_fits_do_not_refuse() -> None:
    """Lambda's need follows the traffic, not the scale-up: status judges it, drain does
    not refuse on it. The plan goes on (here to its first AWS call)."""
    asked: list[frozenset[str]] = []
    west = absorber(
        WEST,
        room(FARGATE, quota=100, usage=52, needed=48),  # exactly enough
        room(LAMBDA, quota=10, usage=9, needed=500),
    )
    with pytest.raises(AssertionError, match="no AWS call expected"):
        op.plan_drain(
            three(), NoClients(), EAST, clock=FakeClock(), observe=observer(west, asked=asked)
        )


def test_no_scale_up_and_no_capacity_key_read_no_quota() -> None:
    for topology, scale_up in ((three(), False), (three(capacity=False), True)):
        asked: list[frozenset[str]] = []
        short = absorber(WEST, room(FARGATE, quota=1, usage=1, needed=48))
        with pytest.raises(AssertionError, match="no AWS call expected"):
            op.plan_drain(
                topology,
                NoClients(),
                EAST,
                scale_up=scale_up,
                clock=FakeClock(),
                observe=observer(short, asked=asked),
            )
        assert asked == [op.ABSORBER_SECTIONS]


def test_a_quota_not_read_is_a_note_not_a_refusal() -> None:
    unknown = Headroom(FARGATE.key, FARGATE.quota_code, FARGATE.unit, None, 4, "resources", 8, None)
    error = SectionError("capacity", EU, "service-quotas:GetServiceQuota", "AccessDenied", False)
    west = absorber(WEST, unknown)
    eu = absorber(EU, errors=(error,))
    seen = report(west, eu)
    absorbers = op.judge_absorbers(three(), seen, scale_up=True)
    notes = op._require_quota_headroom(seen, absorbers, EAST)
    assert notes == [
        "us-west-2: quota headroom for 8 more Fargate vCPU not verified (quota L-3032A538 "
        "not read)",
        "eu-west-1: quota headroom for the scale-up not verified: AccessDenied",
    ]


def test_the_drill_refuses_up_front_when_a_drain_phase_is_short_of_quota() -> None:
    drain = ScenarioStep(action="drain", region=EAST)
    short = op.QuotaShortError(
        "us-west-2 needs 48 more Fargate vCPU; quota headroom 20 (L-3032A538 100, in "
        "use 80): not enough for the take-over scale-up of draining us-east-1, which would "
        "stop half-way; request a quota increase (Service Quotas) or lower takeover_desired"
    )
    other = PlannedPhase("f1", ScenarioStep(action="undrain", region=EAST), None, "not drained")
    plan = dataclasses.make_dataclass("P", [("phases", tuple)])(
        (PlannedPhase("s1", drain, None, str(short), refusal=short.why), other)
    )
    refused = phase_refusal(plan)
    assert refused is not None
    assert refused.startswith(
        "refused: s1 (drain us-east-1): us-west-2 needs 48 more Fargate vCPU; quota headroom 20"
    )
    assert "--no-scale-up:" in refused and "or drain with --no-scale-up" not in refused
    plan.phases = (other,)
    assert phase_refusal(plan) is None
    assert isinstance(op.QuotaShortError("x"), RefusedError)
