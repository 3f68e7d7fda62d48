"""Route 53 ARC routing controls: the cluster's endpoints, its safety rules, its data plane.

A routing control's state is read and changed through the cluster's data plane
(``route53-recovery-cluster``), which five regional endpoints serve: :class:`DataPlane`
tries them in random order, one short attempt each, and moves on when an endpoint does
not answer, answers that it is unavailable, is throttled or fails on its side (5xx). It
stops at an answer that another endpoint would give too (validation, not found, access
denied, a safety rule's conflict). Each client is signed for its endpoint's region.

Reading the endpoints (``DescribeCluster``) and the safety rules (``ListSafetyRules``) are
control-plane calls served from us-west-2 only, so both are cached in a file under the
state directory: the endpoints when the topology does not list them, the rules refreshed
whenever the control plane answers and used from the cache (with a note) when it does not.

The rules are evaluated here as ARC documents them (on the states after the change), so
that a plan names the rule that would block it, with what it asserts, before any change.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import botocore.exceptions

from mr_failover.aws import ClientFactory, ClientSource, Timeouts, call, error_code, translate
from mr_failover.engine import journal
from mr_failover.errors import (
    AwsCallError,
    CredentialsError,
    MrFailoverError,
    RefusedError,
    RegionUnreachableError,
    UsageError,
)
from mr_failover.topology import Arc, ArcEndpoint, Topology, control_panel_arn

CLUSTER_SERVICE = "route53-recovery-cluster"
CONFIG_SERVICE = "route53-recovery-control-config"
# The ARC control plane (clusters, panels, controls, rules) is served from us-west-2 only.
CONTROL_PLANE_REGION = "us-west-2"
# One short attempt per endpoint: a dead endpoint costs about a second, then the next
# endpoint is tried (AWS's advice for this data plane), instead of retries on the same one.
ENDPOINT_TIMEOUTS = Timeouts(connect=1.0, read=3.0, max_attempts=1, error_attempts=1)
# Control-plane reads at planning time: two attempts, a few seconds, then the cache.
CONTROL_TIMEOUTS = Timeouts.for_deadline(6.0)

State = Literal["On", "Off"]

# Answers another endpoint would give the same way: stop trying.
_FINAL = {
    "ValidationException",
    "ResourceNotFoundException",
    "AccessDeniedException",
    "ConflictException",
    "ServiceLimitExceededException",
}
# Answers that say "this endpoint, not now": try the next one.
_NEXT = {
    "EndpointTemporarilyUnavailableException",
    "ThrottlingException",
    "InternalServerException",
}


# --- the data plane ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One endpoint tried for one call, and why it did not serve it (None: it did)."""

    region: str
    url: str
    failure: str | None


class NoEndpointAnsweredError(RegionUnreachableError):
    """Every endpoint of the cluster was tried and none answered."""

    def __init__(self, call_name: str, attempts: Sequence[Attempt]) -> None:
        self.attempts = tuple(attempts)
        tried = "; ".join(f"{a.region} ({a.url}): {a.failure}" for a in attempts)
        super().__init__(
            ", ".join(a.region for a in attempts) or "no endpoint",
            call_name,
            f"none of the cluster's {len(attempts)} endpoints answered: {tried}",
            "check the network path to the endpoints, or `mr-failover arc endpoints --refresh`",
        )


class SafetyRuleConflictError(RefusedError):
    """The data plane refused a change: a safety rule blocks it (ConflictException)."""


def endpoint_clients(
    factory: ClientSource, timeouts: Timeouts = ENDPOINT_TIMEOUTS
) -> Callable[[ArcEndpoint], Any]:
    """A data-plane client per endpoint: its URL, signed for its region, one short try.

    Test doubles that are not a :class:`ClientFactory` give one client per region (each
    endpoint of a cluster is in its own region).
    """
    if isinstance(factory, ClientFactory):
        fast = factory.with_timeouts(timeouts)
        return lambda ep: fast.client(CLUSTER_SERVICE, ep.region, endpoint_url=ep.url)
    return lambda ep: factory.client(CLUSTER_SERVICE, ep.region)


