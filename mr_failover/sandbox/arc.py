"""Route 53 ARC for the sandbox: the recovery control configuration API and the rules.

moto has no ARC, so this module serves ``route53-recovery-control-config`` (rest-json,
answered only for requests signed for us-west-2, as on AWS) through the sandbox's
interceptors: clusters, control panels, routing controls and safety rules, with
ARN shapes like AWS's and its ``ResourceNotFoundException`` / ``ValidationException``.
It owns the ARC state (:class:`ArcState`, in ``Sandbox.state``: wiped by reset, copied by
checkpoints), including the routing control states and the five endpoints' modes, and
the safety rule evaluation the data plane applies (:func:`blocking_rules`). The data
plane and its five loopback listeners are in :mod:`mr_failover.sandbox.arc_cluster`.

A gating rule's ``WaitPeriodMs`` is modelled (:func:`apply_change`): after one of its
gating controls changes state, a request naming one of its target controls fails with a
``ConflictException`` that says to try again, until the period has passed.
Not modelled: an assertion rule's ``WaitPeriodMs`` (stored, never waited), PENDING states
(everything is ``DEPLOYED`` at once), tags, resource policies, updates and deletes other
than ``DeleteSafetyRule`` (docs/SANDBOX.md).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import unquote

from mr_failover.sandbox.wire import SandboxResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from mr_failover.sandbox.state import SandboxState
    from mr_failover.sandbox.wire import SandboxRequest

Params = dict[str, Any]
SERVICE = "route53-recovery-control-config"
API_REGION = "us-west-2"
STATE_KEY = "arc"
# The regions of a cluster's five endpoints, in the order of ClusterEndpoints (and of
# the indexes Sandbox.set_arc_endpoint takes).
ENDPOINT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2")
MODES = ("up", "down", "unavailable")
# Sandbox.resident key of a function describing the cluster endpoints (arc_cluster sets it).
ENDPOINTS_KEY = "arc_cluster_endpoints"
RULE_TYPES = ("ATLEAST", "AND", "OR")
_JSON = ("Content-Type", "application/json")


class ArcError(Exception):
    """An ARC API error: code, message, HTTP status, and the resource it names."""

    def __init__(
        self, code: str, message: str, status: int = 400, resource: str = "", kind: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.resource = resource
        self.kind = kind


def not_found(kind: str, arn: str) -> ArcError:
    resource_type = kind.title().replace(" ", "")  # "routing control" -> "RoutingControl"
    return ArcError("ResourceNotFoundException", f"{kind} {arn} not found", 404, arn, resource_type)


def invalid(message: str) -> ArcError:
    return ArcError("ValidationException", message, 400)


@dataclass
class Cluster:
    arn: str
    name: str


@dataclass
class ControlPanel:
    arn: str
    cluster_arn: str
    name: str
    default: bool = False


@dataclass
class RoutingControl:
    arn: str
    panel_arn: str
    name: str
    on: bool = False  # AWS creates a routing control Off


@dataclass
class SafetyRule:
    arn: str
    kind: str  # "ASSERTION" | "GATING"
    panel_arn: str
    name: str
    config: dict[str, Any]  # {"Type", "Inverted", "Threshold"}
    wait_ms: int
    asserted: list[str] = field(default_factory=list)
    gating: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    status: str = "DEPLOYED"

    def to_json(self, owner: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ControlPanelArn": self.panel_arn,
            "Name": self.name,
            "RuleConfig": self.config,
            "SafetyRuleArn": self.arn,
            "Status": self.status,
            "WaitPeriodMs": self.wait_ms,
            "Owner": owner,
        }
        if self.kind == "ASSERTION":
            out["AssertedControls"] = self.asserted
        else:
            out |= {"GatingControls": self.gating, "TargetControls": self.targets}
        return out

    def describe(self) -> str:
        """What the rule asserts, in words (the ConflictException message uses it)."""
        c = self.config
        need = {"AND": "all On", "OR": "at least one On"}.get(
            c["Type"], f"at least {c['Threshold']} On"
        )
        if c["Inverted"]:
            need = f"not ({need})"
        if self.kind == "ASSERTION":
            return f"assertion rule {self.name} ({self.arn}): {need} of {self.asserted}"
        return (
            f"gating rule {self.name} ({self.arn}): {need} of {self.gating} "
            f"before changing {self.targets}"
        )


@dataclass
class ArcState:
    clusters: dict[str, Cluster] = field(default_factory=dict)
    panels: dict[str, ControlPanel] = field(default_factory=dict)
    controls: dict[str, RoutingControl] = field(default_factory=dict)
    rules: dict[str, SafetyRule] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)  # (action, token) -> arn
    modes: list[str] = field(default_factory=lambda: ["up"] * len(ENDPOINT_REGIONS))
    # gating rule ARN -> sandbox time when one of its gating controls last changed state
    gate_changed: dict[str, float] = field(default_factory=dict)


def state(sandbox: SandboxState) -> ArcState:
    found: ArcState = sandbox.state(STATE_KEY, ArcState)
    return found


# --- safety rules ------------------------------------------------------------------------


def satisfied(config: dict[str, Any], states: list[bool]) -> bool:
    """Whether controls in ``states`` meet a RuleConfig (Inverted negates the result)."""
    on = sum(states)
    if config["Type"] == "AND":
        ok = on == len(states)
    elif config["Type"] == "OR":
        ok = on >= 1
    else:
        ok = on >= int(config["Threshold"])
    return ok != bool(config["Inverted"])


def blocking_rules(arc: ArcState, changes: dict[str, bool], override: set[str]) -> list[SafetyRule]:
    """The DEPLOYED rules that refuse setting the controls in ``changes`` (arn -> On).

    Evaluated on the states after the change: an assertion rule when the change names
    one of its asserted controls, a gating rule when it names one of its targets (its
    gating controls then must satisfy the rule). Rules in ``override`` are skipped.
    """
    after = {arn: c.on for arn, c in arc.controls.items()} | changes
    blocked = []
    for rule in arc.rules.values():
        if rule.status != "DEPLOYED" or rule.arn in override:
            continue
        if rule.kind == "ASSERTION":
            touched, watched = rule.asserted, rule.asserted
        else:
            touched, watched = rule.targets, rule.gating
        if not any(arn in changes for arn in touched):
            continue
        if not satisfied(rule.config, [after.get(arn, False) for arn in watched]):
            blocked.append(rule)
    return blocked


# rule: arc-gating-wait-period
# "WaitPeriodMs: An evaluation period, in milliseconds (ms), during which any request
# against the target routing controls will fail. This helps prevent "flapping" of state.
# The wait period is 5000 ms by default" (GatingRule.waitPeriodMs, AWS SDK for Kotlin API
# reference, https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/route53recoverycontrolconfig/aws.sdk.kotlin.services.route53recoverycontrolconfig.model/-gating-rule/wait-period-ms.html;
# the same words in "AWS::Route53RecoveryControl::SafetyRule GatingRule", CloudFormation,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-route53recoverycontrol-safetyrule-gatingrule.html).
# The pages do not say when the period starts: the sandbox starts it when one of the
# rule's gating controls changes state (an assumption, docs/SANDBOX.md). The error is the
# data plane's ConflictException, whose documented text is "There was a conflict with
# this request. Try again." (route53recoverycluster model, AWS SDK for Kotlin,
# https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/route53recoverycluster/aws.sdk.kotlin.services.route53recoverycluster.model).
def waiting_rules(
    arc: ArcState, changes: dict[str, bool], override: set[str], now: float
) -> list[tuple[SafetyRule, float]]:
    """(gating rule, seconds left) for each rule whose wait period holds a named target."""
    out = []
    for arn, since in arc.gate_changed.items():
        rule = arc.rules.get(arn)
        if rule is None or rule.status != "DEPLOYED" or arn in override:
            continue
        left = since + rule.wait_ms / 1000.0 - now
        if left > 0 and any(target in changes for target in rule.targets):
            out.append((rule, left))
    return out


def apply_change(sandbox: SandboxState, changes: dict[str, bool], override: set[str]) -> None:
    """Set the controls in ``changes`` (arn -> On), or none of them.

    Refused with ``ConflictException`` when a safety rule blocks the resulting states, or
    while a gating rule's wait period holds one of the named targets.
    """
    arc = state(sandbox)
    blocked = blocking_rules(arc, changes, override)
    if blocked:
        raise ArcError(
            "ConflictException",
            "the routing control state change is blocked by safety rule(s): "
            + "; ".join(rule.describe() for rule in blocked),
            409,
            ",".join(rule.arn for rule in blocked),
            "SafetyRule",
        )
    now = sandbox.now()
    waiting = waiting_rules(arc, changes, override, now)
    if waiting:
        raise ArcError(
            "ConflictException",
            "There was a conflict with this request. Try again. "
            + "; ".join(
                f"gating rule {rule.name} ({rule.arn}) is in its wait period "
                f"({rule.wait_ms} ms) for {left:.1f} s more"
                for rule, left in waiting
            ),
            409,
            ",".join(rule.arn for rule, _ in waiting),
            "SafetyRule",
        )
    flipped = {arn for arn, on in changes.items() if arc.controls[arn].on != on}
    for arn, on in changes.items():
        arc.controls[arn].on = on
    for rule in arc.rules.values():
        if rule.kind == "GATING" and flipped & set(rule.gating):
            arc.gate_changed[rule.arn] = now


# --- serving -----------------------------------------------------------------------------


def install(sandbox: SandboxState) -> None:
    """Serve the control-config actions (arc_cluster, installed after, the data plane)."""
    for action in _HANDLERS:
        sandbox.intercept(SERVICE, action, _interceptor(sandbox, action))


def cluster_endpoints(sandbox: SandboxState) -> list[dict[str, Any]]:
    """The cluster endpoints as :mod:`~mr_failover.sandbox.arc_cluster` (which serves them
    and registers :data:`ENDPOINTS_KEY`) describes them; none without it."""
    describe: Callable[[], list[dict[str, Any]]] | None = sandbox.resident.get(ENDPOINTS_KEY)
    return describe() if describe is not None else []


def _interceptor(sandbox: SandboxState, action: str) -> Callable[[SandboxRequest], SandboxResponse]:
    def answer(request: SandboxRequest) -> SandboxResponse:
        try:
            if request.region != API_REGION:
                raise ArcError(
                    "UnknownEndpoint",
                    f"route53-recovery-control-config is served from {API_REGION} only, "
                    f"not {request.region}",
                    404,
                )
            params = read_json(request)
            for key, values in request.query.items():
                params.setdefault(key, values[0])
            with sandbox.lock:
                out = _HANDLERS[action](sandbox, request, params)
        except ArcError as exc:
            return request.error(exc.status, exc.code, exc.message)
        body = json.dumps(out).encode()
        return SandboxResponse(200, body, (_JSON, ("x-amzn-RequestId", str(uuid.uuid4()))))

    return answer


def read_json(request: SandboxRequest) -> dict[str, Any]:
    try:
        params = json.loads(request.body() or b"{}")
    except json.JSONDecodeError as exc:
        raise invalid(f"body is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise invalid("body must be a JSON object")
    return params


def _path_arn(request: SandboxRequest) -> str:
    """The ARN in the path's second segment (``/cluster/{ClusterArn}``, ...)."""
    raw = request.environ.get("RAW_URI", request.path).split("?", 1)[0]
    parts = raw.split("/")
    return unquote(parts[2]) if len(parts) > 2 else ""


