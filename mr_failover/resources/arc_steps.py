"""The routing-control lever: plan a region's routing controls OFF (drain) or ON (undrain).

:func:`plan_routing_controls` reads the controls' states through the data plane and the
control panels' safety rules (cached), predicts which deployed rules the change would
break, and refuses before any change, naming each rule and what it asserts, unless the
operator overrides it. :class:`SetRoutingControls` is the step: one atomic
``UpdateRoutingControlStates`` for all the region's controls, skipped when they are
already in the wanted state, verified by reading the states back through the data plane.
A ``ConflictException`` at apply time (the rules changed since they were read) is
reported with the rules that a fresh read says block it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mr_failover.aws import ClientSource
from mr_failover.engine.plan import Step, StepAction
from mr_failover.errors import MrFailoverError, RefusedError
from mr_failover.resources import arc
from mr_failover.topology import Topology

# What the plan shows as the step's endpoint: the call goes to whichever answers.
ANY_ENDPOINT = "any ARC endpoint"
# The state read back is immediate on the data plane; a minute covers a slow endpoint.
STEP_TIMEOUT = 60.0


class SafetyRuleBlockedError(RefusedError):
    """A safety rule would block the change; nothing was changed."""


@dataclass(frozen=True)
class Override:
    """A safety rule the operator chose to override (journaled with the plan)."""

    arn: str
    name: str
    asserts: str

    def to_json(self) -> dict[str, str]:
        return {"arn": self.arn, "name": self.name, "asserts": self.asserts}


@dataclass(frozen=True)
class RoutingControlPlan:
    """The step, what the plan found, and the overrides it carries."""

    step: Step
    before: Mapping[str, str | None]  # label -> state found
    overrides: tuple[Override, ...]
    notes: tuple[str, ...] = field(default=())


def _state_word(on: bool) -> str:
    return "ON" if on else "OFF"


def rule_line(rule: arc.SafetyRule, labels: dict[str, str]) -> str:
    """``assertion rule 'x' (ARN): at least 1 of [...] must stay ON``."""
    words = rule.describe(labels)
    kind, _, rest = words.partition(": ")
    return f"{kind} ({rule.arn}): {rest}"


def blocked_message(
    region: str, on: bool, blocked: Sequence[arc.SafetyRule], labels: dict[str, str]
) -> str:
    rules = "; ".join(rule_line(r, labels) for r in blocked)
    flags = " ".join(f"--override-safety-rule {r.arn}" for r in blocked)
    return (
        f"refused: turning {region}'s routing controls {_state_word(on)} would break "
        f"{len(blocked)} ARC safety rule{'s' if len(blocked) != 1 else ''}: {rules}; no change "
        f"made. Fix the other controls first, or override after checking: {flags}"
    )


def update_params(arns: Sequence[str], *, on: bool, overrides: Sequence[str]) -> dict[str, Any]:
    """The UpdateRoutingControlStates request: every control to one state, in one batch."""
    want = "On" if on else "Off"
    params: dict[str, Any] = {
        "UpdateRoutingControlStateEntries": [
            {"RoutingControlArn": a, "RoutingControlState": want} for a in arns
        ]
    }
    if overrides:
        params["SafetyRulesToOverride"] = list(dict.fromkeys(overrides))
    return params


class SetRoutingControls(StepAction):
    """Set routing controls to one state in one atomic data-plane call."""

    def __init__(
        self,
        topology: Topology,
        plane: arc.DataPlane,
        arns: Sequence[str],
        *,
        on: bool,
        overrides: Sequence[str],
        explain: Callable[[], str],
    ) -> None:
        self.topology = topology
        self.plane = plane
        self.arns = tuple(arns)
        self.on = on
        self.overrides = tuple(overrides)
        self.explain = explain
        self.served_by: arc.Attempt | None = None
        self._last = ""

    def _read(self) -> arc.PanelStates:
        states = arc.read_states(self.topology, self.plane, arc.panels_of(self.arns))
        self._last = ", ".join(
            f"{states.controls[a].label} {states.controls[a].state or 'unknown'}" for a in self.arns
        )
        return states

    def holds(self) -> bool:
        want = "On" if self.on else "Off"
        states = self._read()
        return all(states.controls[a].state == want for a in self.arns)

    def apply(self) -> None:
        params = update_params(self.arns, on=self.on, overrides=self.overrides)
        try:
            self.plane.call("update_routing_control_states", **params)
        except arc.SafetyRuleConflictError as exc:
            raise arc.SafetyRuleConflictError(f"{exc}; {self._explain()}") from None
        self.served_by = self.plane.served_by

    def _explain(self) -> str:
        try:
            return self.explain()
        except MrFailoverError as exc:
            return f"the rules could not be read again to name the one that blocks ({exc})"

    def state(self) -> str:
        return self._last


def plan_routing_controls(
    topology: Topology,
    factory: ClientSource,
    region: str,
    *,
    on: bool,
    overrides: Sequence[str] = (),
    undo: str,
    plane: arc.DataPlane | None = None,
) -> RoutingControlPlan:
    """The step turning ``region``'s routing controls ON/OFF; refuses a blocked change."""
    arns = list(topology.regions[region].traffic.routing_controls)
    plane = plane or arc.data_plane(topology, factory)
    panels = arc.panels_of(arns)
    rules = arc.load_rules(topology, factory, panels)
    states = arc.read_states(topology, plane, panels)
    labels = states.labels()
    change = dict.fromkeys(arns, on)
    notes = list(rules.notes)
    want = "On" if on else "Off"
    # Nothing will be sent when the controls are already there (a re-run, a resume).
    done = all(states.controls[a].state == want for a in arns)
    blocked = (
        () if done else arc.blocking_rules(rules.rules, states.on(), change, overrides=overrides)
    )
    if blocked:
        raise SafetyRuleBlockedError(blocked_message(region, on, blocked, labels))
    would_block = set(arc.blocking_rules(rules.rules, states.on(), change))
    found: list[Override] = []
    for arn in dict.fromkeys(overrides):
        rule = rules.by_arn(arn)
        if rule is None:
            found.append(Override(arn, "(not among the rules read)", "unknown"))
            notes.append(
                f"--override-safety-rule {arn} is not a rule of the panels read; it is sent as "
                "given"
            )
            continue
        found.append(Override(arn, rule.name, rule.describe(labels)))
        if rule not in would_block:
            notes.append(f"safety rule '{rule.name}' would not block this change; override unused")
    for arn in arns:
        if states.controls[arn].state is None:
            notes.append(f"routing control {arn} was not found on the cluster's data plane")

    def explain() -> str:
        fresh = arc.load_rules(topology, factory, panels)
        now = arc.read_states(topology, plane, panels)
        why = arc.blocking_rules(fresh.rules, now.on(), change, overrides=overrides)
        if not why:
            return "a fresh read of the rules finds none that blocks it (changed again?)"
        return "blocking: " + "; ".join(rule_line(r, now.labels()) for r in why)

    params = update_params(arns, on=on, overrides=overrides)
    names = ", ".join(labels.get(a, a) for a in arns)
    step = Step(
        id=f"arc:routing-controls:{region}:{want.lower()}",
        title=f"turn {region}'s routing controls {_state_word(on)} ({names})",
        service=arc.CLUSTER_SERVICE,
        call="UpdateRoutingControlStates",
        params=params,
        region=ANY_ENDPOINT,
        plane="data",
        plane_region=None,
        undoable=True,
        undo=undo,
        timeout=STEP_TIMEOUT,
        poll=1.0,
        max_poll=2.0,
        action=SetRoutingControls(
            topology,
            plane,
            arns,
            on=on,
            overrides=list(dict.fromkeys(overrides)),
            explain=explain,
        ),
    )
    before = {labels.get(a, a): states.controls[a].state for a in arns}
    return RoutingControlPlan(step, before, tuple(found), tuple(notes))