class DataPlane:
    """Calls the cluster's data plane, trying its endpoints in random order until one answers.

    ``attempts`` keeps every endpoint tried by the last call (which one served it, and why
    the others did not), for plans, status and tests.
    """

    def __init__(
        self,
        endpoints: Sequence[ArcEndpoint],
        make_client: Callable[[ArcEndpoint], Any],
        *,
        rng: random.Random | None = None,
    ) -> None:
        if not endpoints:
            raise UsageError("the ARC cluster has no endpoints (mr-failover arc endpoints)")
        self.endpoints = tuple(endpoints)
        self._make_client = make_client
        self._clients: dict[str, Any] = {}
        self._rng = rng or random.Random()
        self.attempts: tuple[Attempt, ...] = ()

    def _client(self, endpoint: ArcEndpoint) -> Any:
        if endpoint.url not in self._clients:
            self._clients[endpoint.url] = self._make_client(endpoint)
        return self._clients[endpoint.url]

    def call(self, operation: str, **params: Any) -> Any:
        """``operation`` on the first endpoint that answers; raises when none does."""
        order = list(self.endpoints)
        self._rng.shuffle(order)
        attempts: list[Attempt] = []
        name = _call_name(operation)
        for endpoint in order:
            try:
                client = self._client(endpoint)
                out = getattr(client, operation)(**params)
            except Exception as exc:
                reason = _next_endpoint_reason(exc)
                if reason is None:
                    self.attempts = (*attempts, Attempt(endpoint.region, endpoint.url, "final"))
                    raise _final_error(exc, endpoint, name) from None
                attempts.append(Attempt(endpoint.region, endpoint.url, reason))
                continue
            attempts.append(Attempt(endpoint.region, endpoint.url, None))
            self.attempts = tuple(attempts)
            return out
        self.attempts = tuple(attempts)
        raise NoEndpointAnsweredError(name, attempts)

    @property
    def served_by(self) -> Attempt | None:
        """The endpoint that answered the last call."""
        return next((a for a in self.attempts if a.failure is None), None)


def _call_name(operation: str) -> str:
    return CLUSTER_SERVICE + ":" + "".join(p.capitalize() for p in operation.split("_"))


def _next_endpoint_reason(exc: BaseException) -> str | None:
    """Why the next endpoint should be tried after ``exc``; None to stop here."""
    if isinstance(exc, MrFailoverError):
        # Making the client failed (an AssumeRole that did not answer...): only a
        # network failure is worth another endpoint.
        return str(exc) if isinstance(exc, RegionUnreachableError) else None
    if isinstance(
        exc, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError
    ):
        return f"timed out ({type(exc).__name__})"
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectionClosedError
        | botocore.exceptions.ConnectionError,
    ):
        return f"no connection ({type(exc).__name__})"
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        if code in _FINAL:
            return None
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _NEXT or code.startswith("Throttl") or status >= 500 or status == 429:
            return f"{code or 'error'} (HTTP {status})" if status else code
    return None


def _final_error(exc: BaseException, endpoint: ArcEndpoint, name: str) -> MrFailoverError:
    if error_code(exc) == "ConflictException":
        msg = exc.response["Error"].get("Message", "")  # type: ignore[attr-defined]
        return SafetyRuleConflictError(
            f"refused by ARC ({name} at {endpoint.region}): a safety rule blocks the change: {msg}"
        )
    return translate(exc, endpoint.region, name)


# --- the cache: endpoints and safety rules ---------------------------------------------------


def cache_path(cluster_arn: str) -> Path:
    """``<state dir>/arc/<cluster id>.json``."""
    cluster_id = cluster_arn.rsplit("/", 1)[-1]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cluster_id) or "cluster"
    return journal.state_dir() / "arc" / f"{safe}.json"


def _read_cache(cluster_arn: str) -> dict[str, Any]:
    from mr_failover import statedir

    try:
        # A regular file only (a FIFO planted here must not hang the read).
        with os.fdopen(statedir.open_regular(cache_path(cluster_arn)), "rb") as stream:
            data = json.loads(stream.read(1_000_000))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("cluster_arn") != cluster_arn:
        return {}
    return data


def _write_cache(cluster_arn: str, **changes: Any) -> None:
    from mr_failover import statedir

    path = cache_path(cluster_arn)
    statedir.private_dir("arc")  # 0700 at each level, refused if others may write in it
    data = {**_read_cache(cluster_arn), **changes, "cluster_arn": cluster_arn}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(data, stream, indent=2)
    os.replace(tmp, path)


