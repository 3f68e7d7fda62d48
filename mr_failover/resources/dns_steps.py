"""Confirm a traffic change by the DNS answers clients get, not only by a health check.

After ``drain`` (or ``undrain``) flips its lever, the region must leave (or come back to)
the answers of the zone's name servers (:mod:`mr_failover.resources.dns`). The step asks
them until it sees that, and notes when: the journal's outcome of the step says when the
answers changed, and the TTL wait that follows starts from that moment. A lever whose
records do not carry it leaves the answers as they were: the step then fails at its
deadline, naming what DNS still answers. A name server that does not answer is a warning
in the step's outcome (the change is not confirmed by DNS), never a hang: every query
has a deadline and the step gives up after :data:`UNREACHABLE_LOOKS` silent looks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mr_failover.engine.plan import Clock, Step, StepAction
from mr_failover.resources.dns import (
    QUERY_TIMEOUT,
    ZONE_SERVERS,
    DnsAnswerFinding,
    observe_answers,
    parse_servers,
    setting,
    standby,
)
from mr_failover.topology import Topology

UNREACHABLE_LOOKS = 3  # consecutive looks without any name server answering
# Weighted answers are drawn at random per query: this many draws per look make a region
# with half the weight missing from a look about once in 65,000.
SAMPLES = 16
# A restored region must be seen again: a weighted draw may miss it, so the verification
# looks this many times before it says the answers changed back.
VERIFY_LOOKS = 3


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def judge(
    topology: Topology, region: str, found: tuple[DnsAnswerFinding, ...], *, drained: bool
) -> tuple[bool | None, str]:
    """(goal met? None: no name server answered, what DNS answers) for ``region``.

    Drained: no client is sent to the region. Restored: a client near the region is sent
    to it, for each record name where the region is not a standby (failover SECONDARY,
    weight 0), which answers only when the others are out.
    """
    errors = [f"{f.name}: {f.error}" for f in found if f.error]
    if errors:
        return None, "; ".join(errors)
    met = True
    parts = []
    for f in found:
        if drained:
            met = met and region not in f.regions
        elif not standby(topology, region, f.name):
            own = [a for a in f.answers if a.vantage == region] or list(f.answers)
            met = met and any(region in a.regions for a in own)
        parts.append(f"{f.name} -> {', '.join(f.regions) or 'no region'}")
    return met, "; ".join(parts)


class DnsNotes:
    """The journal's ``dns-answers`` notes: each record name's regions, when they change
    (``name``, ``regions``, ``t``: the wall time they were seen), for the drill's timeline."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.seen: dict[str, tuple[str, ...]] = {}
        self.pending: list[tuple[str, dict[str, Any]]] = []

    def saw(self, found: tuple[DnsAnswerFinding, ...]) -> None:
        for f in found:
            if f.error is None and self.seen.get(f.name) != f.regions:
                self.seen[f.name] = f.regions
                fields = {"name": f.name, "regions": list(f.regions), "t": self.clock.time()}
                self.pending.append(("dns-answers", fields))

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        out, self.pending = self.pending, []
        return out


def serving_answers(
    topology: Topology, region: str, notes: DnsNotes | None = None
) -> tuple[bool | None, str]:
    """For a drill's verify: whether DNS sends a client near ``region`` to it now (None:
    not checked, no name server set or none answered), and what DNS answers."""
    configured = setting()
    if configured is None or not topology.regions[region].traffic.records:
        return None, "not checked (MR_FAILOVER_DNS_SERVER not set)"
    found = observe_answers(topology, configured, region=region, samples=SAMPLES)
    if notes is not None:
        notes.saw(found)
    met, text = judge(topology, region, found, drained=False)
    return met, text if met is not None else f"not checked: {text}"


class AnswersFollow(StepAction):
    """Wait until the DNS answers no longer (``drained``) or again name ``region``."""

    def __init__(
        self,
        topology: Topology,
        region: str,
        configured: str,
        *,
        drained: bool,
        clock: Clock,
        timeout: float = QUERY_TIMEOUT,
    ) -> None:
        self.topology = topology
        self.region = region
        self.configured = configured
        self.drained = drained
        self.clock = clock
        self.timeout = timeout
        self.last = ""
        self.seen_at: float | None = None  # wall time the answers were first seen changed
        self.silent = 0
        self.unconfirmed: str | None = None
        self.notes = DnsNotes(clock)

    def _look(self) -> bool | None:
        found = observe_answers(
            self.topology,
            self.configured,
            region=self.region,
            timeout=self.timeout,
            samples=SAMPLES,
        )
        self.notes.saw(found)
        met, self.last = judge(self.topology, self.region, found, drained=self.drained)
        if met and self.seen_at is None:
            self.seen_at = self.clock.time()
        return met

    def holds(self) -> bool:
        return self._look() is True

    def apply(self) -> None:
        """Nothing to change: the answers follow the lever already flipped."""

    def settled(self) -> bool:
        if self.unconfirmed is not None:
            return True
        met = self._look()
        if met is None:
            self.silent += 1
            if self.silent >= UNREACHABLE_LOOKS:
                self.unconfirmed = self.last
                return True
            return False
        self.silent = 0
        return met

    def state(self) -> str:
        goal = "leave" if self.drained else "come back to"
        return f"waiting for {self.region} to {goal} the DNS answers: {self.last}"

    def verify(self) -> str | None:
        if self.unconfirmed is not None:
            return None  # a warning in the outcome (note), not a failure
        for _ in range(1 if self.drained else VERIFY_LOOKS):
            if self._look() is not False:
                return None
        return f"the DNS answers changed back: {self.last}"

    def journal_notes(self) -> list[tuple[str, dict[str, Any]]]:
        return self.notes.take()

    def note(self) -> str:
        if self.unconfirmed is not None:
            return f"WARNING: not confirmed by DNS, no name server answered ({self.unconfirmed})"
        if self.seen_at is None:
            return ""
        verb = "left" if self.drained else "came back to"
        return f"{self.region} {verb} the DNS answers at {_iso(self.seen_at)} ({self.last})"


def answers_step(
    topology: Topology, region: str, *, drained: bool, clock: Clock, timeout: float
) -> Step | None:
    """The step confirming ``region``'s traffic change by DNS (None: no name server set,
    or the region declares no record)."""
    configured = setting()
    if configured is None or not topology.regions[region].traffic.records:
        return None
    if configured.lower() != ZONE_SERVERS:
        parse_servers(configured)  # a bad setting is refused before any change (exit 2)
    goal = "leaves" if drained else "comes back to"
    return Step(
        id=f"dns:answers:{region}",
        title=f"confirm {region} {goal} the DNS answers (zone name servers)",
        service="dns",
        call="Query",
        params={"name_servers": configured, "region": region},
        region="-",
        plane="data",
        plane_region=None,
        undoable=True,
        undo=None,
        timeout=timeout,
        poll=1.5,
        max_poll=2.0,
        action=AnswersFollow(topology, region, configured, drained=drained, clock=clock),
    )
