"""The routing-control lever: plan a region's routing controls OFF (drain) or ON (undrain).

:func:`plan_routing_controls` reads the controls' states through the data plane and the
control panels' safety rules (cached), predicts which deployed rules the change would
break, and refuses before any change, naming each rule and what it asserts, unless the
operator overrides it. :class:`SetRoutingControls` is the step: one atomic
``UpdateRoutingControlStates`` for all the region's controls, skipped when they are
already in the wanted state, verified by reading the states back through the data plane.
A ``ConflictException`` at apply time is judged from a fresh read of the rules: when one
blocks the change (the rules changed since the plan read them), the step stops naming it;
when none does, the conflict is one ARC asks to try again (a gating rule's wait period,
a concurrent update), and the step retries it for a bounded time (``arc-conflict-retry``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mr_failover.aws import ClientSource
from mr_failover.engine.plan import Clock, Step, StepAction, SystemClock
from mr_failover.errors import MrFailoverError, RefusedError
from mr_failover.resources import arc
from mr_failover.topology import Topology

# What the plan shows as the step's endpoint: the call goes to whichever answers.
ANY_ENDPOINT = "any ARC endpoint"
# The state read back is immediate on the data plane; a minute covers a slow endpoint.
STEP_TIMEOUT = 60.0

# rule: arc-conflict-retry
# The data plane's ConflictException is documented as "There was a conflict with this
# request. Try again." (route53recoverycluster model, AWS SDK for Kotlin API reference,
# https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/route53recoverycluster/aws.sdk.kotlin.services.route53recoverycluster.model),
# and a gating rule's WaitPeriodMs is "an evaluation period, in milliseconds (ms), during
# which any request against the target routing controls will fail ... 5000 ms by
# default" (GatingRule.waitPeriodMs, same reference,
# https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/route53recoverycontrolconfig/aws.sdk.kotlin.services.route53recoverycontrolconfig.model/-gating-rule/wait-period-ms.html).
# So a conflict that no rule explains is retried: for the longest wait period of the
# gating rules that target these controls (the default when none is known), plus a
# margin, in at most MAX_CONFLICT_ATTEMPTS calls.
DEFAULT_WAIT_PERIOD = 5.0
CONFLICT_MARGIN = 2.0
MAX_CONFLICT_ATTEMPTS = 8


class SafetyRuleBlockedError(RefusedError):
    """A safety rule would block the change; nothing was changed."""


@dataclass(frozen=True)
class Recheck:
    """A fresh read after a conflict: does a rule block the change (None: not known)?"""

    blocked: bool | None
    words: str


def _says_retry(message: str) -> bool:
    return "try again" in message.lower()


def wait_periods(
    rules: Sequence[arc.SafetyRule], arns: Sequence[str], overrides: Sequence[str] = ()
) -> tuple[arc.SafetyRule, ...]:
    """The deployed gating rules whose wait period can hold a change to ``arns``."""
    skip = set(overrides)
    return tuple(
        r
        for r in rules
        if r.kind == "gating"
        and r.status == "DEPLOYED"
        and r.arn not in skip
        and set(r.targets) & set(arns)
    )


def conflict_budget(gates: Sequence[arc.SafetyRule]) -> float:
    """How long a ConflictException no rule explains is retried."""
    longest = max((g.wait_ms / 1000.0 for g in gates), default=DEFAULT_WAIT_PERIOD)
    return longest + CONFLICT_MARGIN


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
        explain: Callable[[], Recheck],
        retry_for: float = DEFAULT_WAIT_PERIOD + CONFLICT_MARGIN,
        clock: Clock | None = None,
    ) -> None:
        self.topology = topology
        self.plane = plane
        self.arns = tuple(arns)
        self.on = on
        self.overrides = tuple(overrides)
        self.explain = explain
        self.retry_for = retry_for
        self.clock = clock or SystemClock()
        self.served_by: arc.Attempt | None = None
        self.conflicts = 0  # ConflictExceptions retried by the last apply
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
        start = self.clock.monotonic()
        self.conflicts = 0
        while True:
            try:
                self.plane.call("update_routing_control_states", **params)
                break
            except arc.SafetyRuleConflictError as exc:
                # rule: arc-conflict-retry
                why = self._explain()
                waited = self.clock.monotonic() - start
                self.conflicts += 1
                retry = why.blocked is False or (why.blocked is None and _says_retry(str(exc)))
                if not retry:
                    raise arc.SafetyRuleConflictError(f"{exc}; {why.words}") from None
                if waited >= self.retry_for or self.conflicts >= MAX_CONFLICT_ATTEMPTS:
                    raise arc.SafetyRuleConflictError(
                        f"{exc}; still refused after {self.conflicts} attempts over "
                        f"{waited:.1f}s ({why.words}); a gating rule's wait period or another "
                        "change under way: run the command again"
                    ) from None
                pause = min(0.25 * 2 ** (self.conflicts - 1), 2.0, self.retry_for - waited)
                self.clock.sleep(max(pause, 0.05))
        self.served_by = self.plane.served_by

    def _explain(self) -> Recheck:
        try:
            return self.explain()
        except MrFailoverError as exc:
            return Recheck(
                None, f"the rules could not be read again to name the one that blocks ({exc})"
            )

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
    clock: Clock | None = None,
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

    gates = wait_periods(rules.rules, arns, overrides)
    budget = conflict_budget(gates)
    for gate in gates:
        notes.append(
            f"gating rule '{gate.name}' (WaitPeriodMs {gate.wait_ms}): ARC refuses changes to "
            f"its target controls for {gate.wait_ms / 1000:g}s after its gating controls "
            f"change; the step retries such a refusal for up to {budget:g}s"
        )

    def explain() -> Recheck:
        fresh = arc.load_rules(topology, factory, panels)
        now = arc.read_states(topology, plane, panels)
        why = arc.blocking_rules(fresh.rules, now.on(), change, overrides=overrides)
        if not why:
            return Recheck(False, "a fresh read of the rules finds none that blocks it")
        return Recheck(True, "blocking: " + "; ".join(rule_line(r, now.labels()) for r in why))

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
            retry_for=budget,
            clock=clock,
        ),
    )
    before = {labels.get(a, a): states.controls[a].state for a in arns}
    return RoutingControlPlan(step, before, tuple(found), tuple(notes))