def _now() -> str:
    return journal.iso(datetime.now(UTC).timestamp())


def _control_client(factory: ClientSource) -> Any:
    if isinstance(factory, ClientFactory):
        factory = factory.with_timeouts(CONTROL_TIMEOUTS)
    return factory.client(CONFIG_SERVICE, CONTROL_PLANE_REGION)


@dataclass(frozen=True)
class Endpoints:
    """The cluster's endpoints and where they came from."""

    cluster_arn: str
    endpoints: tuple[ArcEndpoint, ...]
    source: Literal["topology", "cache", "control plane"]
    read_at: str | None = None  # when DescribeCluster was read (cache, control plane)

    def to_yaml(self) -> str:
        """The ``arc`` block of a topology, ready to paste."""
        lines = ["arc:", f"  cluster_arn: {self.cluster_arn}", "  endpoints:"]
        lines += [f"    - {{ region: {e.region}, url: {e.url} }}" for e in self.endpoints]
        return "\n".join(lines) + "\n"


def _arc(topology: Topology) -> Arc:
    if topology.arc is None:
        raise UsageError("the topology has no 'arc' section (the ARC cluster)")
    return topology.arc


def resolve_endpoints(
    topology: Topology, factory: ClientSource, *, refresh: bool = False
) -> Endpoints:
    """The topology's endpoints, else the cached ones, else DescribeCluster (then cached).

    ``refresh`` reads DescribeCluster whatever the topology and cache hold.
    """
    arc = _arc(topology)
    if arc.endpoints and not refresh:
        return Endpoints(arc.cluster_arn, tuple(arc.endpoints), "topology")
    cached = _read_cache(arc.cluster_arn)
    if cached.get("endpoints") and not refresh:
        return Endpoints(
            arc.cluster_arn,
            tuple(ArcEndpoint.model_validate(e) for e in cached["endpoints"]),
            "cache",
            cached.get("endpoints_read_at"),
        )
    client = _control_client(factory)
    out = call(client, "describe_cluster", ClusterArn=arc.cluster_arn)
    found = tuple(
        ArcEndpoint(region=e["Region"], url=e["Endpoint"])
        for e in out.get("Cluster", {}).get("ClusterEndpoints", [])
    )
    if not found:
        raise AwsCallError(
            CONTROL_PLANE_REGION,
            f"{CONFIG_SERVICE}:DescribeCluster",
            f"cluster {arc.cluster_arn} lists no endpoints (is it still being created?)",
        )
    read_at = _now()
    _write_cache(
        arc.cluster_arn,
        endpoints=[e.model_dump() for e in found],
        endpoints_read_at=read_at,
    )
    return Endpoints(arc.cluster_arn, found, "control plane", read_at)


def data_plane(
    topology: Topology, factory: ClientSource, *, rng: random.Random | None = None
) -> DataPlane:
    """The cluster's data plane, from the endpoints :func:`resolve_endpoints` finds."""
    found = resolve_endpoints(topology, factory)
    return DataPlane(found.endpoints, endpoint_clients(factory), rng=rng)


