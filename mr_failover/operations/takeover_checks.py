"""``check parity`` and ``check capacity``: the status sections of the same names, alone.

Both read only their section (``status.observe(sections=...)``), so they are quick and
answer one question each. The verdict is the section's own: a region with a blocking
parity mismatch, a quota too small for its take-over, or a read that failed is no-go
(exit code 4); warnings (a rule that does not block, a quota not readable) are shown and
do not change the exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mr_failover import status
from mr_failover.aws import ClientSource
from mr_failover.errors import EXIT_NOT_READY, EXIT_OK
from mr_failover.resources.capacity import SECTION as CAPACITY
from mr_failover.resources.parity import READ_KEYS
from mr_failover.resources.parity import SECTION as PARITY
from mr_failover.resources.section import Section
from mr_failover.topology import Capacity, Parity, Topology


@dataclass(frozen=True)
class RegionCheck:
    name: str
    value: Any  # the section's value (ParityStatus, CapacityStatus), None if not read
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    errors: tuple[str, ...]

    @property
    def go(self) -> bool:
        return not self.reasons and not self.errors


@dataclass(frozen=True)
class CheckReport:
    check: str  # parity, capacity
    application: str
    elapsed_seconds: float
    regions: tuple[RegionCheck, ...]
    section: Section

    @property
    def go(self) -> bool:
        return all(r.go for r in self.regions)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.go else EXIT_NOT_READY

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": f"mr-failover/check-{self.check}",
            "version": 1,
            "application": self.application,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "go": self.go,
            "exit_code": self.exit_code,
            "regions": [
                {
                    "name": r.name,
                    "go": r.go,
                    "reasons": list(r.reasons),
                    "warnings": list(r.warnings),
                    "errors": list(r.errors),
                    self.check: self.section.to_json(r.value),
                }
                for r in self.regions
            ],
        }


def _check(
    section: Section, topology: Topology, factory: ClientSource, deadline: float
) -> CheckReport:
    # The command runs its check whether or not status does (topology parity: / capacity:).
    if section.name == "parity" and topology.parity is None:
        topology = topology.model_copy(update={"parity": Parity()})
    if section.name == "capacity" and topology.capacity is None:
        topology = topology.model_copy(update={"capacity": Capacity()})
    keys = READ_KEYS if section.name == "parity" else frozenset({section.name})
    report = status.observe(topology, factory, sections=keys, deadline=deadline)
    prefix = f"{section.name}:"
    regions = []
    for r in report.regions:
        errors = tuple(e.message for e in r.errors if e.section in keys)
        regions.append(
            RegionCheck(
                name=r.name,
                value=r.sections.get(section.name),
                reasons=tuple(x for x in r.reasons if x.startswith(prefix)),
                warnings=tuple(x for x in r.warnings if x.startswith(prefix)),
                errors=errors,
            )
        )
    return CheckReport(
        section.name, topology.application, report.elapsed_seconds, tuple(regions), section
    )


def check_parity(topology: Topology, factory: ClientSource, *, deadline: float) -> CheckReport:
    return _check(PARITY, topology, factory, deadline)


def check_capacity(topology: Topology, factory: ClientSource, *, deadline: float) -> CheckReport:
    return _check(CAPACITY, topology, factory, deadline)
