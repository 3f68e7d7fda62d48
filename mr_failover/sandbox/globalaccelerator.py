"""Global Accelerator for the sandbox: moto has none, so this module serves its JSON API.

It answers, through the sandbox's interceptors, the calls the tool and the seeder make:
``CreateAccelerator``, ``DescribeAccelerator``, ``ListAccelerators``, ``CreateListener``,
``ListListeners``, ``CreateEndpointGroup``, ``DescribeEndpointGroup``,
``ListEndpointGroups``, ``UpdateEndpointGroup``, and the accelerator's tags
(``TagResource``, ``UntagResource``, ``ListTagsForResource``, ``Tags`` on
``CreateAccelerator``; "Tagging in AWS Global Accelerator",
https://docs.aws.amazon.com/global-accelerator/latest/dg/tagging-in-global-accelerator.html).
As on AWS (AWS-FACTS.md):

- the API is served from us-west-2 only: a request signed for any other region is
  refused (on AWS there is no such endpoint at all), and an outage of us-west-2 takes the
  whole API away (the fault layer does that, before this module sees the request);
- an accelerator is ``IN_PROGRESS`` after each change and ``DEPLOYED`` once the change
  has propagated (``DEPLOY_SECONDS`` on the sandbox clock);
- ``TrafficDialPercentage`` is 0-100 per endpoint group, one endpoint group per region
  per listener, and the ``IdempotencyToken`` of a Create call returns the first result;
- endpoints in a region that is down report ``HealthState: UNHEALTHY``.

Everything here is the project's own state (no moto model), wiped by the sandbox reset.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.wire import SandboxResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from mr_failover.sandbox.state import SandboxState
    from mr_failover.sandbox.wire import SandboxRequest

SERVICE = "globalaccelerator"
API_REGION = "us-west-2"
STATE_KEY = "globalaccelerator"
# How long a change takes to reach DEPLOYED, sandbox seconds (minutes on AWS).
DEPLOY_SECONDS = 0.5
ACTIONS = (
    "CreateAccelerator",
    "DescribeAccelerator",
    "ListAccelerators",
    "CreateListener",
    "ListListeners",
    "CreateEndpointGroup",
    "DescribeEndpointGroup",
    "ListEndpointGroups",
    "UpdateEndpointGroup",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)
_CONTENT_TYPE = ("Content-Type", "application/x-amz-json-1.1")


class _ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class EndpointGroup:
    arn: str
    listener_arn: str
    region: str
    endpoints: list[dict[str, Any]]
    dial: float
    health_check_port: int
    health_check_protocol: str
    health_check_path: str
    interval: int
    threshold: int

    def to_json(self, sandbox: SandboxState) -> dict[str, Any]:
        down = sandbox.region_down(self.region)
        endpoints = []
        for e in self.endpoints:
            item = {
                "EndpointId": e["EndpointId"],
                "Weight": int(e.get("Weight", 128)),
                "HealthState": "UNHEALTHY" if down else "HEALTHY",
                "ClientIPPreservationEnabled": bool(e.get("ClientIPPreservationEnabled", False)),
            }
            if down:
                item["HealthReason"] = "Health checks failed"
            endpoints.append(item)
        out: dict[str, Any] = {
            "EndpointGroupArn": self.arn,
            "EndpointGroupRegion": self.region,
            "EndpointDescriptions": endpoints,
            "TrafficDialPercentage": self.dial,
            "HealthCheckPort": self.health_check_port,
            "HealthCheckProtocol": self.health_check_protocol,
            "ThresholdCount": self.threshold,
            "HealthCheckIntervalSeconds": self.interval,
            "PortOverrides": [],
        }
        if self.health_check_protocol != "TCP":
            out["HealthCheckPath"] = self.health_check_path
        return out


@dataclass
class Listener:
    arn: str
    accelerator_arn: str
    port_ranges: list[dict[str, int]]
    protocol: str
    affinity: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ListenerArn": self.arn,
            "PortRanges": self.port_ranges,
            "Protocol": self.protocol,
            "ClientAffinity": self.affinity,
        }


@dataclass
class Accelerator:
    arn: str
    name: str
    enabled: bool
    ip_type: str
    created: float  # wall time, epoch seconds
    modified: float
    changed_at: float  # sandbox clock: DEPLOYED after DEPLOY_SECONDS
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self, sandbox: SandboxState) -> dict[str, Any]:
        deployed = sandbox.now() - self.changed_at >= DEPLOY_SECONDS
        short = self.arn.rsplit("/", 1)[-1][:16]
        return {
            "AcceleratorArn": self.arn,
            "Name": self.name,
            "IpAddressType": self.ip_type,
            "Enabled": self.enabled,
            "IpSets": [{"IpFamily": "IPv4", "IpAddresses": ["192.0.2.10", "198.51.100.10"]}],
            "DnsName": f"a{short}.awsglobalaccelerator.com",
            "Status": "DEPLOYED" if deployed else "IN_PROGRESS",
            "CreatedTime": self.created,
            "LastModifiedTime": self.modified,
        }


@dataclass
class GaState:
    accelerators: dict[str, Accelerator] = field(default_factory=dict)
    listeners: dict[str, Listener] = field(default_factory=dict)
    groups: dict[str, EndpointGroup] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)  # (action, token) -> arn


def state(sandbox: SandboxState) -> GaState:
    found: GaState = sandbox.state(STATE_KEY, GaState)
    return found


def install(sandbox: SandboxState) -> None:
    """Register the interceptors for every action this module serves."""
    for action in ACTIONS:
        sandbox.intercept(SERVICE, action, _interceptor(sandbox, action))


def _interceptor(sandbox: SandboxState, action: str) -> Callable[[SandboxRequest], SandboxResponse]:
    def answer(request: SandboxRequest) -> SandboxResponse:
        return _serve(sandbox, request, action)

    return answer


def _serve(sandbox: SandboxState, request: SandboxRequest, action: str) -> SandboxResponse:
    try:
        if request.region != API_REGION:
            raise _ApiError(
                "UnknownEndpoint",
                f"Global Accelerator has no API endpoint in {request.region}; its API is "
                f"served from {API_REGION} only",
                404,
            )
        try:
            params = json.loads(request.body() or b"{}")
        except json.JSONDecodeError as exc:
            raise _ApiError("SerializationException", f"body is not JSON: {exc}") from None
        if not isinstance(params, dict):
            raise _ApiError("SerializationException", "body must be a JSON object")
        with sandbox.lock:
            handler = _HANDLERS[action]
            out = handler(sandbox, params)
    except _ApiError as exc:
        return request.error(exc.status, exc.code, exc.message)
    body = json.dumps(out).encode()
    return SandboxResponse(200, body, (_CONTENT_TYPE, ("x-amzn-RequestId", str(uuid.uuid4()))))


# --- lookups ---------------------------------------------------------------------------


def _required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise _ApiError("InvalidArgumentException", f"{name} is required")
    return value


def _accelerator(sandbox: SandboxState, arn: str) -> Accelerator:
    found = state(sandbox).accelerators.get(arn)
    if found is None:
        raise _ApiError("AcceleratorNotFoundException", f"Accelerator {arn} not found")
    return found


def _listener(sandbox: SandboxState, arn: str) -> Listener:
    found = state(sandbox).listeners.get(arn)
    if found is None:
        raise _ApiError("ListenerNotFoundException", f"Listener {arn} not found")
    return found


def _group(sandbox: SandboxState, arn: str) -> EndpointGroup:
    found = state(sandbox).groups.get(arn)
    if found is None:
        raise _ApiError("EndpointGroupNotFoundException", f"Endpoint group {arn} not found")
    return found


def _page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    limit = int(params.get("MaxResults") or 100)
    if not 1 <= limit <= 100:
        raise _ApiError("InvalidArgumentException", "MaxResults must be between 1 and 100")
    try:
        start = int(params.get("NextToken") or 0)
    except ValueError:
        raise _ApiError("InvalidNextTokenException", "NextToken is not valid") from None
    out: dict[str, Any] = {key: items[start : start + limit]}
    if start + limit < len(items):
        out["NextToken"] = str(start + limit)
    return out


def _dial(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise _ApiError(
            "InvalidArgumentException", f"TrafficDialPercentage must be 0-100, not {value!r}"
        )
    return float(value)


def _idempotent(sandbox: SandboxState, action: str, params: dict[str, Any]) -> str | None:
    token = str(_required(params, "IdempotencyToken"))
    return state(sandbox).tokens.get((action, token))


def _remember(sandbox: SandboxState, action: str, params: dict[str, Any], arn: str) -> None:
    state(sandbox).tokens[(action, str(params["IdempotencyToken"]))] = arn


def _touch(sandbox: SandboxState, accelerator_arn: str) -> None:
    acc = _accelerator(sandbox, accelerator_arn)
    acc.changed_at = sandbox.now()
    acc.modified = sandbox.wall_time().timestamp()


# --- the actions -----------------------------------------------------------------------


def create_accelerator(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    name = str(_required(params, "Name"))
    known = _idempotent(sandbox, "CreateAccelerator", params)
    if known is None:
        arn = f"arn:aws:globalaccelerator::{sandbox.account_id}:accelerator/{uuid.uuid4()}"
        wall = sandbox.wall_time().timestamp()
        state(sandbox).accelerators[arn] = Accelerator(
            arn=arn,
            name=name,
            enabled=bool(params.get("Enabled", True)),
            ip_type=str(params.get("IpAddressType") or "IPV4"),
            created=wall,
            modified=wall,
            changed_at=sandbox.now(),
            tags=_tags(params.get("Tags") or []),
        )
        _remember(sandbox, "CreateAccelerator", params, arn)
        known = arn
    return {"Accelerator": _accelerator(sandbox, known).to_json(sandbox)}


def describe_accelerator(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    acc = _accelerator(sandbox, str(_required(params, "AcceleratorArn")))
    return {"Accelerator": acc.to_json(sandbox)}


def list_accelerators(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    items = [a.to_json(sandbox) for a in state(sandbox).accelerators.values()]
    return _page(items, params, "Accelerators")


def _tags(items: Any) -> dict[str, str]:
    if not isinstance(items, list) or not all(
        isinstance(t, dict) and isinstance(t.get("Key"), str) and isinstance(t.get("Value"), str)
        for t in items
    ):
        raise _ApiError("InvalidArgumentException", "Tags must be a list of {Key, Value}")
    return {t["Key"]: t["Value"] for t in items}


def tag_resource(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    acc = _accelerator(sandbox, str(_required(params, "ResourceArn")))
    acc.tags.update(_tags(_required(params, "Tags")))
    return {}


def untag_resource(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    acc = _accelerator(sandbox, str(_required(params, "ResourceArn")))
    for key in _required(params, "TagKeys"):
        acc.tags.pop(str(key), None)
    return {}


def list_tags_for_resource(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    acc = _accelerator(sandbox, str(_required(params, "ResourceArn")))
    return {"Tags": [{"Key": k, "Value": v} for k, v in acc.tags.items()]}


def create_listener(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    acc = _accelerator(sandbox, str(_required(params, "AcceleratorArn")))
    ranges = _required(params, "PortRanges")
    protocol = str(_required(params, "Protocol"))
    if protocol not in ("TCP", "UDP"):
        raise _ApiError("InvalidArgumentException", f"Protocol must be TCP or UDP, not {protocol}")
    known = _idempotent(sandbox, "CreateListener", params)
    if known is None:
        arn = f"{acc.arn}/listener/{uuid.uuid4().hex[:8]}"
        state(sandbox).listeners[arn] = Listener(
            arn=arn,
            accelerator_arn=acc.arn,
            port_ranges=[
                {"FromPort": int(r["FromPort"]), "ToPort": int(r["ToPort"])} for r in ranges
            ],
            protocol=protocol,
            affinity=str(params.get("ClientAffinity") or "NONE"),
        )
        _remember(sandbox, "CreateListener", params, arn)
        _touch(sandbox, acc.arn)
        known = arn
    return {"Listener": _listener(sandbox, known).to_json()}


def list_listeners(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    acc = _accelerator(sandbox, str(_required(params, "AcceleratorArn")))
    items = [x.to_json() for x in state(sandbox).listeners.values() if x.accelerator_arn == acc.arn]
    return _page(items, params, "Listeners")


def create_endpoint_group(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    listener = _listener(sandbox, str(_required(params, "ListenerArn")))
    region = str(_required(params, "EndpointGroupRegion"))
    known = _idempotent(sandbox, "CreateEndpointGroup", params)
    if known is None:
        for g in state(sandbox).groups.values():
            if g.listener_arn == listener.arn and g.region == region:
                raise _ApiError(
                    "EndpointGroupAlreadyExistsException",
                    f"Listener {listener.arn} already has an endpoint group in {region}",
                )
        arn = f"{listener.arn}/endpoint-group/{uuid.uuid4().hex[:12]}"
        state(sandbox).groups[arn] = EndpointGroup(
            arn=arn,
            listener_arn=listener.arn,
            region=region,
            endpoints=list(params.get("EndpointConfigurations") or []),
            dial=_dial(params.get("TrafficDialPercentage", 100.0)),
            health_check_port=int(params.get("HealthCheckPort") or 443),
            health_check_protocol=str(params.get("HealthCheckProtocol") or "TCP"),
            health_check_path=str(params.get("HealthCheckPath") or "/"),
            interval=int(params.get("HealthCheckIntervalSeconds") or 30),
            threshold=int(params.get("ThresholdCount") or 3),
        )
        _remember(sandbox, "CreateEndpointGroup", params, arn)
        _touch(sandbox, listener.accelerator_arn)
        known = arn
    return {"EndpointGroup": _group(sandbox, known).to_json(sandbox)}


def describe_endpoint_group(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    group = _group(sandbox, str(_required(params, "EndpointGroupArn")))
    return {"EndpointGroup": group.to_json(sandbox)}


def list_endpoint_groups(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    listener = _listener(sandbox, str(_required(params, "ListenerArn")))
    items = [
        g.to_json(sandbox) for g in state(sandbox).groups.values() if g.listener_arn == listener.arn
    ]
    return _page(items, params, "EndpointGroups")


def update_endpoint_group(sandbox: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    group = _group(sandbox, str(_required(params, "EndpointGroupArn")))
    if "TrafficDialPercentage" in params:
        group.dial = _dial(params["TrafficDialPercentage"])
    if "EndpointConfigurations" in params:
        group.endpoints = list(params["EndpointConfigurations"] or [])
    listener = _listener(sandbox, group.listener_arn)
    _touch(sandbox, listener.accelerator_arn)
    return {"EndpointGroup": group.to_json(sandbox)}


_HANDLERS = {
    "CreateAccelerator": create_accelerator,
    "DescribeAccelerator": describe_accelerator,
    "ListAccelerators": list_accelerators,
    "CreateListener": create_listener,
    "ListListeners": list_listeners,
    "CreateEndpointGroup": create_endpoint_group,
    "DescribeEndpointGroup": describe_endpoint_group,
    "ListEndpointGroups": list_endpoint_groups,
    "UpdateEndpointGroup": update_endpoint_group,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