# --- safety rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SafetyRule:
    """An assertion or gating rule of a control panel, as ListSafetyRules gives it."""

    arn: str
    name: str
    kind: Literal["assertion", "gating"]
    panel_arn: str
    status: str
    rule_type: Literal["ATLEAST", "AND", "OR"]
    threshold: int
    inverted: bool
    asserted: tuple[str, ...] = ()  # assertion rules
    gating: tuple[str, ...] = ()  # gating rules: the controls whose states decide
    targets: tuple[str, ...] = ()  # gating rules: the controls that are gated
    wait_ms: int = 0  # WaitPeriodMs

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> SafetyRule:
        kind: Literal["assertion", "gating"] = "assertion" if "ASSERTION" in item else "gating"
        body = item["ASSERTION"] if kind == "assertion" else item["GATING"]
        config = body.get("RuleConfig", {})
        return cls(
            arn=body["SafetyRuleArn"],
            name=body.get("Name", ""),
            kind=kind,
            panel_arn=body.get("ControlPanelArn", ""),
            status=body.get("Status", ""),
            rule_type=config.get("Type", "ATLEAST"),
            threshold=int(config.get("Threshold", 0)),
            inverted=bool(config.get("Inverted", False)),
            asserted=tuple(body.get("AssertedControls", ())),
            gating=tuple(body.get("GatingControls", ())),
            targets=tuple(body.get("TargetControls", ())),
            wait_ms=int(body.get("WaitPeriodMs") or 0),
        )

    def satisfied(self, states: Iterable[bool]) -> bool:
        """Does the rule's condition hold for ``states`` (ON = True)?"""
        values = list(states)
        if self.rule_type == "AND":
            ok = all(values)
        elif self.rule_type == "OR":
            ok = any(values)
        else:
            ok = sum(values) >= self.threshold
        return ok != self.inverted

    def condition(self, controls: Sequence[str], labels: Mapping[str, str]) -> str:
        """The rule's condition on ``controls``, in words."""
        listed = "[" + ", ".join(labels.get(c, c) for c in controls) + "]"
        if self.rule_type == "AND":
            return f"not all of {listed} ON" if self.inverted else f"all of {listed} ON"
        if self.rule_type == "OR":
            return f"none of {listed} ON" if self.inverted else f"at least 1 of {listed} ON"
        if self.inverted:
            return f"fewer than {self.threshold} of {listed} ON"
        return f"at least {self.threshold} of {listed} ON"

    def describe(self, labels: Mapping[str, str]) -> str:
        """``assertion rule 'min-one-on': at least 1 of [a, b] must stay ON``."""
        if self.kind == "assertion":
            words = self.condition(self.asserted, labels)
            words = words.removesuffix(" ON") + " must stay ON"
            if words.startswith("none of"):
                words = words.replace(" must stay ON", " may be ON")
            return f"assertion rule '{self.name}': {words}"
        targets = "[" + ", ".join(labels.get(c, c) for c in self.targets) + "]"
        return (
            f"gating rule '{self.name}': {targets} may change only while "
            f"{self.condition(self.gating, labels)}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "kind": self.kind,
            "panel_arn": self.panel_arn,
            "status": self.status,
            "type": self.rule_type,
            "threshold": self.threshold,
            "inverted": self.inverted,
            "asserted": list(self.asserted),
            "gating": list(self.gating),
            "targets": list(self.targets),
            "wait_ms": self.wait_ms,
        }


def blocking_rules(
    rules: Iterable[SafetyRule],
    current: Mapping[str, bool],
    change: Mapping[str, bool],
    *,
    overrides: Iterable[str] = (),
) -> tuple[SafetyRule, ...]:
    """The deployed rules that would block ``change`` (control ARN -> ON), as ARC judges.

    Evaluated on the states after the change; a control whose state is unknown counts as
    OFF. Assertion rules are checked when the change touches an asserted control, gating
    rules when it touches a target control. Rules in ``overrides`` are skipped.
    """
    skip = set(overrides)
    after = {**current, **change}
    touched = set(change)
    blocked = []
    for rule in rules:
        if rule.status != "DEPLOYED" or rule.arn in skip:
            continue
        # An assertion rule watches and judges the same controls; a gating rule watches
        # its targets and judges its gating controls.
        watched, judged = (
            (rule.asserted, rule.asserted)
            if rule.kind == "assertion"
            else (rule.targets, rule.gating)
        )
        if touched & set(watched) and not rule.satisfied(after.get(c, False) for c in judged):
            blocked.append(rule)
    return tuple(blocked)


@dataclass(frozen=True)
class Rules:
    """The safety rules of some control panels, and where they were read."""

    rules: tuple[SafetyRule, ...]
    notes: tuple[str, ...] = ()

    def by_arn(self, arn: str) -> SafetyRule | None:
        return next((r for r in self.rules if r.arn == arn), None)