def _name(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or any(c.isspace() for c in value):
        raise invalid(f"{key} must be 1-64 characters without spaces, not {value!r}")
    return value


def page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    try:
        limit = int(params.get("MaxResults") or 1000)
        start = int(params.get("NextToken") or 0)
    except (TypeError, ValueError):
        raise invalid("MaxResults and NextToken must come from an earlier answer") from None
    if limit < 1 or start < 0:
        raise invalid("MaxResults must be at least 1")
    out: dict[str, Any] = {key: items[start : start + limit]}
    if start + limit < len(items):
        out["NextToken"] = str(start + limit)
    return out


def _known(sandbox: SandboxState, action: str, params: dict[str, Any]) -> str | None:
    token = params.get("ClientToken")
    return state(sandbox).tokens.get((action, token)) if isinstance(token, str) else None


def _remember(sandbox: SandboxState, action: str, params: dict[str, Any], arn: str) -> None:
    token = params.get("ClientToken")
    if isinstance(token, str):
        state(sandbox).tokens[(action, token)] = arn


class _Named(Protocol):
    arn: str


T = TypeVar("T", bound=_Named)


def _create(
    sandbox: SandboxState,
    action: str,
    params: Params,
    table: dict[str, T],
    clash: str | None,
    make: Callable[[], T],
) -> T:
    """What ``make`` builds, stored; the earlier result for a known ClientToken.

    ``clash`` names an existing resource of the same name (a ConflictException).
    """
    arn = _known(sandbox, action, params)
    if arn is None:
        if clash is not None:
            raise ArcError("ConflictException", f"{clash} already exists", 409)
        item = make()
        arn = item.arn
        table[arn] = item
        _remember(sandbox, action, params, arn)
    return table[arn]


def _arn(sandbox: SandboxState, path: str) -> str:
    return f"arn:aws:route53-recovery-control::{sandbox.account_id}:{path}"


def cluster_json(sandbox: SandboxState, c: Cluster) -> dict[str, Any]:
    return {
        "ClusterArn": c.arn,
        "ClusterEndpoints": [
            {"Endpoint": e["url"], "Region": e["region"]} for e in cluster_endpoints(sandbox)
        ],
        "Name": c.name,
        "Status": "DEPLOYED",
        "Owner": sandbox.account_id,
        "NetworkType": "IPV4",
    }


def panel_json(sandbox: SandboxState, p: ControlPanel) -> dict[str, Any]:
    count = sum(1 for c in state(sandbox).controls.values() if c.panel_arn == p.arn)
    return {
        "ClusterArn": p.cluster_arn,
        "ControlPanelArn": p.arn,
        "DefaultControlPanel": p.default,
        "Name": p.name,
        "RoutingControlCount": count,
        "Status": "DEPLOYED",
        "Owner": sandbox.account_id,
    }


def control_json(sandbox: SandboxState, c: RoutingControl) -> dict[str, Any]:
    return {
        "ControlPanelArn": c.panel_arn,
        "Name": c.name,
        "RoutingControlArn": c.arn,
        "Status": "DEPLOYED",
        "Owner": sandbox.account_id,
    }


def _get(table: dict[str, T], arn: str, kind: str) -> T:
    found = table.get(arn)
    if found is None:
        raise not_found(kind, arn)
    return found


def cluster(sandbox: SandboxState, arn: str) -> Cluster:
    return _get(state(sandbox).clusters, arn, "cluster")


def panel(sandbox: SandboxState, arn: str) -> ControlPanel:
    return _get(state(sandbox).panels, arn, "control panel")


def control(sandbox: SandboxState, arn: str) -> RoutingControl:
    return _get(state(sandbox).controls, arn, "routing control")


# --- the actions -------------------------------------------------------------------------


def create_cluster(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    name = _name(params, "ClusterName")
    arc = state(sandbox)
    arn = _known(sandbox, "CreateCluster", params)
    if arn is None:
        arn = _arn(sandbox, f"cluster/{uuid.uuid4()}")
        arc.clusters[arn] = Cluster(arn, name)
        # As on AWS, a new cluster comes with its default control panel.
        default = _arn(sandbox, f"controlpanel/{uuid.uuid4().hex}")
        arc.panels[default] = ControlPanel(default, arn, "DefaultControlPanel", default=True)
        _remember(sandbox, "CreateCluster", params, arn)
    return {"Cluster": cluster_json(sandbox, arc.clusters[arn])}


def describe_cluster(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    return {"Cluster": cluster_json(sandbox, cluster(sandbox, _path_arn(request)))}


def list_clusters(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    items = [cluster_json(sandbox, c) for c in state(sandbox).clusters.values()]
    return page(items, params, "Clusters")


def create_control_panel(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    name = _name(params, "ControlPanelName")
    owner = cluster(sandbox, str(params.get("ClusterArn")))
    panels = state(sandbox).panels
    taken = any(p.name == name and p.cluster_arn == owner.arn for p in panels.values())
    created = _create(
        sandbox,
        "CreateControlPanel",
        params,
        panels,
        f"control panel {name}" if taken else None,
        lambda: ControlPanel(_arn(sandbox, f"controlpanel/{uuid.uuid4().hex}"), owner.arn, name),
    )
    return {"ControlPanel": panel_json(sandbox, created)}


def describe_control_panel(
    sandbox: SandboxState, request: SandboxRequest, params: Params
) -> Params:
    return {"ControlPanel": panel_json(sandbox, panel(sandbox, _path_arn(request)))}


def list_control_panels(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    wanted = params.get("ClusterArn")
    if wanted:
        cluster(sandbox, str(wanted))
    items = [
        panel_json(sandbox, p)
        for p in state(sandbox).panels.values()
        if not wanted or p.cluster_arn == wanted
    ]
    return page(items, params, "ControlPanels")


def create_routing_control(
    sandbox: SandboxState, request: SandboxRequest, params: Params
) -> Params:
    name = _name(params, "RoutingControlName")
    owner = cluster(sandbox, str(params.get("ClusterArn")))
    arc = state(sandbox)
    if params.get("ControlPanelArn"):
        where = panel(sandbox, str(params["ControlPanelArn"]))
        if where.cluster_arn != owner.arn:
            raise invalid(f"control panel {where.arn} is not in cluster {owner.arn}")
    else:
        where = next(p for p in arc.panels.values() if p.cluster_arn == owner.arn and p.default)
    taken = any(c.name == name and c.panel_arn == where.arn for c in arc.controls.values())
    created = _create(
        sandbox,
        "CreateRoutingControl",
        params,
        arc.controls,
        f"routing control {name}" if taken else None,
        lambda: RoutingControl(
            f"{where.arn}/routingcontrol/{uuid.uuid4().hex[:16]}", where.arn, name
        ),
    )
    return {"RoutingControl": control_json(sandbox, created)}


def describe_routing_control(
    sandbox: SandboxState, request: SandboxRequest, params: Params
) -> Params:
    return {"RoutingControl": control_json(sandbox, control(sandbox, _path_arn(request)))}


def list_routing_controls(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    where = panel(sandbox, _path_arn(request))
    items = [
        control_json(sandbox, c)
        for c in state(sandbox).controls.values()
        if c.panel_arn == where.arn
    ]
    return page(items, params, "RoutingControls")


def _rule_controls(sandbox: SandboxState, spec: Params, key: str, panel_arn: str) -> list[str]:
    arns = spec.get(key)
    if not isinstance(arns, list) or not arns:
        raise invalid(f"{key} needs at least one routing control ARN")
    for arn in arns:
        found = control(sandbox, str(arn))
        if found.panel_arn != panel_arn:
            raise invalid(f"{key}: routing control {arn} is not in control panel {panel_arn}")
    return [str(a) for a in arns]


def _rule_config(spec: Params, controls: int) -> dict[str, Any]:
    config = spec.get("RuleConfig")
    if not isinstance(config, dict) or config.get("Type") not in RULE_TYPES:
        raise invalid(f"RuleConfig.Type must be one of {', '.join(RULE_TYPES)}")
    threshold = config.get("Threshold")
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise invalid("RuleConfig.Threshold must be an integer")
    if config["Type"] == "ATLEAST" and not 1 <= threshold <= controls:
        raise invalid(f"RuleConfig.Threshold for ATLEAST must be between 1 and {controls}")
    return {
        "Type": config["Type"],
        "Inverted": bool(config.get("Inverted")),
        "Threshold": threshold,
    }


def create_safety_rule(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    assertion, gating = params.get("AssertionRule"), params.get("GatingRule")
    if (assertion is None) == (gating is None):
        raise invalid("CreateSafetyRule needs exactly one of AssertionRule and GatingRule")
    spec = assertion if assertion is not None else gating
    if not isinstance(spec, dict):
        raise invalid("the rule must be an object")
    kind = "ASSERTION" if assertion is not None else "GATING"
    arc = state(sandbox)
    arn = _known(sandbox, "CreateSafetyRule", params)
    if arn is None:
        where = panel(sandbox, str(spec.get("ControlPanelArn")))
        name = _name(spec, "Name")
        wait = spec.get("WaitPeriodMs")
        if not isinstance(wait, int) or isinstance(wait, bool) or wait < 0:
            raise invalid("WaitPeriodMs must be an integer >= 0")
        if kind == "ASSERTION":
            asserted = _rule_controls(sandbox, spec, "AssertedControls", where.arn)
            gates, targets = [], []
            config = _rule_config(spec, len(asserted))
        else:
            asserted = []
            gates = _rule_controls(sandbox, spec, "GatingControls", where.arn)
            targets = _rule_controls(sandbox, spec, "TargetControls", where.arn)
            config = _rule_config(spec, len(gates))
        arn = f"{where.arn}/safetyrule/{uuid.uuid4().hex[:16]}"
        arc.rules[arn] = SafetyRule(
            arn, kind, where.arn, name, config, wait, asserted, gates, targets
        )
        _remember(sandbox, "CreateSafetyRule", params, arn)
    return _rule_out(sandbox, arc.rules[arn], "AssertionRule", "GatingRule")


def _rule_out(sandbox: SandboxState, rule: SafetyRule, assertion: str, gating: str) -> Params:
    return {assertion if rule.kind == "ASSERTION" else gating: rule.to_json(sandbox.account_id)}


def _rule(sandbox: SandboxState, arn: str) -> SafetyRule:
    return _get(state(sandbox).rules, arn, "safety rule")


def describe_safety_rule(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    rule = _rule(sandbox, _path_arn(request))
    return _rule_out(sandbox, rule, "AssertionRule", "GatingRule")


def list_safety_rules(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    where = panel(sandbox, _path_arn(request))
    items = [
        _rule_out(sandbox, r, "ASSERTION", "GATING")
        for r in state(sandbox).rules.values()
        if r.panel_arn == where.arn
    ]
    return page(items, params, "SafetyRules")


def delete_safety_rule(sandbox: SandboxState, request: SandboxRequest, params: Params) -> Params:
    rule = _rule(sandbox, _path_arn(request))
    del state(sandbox).rules[rule.arn]
    return {}


_HANDLERS: dict[str, Callable[[SandboxState, SandboxRequest, Params], Params]] = {
    "CreateCluster": create_cluster,
    "DescribeCluster": describe_cluster,
    "ListClusters": list_clusters,
    "CreateControlPanel": create_control_panel,
    "DescribeControlPanel": describe_control_panel,
    "ListControlPanels": list_control_panels,
    "CreateRoutingControl": create_routing_control,
    "DescribeRoutingControl": describe_routing_control,
    "ListRoutingControls": list_routing_controls,
    "CreateSafetyRule": create_safety_rule,
    "DescribeSafetyRule": describe_safety_rule,
    "ListSafetyRules": list_safety_rules,
    "DeleteSafetyRule": delete_safety_rule,
}