def load_rules(topology: Topology, factory: ClientSource, panels: Iterable[str]) -> Rules:
    """ListSafetyRules for each panel (then cached); the cache when the control plane fails."""
    arc = _arc(topology)
    cached = _read_cache(arc.cluster_arn).get("safety_rules") or {}
    rules: list[SafetyRule] = []
    notes: list[str] = []
    fresh: dict[str, Any] = {}
    client: Any = None
    for panel in dict.fromkeys(panels):
        try:
            client = client or _control_client(factory)
            items = _list_rules(client, panel)
        except CredentialsError:
            raise
        except MrFailoverError as exc:
            entry = cached.get(panel)
            if entry is None:
                notes.append(
                    f"safety rules of {panel} not read ({exc}) and none cached: the plan cannot "
                    "predict them; ARC still enforces them when the change is made"
                )
                continue
            items = entry["rules"]
            notes.append(
                f"the ARC control plane ({CONTROL_PLANE_REGION}) did not answer; using the "
                f"safety rules of {panel} cached at {entry.get('read_at')}"
            )
        else:
            fresh[panel] = {"read_at": _now(), "rules": items}
        rules += [SafetyRule.from_api(i) for i in items]
    if fresh:
        _write_cache(arc.cluster_arn, safety_rules={**cached, **fresh})
    return Rules(tuple(rules), tuple(notes))


def _list_rules(client: Any, panel: str) -> list[dict[str, Any]]:
    return _panel_pages(lambda **p: call(client, "list_safety_rules", **p), panel, "SafetyRules")


def _panel_pages(
    fetch: Callable[..., Mapping[str, Any]], panel: str, key: str
) -> list[dict[str, Any]]:
    """Every item of a control panel's paginated listing (safety rules, routing controls)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"ControlPanelArn": panel, "MaxResults": 100}
        if token:
            params["NextToken"] = token
        out = fetch(**params)
        items += out.get(key, [])
        token = out.get("NextToken")
        if not token:
            return items


# --- routing control states ---------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingControlFinding:
    """A routing control and its state (None: not found on the data plane)."""

    arn: str
    name: str
    region: str | None  # the topology region it belongs to
    state: State | None

    @property
    def state_word(self) -> str:
        """ON, OFF or unknown, as status shows it."""
        return {"On": "ON", "Off": "OFF"}.get(self.state or "", "unknown")

    @property
    def short_name(self) -> str:
        """Its name, else the id at the end of its ARN."""
        return self.name or self.arn.rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        return f"{self.region}/{self.short_name}" if self.region else self.short_name


@dataclass(frozen=True)
class PanelStates:
    """Every routing control of some control panels, with its state, read in one pass."""

    controls: Mapping[str, RoutingControlFinding]
    served_by: tuple[Attempt, ...] = field(default=())

    def on(self) -> dict[str, bool]:
        return {a: f.state == "On" for a, f in self.controls.items() if f.state is not None}

    def labels(self) -> dict[str, str]:
        return {a: f.label for a, f in self.controls.items()}


def owners(topology: Topology) -> dict[str, str]:
    """routing control ARN -> the topology region it belongs to."""
    return {arn: n for n, r in topology.regions.items() for arn in r.traffic.routing_controls}


def read_states(topology: Topology, plane: DataPlane, panels: Iterable[str]) -> PanelStates:
    """ListRoutingControls on the data plane for each panel; the topology's controls that
    it does not list come back with state None."""
    owner = owners(topology)
    panels = list(dict.fromkeys(panels))
    found: dict[str, RoutingControlFinding] = {}
    attempts: list[Attempt] = []

    def fetch(**params: Any) -> Any:
        out = plane.call("list_routing_controls", **params)
        attempts.extend(plane.attempts)
        return out

    for panel in panels:
        for rc in _panel_pages(fetch, panel, "RoutingControls"):
            arn = rc["RoutingControlArn"]
            found[arn] = RoutingControlFinding(
                arn, rc.get("RoutingControlName", ""), owner.get(arn), rc.get("RoutingControlState")
            )
    for arn, region in owner.items():
        if control_panel_arn(arn) in panels and arn not in found:
            found[arn] = RoutingControlFinding(arn, "", region, None)
    return PanelStates(found, tuple(attempts))


def panels_of(arns: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(control_panel_arn(a) for a in arns))


def region_controls(
    topology: Topology, factory: ClientSource, region: str, *, rng: random.Random | None = None
) -> tuple[RoutingControlFinding, ...]:
    """The states of ``region``'s routing controls (status), through the data plane."""
    arns = topology.regions[region].traffic.routing_controls
    plane = data_plane(topology, factory, rng=rng)
    states = read_states(topology, plane, panels_of(arns))
    return tuple(states.controls[a] for a in arns)
