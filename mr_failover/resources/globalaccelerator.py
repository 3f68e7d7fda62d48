"""Global Accelerator: each region's endpoint group and traffic dial, and the dial as a lever.

Global Accelerator is a global service whose API is served from us-west-2 only
(AWS-FACTS.md): every call here goes to that control plane, whatever region it is about.
The accelerator's edge network (the data plane) keeps routing by the last dials set
when that API does not answer, so status reports an unanswering API as a warning.

Reads: the accelerator (by ARN, or looked up by name), its listeners, and their endpoint
groups, each with its region, ``TrafficDialPercentage`` and endpoint health. The step:
:class:`SetTrafficDial` sets one endpoint group's dial with ``UpdateEndpointGroup``, then
waits until the accelerator is ``DEPLOYED`` again with the dial in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mr_failover.aws import CONTROL_PLANE_REGION, call
from mr_failover.engine.plan import Step, StepAction
from mr_failover.errors import AwsCallError
from mr_failover.resources.section import (
    Cell,
    ErrorKind,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
    SharedReads,
)
from mr_failover.topology import GlobalAccelerator

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Topology

GA_REGION = CONTROL_PLANE_REGION["globalaccelerator"]
# A dial change propagates to the edge in about a minute; past this the step fails.
DIAL_TIMEOUT = 300.0


@dataclass(frozen=True)
class EndpointGroupFinding:
    arn: str
    region: str
    dial: float
    endpoints: int
    healthy: int


@dataclass(frozen=True)
class AcceleratorFinding:
    arn: str
    name: str
    status: str  # DEPLOYED | IN_PROGRESS
    enabled: bool
    groups: tuple[EndpointGroupFinding, ...]

    def group(self, region: str, arn: str | None = None) -> EndpointGroupFinding | None:
        """The region's endpoint group (the one named by ``arn`` when given)."""
        for g in self.groups:
            if (arn is None and g.region == region) or (arn is not None and g.arn == arn):
                return g
        return None


def _pages(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        out = call(client, operation, **params)
        items += out.get(key, [])
        token = out.get("NextToken")
        if not token:
            return items
        params["NextToken"] = token


def find_accelerator(client: Any, spec: GlobalAccelerator) -> dict[str, Any]:
    """The accelerator the topology names: by ARN, else the one with its name."""
    if spec.arn is not None:
        found: dict[str, Any] = call(client, "describe_accelerator", AcceleratorArn=spec.arn)[
            "Accelerator"
        ]
        return found
    named = [
        a for a in _pages(client, "list_accelerators", "Accelerators") if a["Name"] == spec.name
    ]
    if len(named) != 1:
        what = "no accelerator" if not named else f"{len(named)} accelerators"
        raise AwsCallError(
            GA_REGION,
            "globalaccelerator:ListAccelerators",
            f"{what} named {spec.name!r}",
            "set global_accelerator.arn in the topology",
        )
    return named[0]


def _group(g: dict[str, Any]) -> EndpointGroupFinding:
    endpoints = g.get("EndpointDescriptions", [])
    return EndpointGroupFinding(
        arn=g["EndpointGroupArn"],
        region=g["EndpointGroupRegion"],
        dial=float(g.get("TrafficDialPercentage", 100.0)),
        endpoints=len(endpoints),
        healthy=sum(1 for e in endpoints if e.get("HealthState") == "HEALTHY"),
    )


def observe_accelerator(client: Any, spec: GlobalAccelerator) -> AcceleratorFinding:
    """The accelerator with every endpoint group of every listener (us-west-2 client)."""
    acc = find_accelerator(client, spec)
    arn = acc["AcceleratorArn"]
    groups: list[EndpointGroupFinding] = []
    for listener in _pages(client, "list_listeners", "Listeners", AcceleratorArn=arn):
        pages = _pages(
            client, "list_endpoint_groups", "EndpointGroups", ListenerArn=listener["ListenerArn"]
        )
        groups += [_group(g) for g in pages]
    return AcceleratorFinding(
        arn=arn,
        name=acc.get("Name", ""),
        status=acc.get("Status", "unknown"),
        enabled=bool(acc.get("Enabled", True)),
        groups=tuple(groups),
    )


def accelerator_of(group_arn: str) -> str:
    """``.../accelerator/ID/listener/L/endpoint-group/G`` -> ``.../accelerator/ID``."""
    return group_arn.split("/listener/", 1)[0]


def read_dial(client: Any, group_arn: str) -> float:
    out = call(client, "describe_endpoint_group", EndpointGroupArn=group_arn)
    return float(out["EndpointGroup"].get("TrafficDialPercentage", 100.0))


class SetTrafficDial(StepAction):
    """Set an endpoint group's traffic dial; wait until the accelerator has deployed it."""

    def __init__(self, client: Any, group_arn: str, dial: float) -> None:
        self.client = client
        self.group_arn = group_arn
        self.dial = dial
        self._seen: tuple[float, str] | None = None

    def holds(self) -> bool:
        return read_dial(self.client, self.group_arn) == self.dial

    def apply(self) -> None:
        call(
            self.client,
            "update_endpoint_group",
            EndpointGroupArn=self.group_arn,
            TrafficDialPercentage=self.dial,
        )

    def settled(self) -> bool:
        dial = read_dial(self.client, self.group_arn)
        acc = call(
            self.client, "describe_accelerator", AcceleratorArn=accelerator_of(self.group_arn)
        )["Accelerator"]
        self._seen = (dial, str(acc.get("Status", "unknown")))
        return dial == self.dial and self._seen[1] == "DEPLOYED"

    def state(self) -> str:
        if self._seen is None:
            return ""
        return f"traffic dial {self._seen[0]:g}%, accelerator {self._seen[1]}"


def dial_step(
    client: Any, *, group_arn: str, region: str, dial: float, previous: float, undo: str
) -> Step:
    """The step that sets ``region``'s traffic dial to ``dial`` percent."""
    return Step(
        id=f"globalaccelerator:dial:{region}:{dial:g}",
        title=f"set the Global Accelerator traffic dial of {region} to {dial:g}% "
        f"(now {previous:g}%)",
        service="globalaccelerator",
        call="UpdateEndpointGroup",
        params={"EndpointGroupArn": group_arn, "TrafficDialPercentage": dial},
        region=GA_REGION,
        plane="control",
        plane_region=GA_REGION,
        undoable=True,
        undo=undo,
        timeout=DIAL_TIMEOUT,
        action=SetTrafficDial(client, group_arn, dial),
    )


# --- the status section ------------------------------------------------------------------


@dataclass(frozen=True)
class AcceleratorStatus:
    """The Global Accelerator as seen from its API in us-west-2; ``group``: this region's."""

    accelerator: AcceleratorFinding
    group: EndpointGroupFinding | None


def observe_region(
    factory: ClientSource, region: str, topology: Topology, shared: SharedReads | None = None
) -> AcceleratorStatus:
    """The accelerator (read once for all regions when ``shared``) and this region's group."""
    spec_ga = topology.global_accelerator
    assert spec_ga is not None

    def read() -> AcceleratorFinding:
        return observe_accelerator(factory.client("globalaccelerator", GA_REGION), spec_ga)

    found = read() if shared is None else shared.once("globalaccelerator", read)
    spec = topology.regions[region].global_accelerator
    pinned = spec.endpoint_group_arn if spec is not None else None
    return AcceleratorStatus(accelerator=found, group=found.group(region, pinned))


class AcceleratorSection(Section):
    name = "accelerator"
    rounds = 3  # the accelerator, its listeners, their endpoint groups
    title = "Accelerator"
    layout = "optional-column"

    def reads(self, ctx: ReadContext) -> list[Read]:
        if ctx.spec.global_accelerator is None:
            return []
        return [
            Read(
                "accelerator",
                lambda: observe_region(ctx.factory, ctx.region, ctx.topology, ctx.shared),
                GA_REGION,
            )
        ]

    def read_error(self, key: str, exc: Exception, unreachable: bool) -> tuple[ErrorKind, str]:
        if unreachable:
            # Global Accelerator's API is a control plane in us-west-2; the edge network
            # keeps routing with the dials last set.
            return "warning", f"accelerator: API ({GA_REGION}) not answering: {exc}"
        return super().read_error(key, exc, unreachable)

    def judge(self, view: RegionView) -> Judgement:
        a = view.get("accelerator")
        if not isinstance(a, AcceleratorStatus):
            return Judgement()
        reasons: list[str] = []
        warnings: list[str] = []
        lever = view.spec.traffic.drain_lever == "traffic_dial"
        drained = False
        acc = a.accelerator
        if not acc.enabled:
            reasons.append(f"accelerator: {acc.name} is disabled")
        g = a.group
        if g is None:
            reasons.append(f"accelerator: {acc.name} has no endpoint group in {view.region}")
            return Judgement(reasons, warnings, value=a)
        if g.endpoints and g.healthy == 0:
            reasons.append(
                f"accelerator: no healthy endpoint in {view.region} (0 of {g.endpoints})"
            )
        elif g.healthy < g.endpoints:
            warnings.append(f"accelerator: {g.healthy} of {g.endpoints} endpoints healthy")
        if g.dial == 0:
            if lever:
                warnings.append("accelerator: traffic dial at 0%: drained (mr-failover undrain)")
                drained = True
            else:
                reasons.append(
                    "accelerator: traffic dial at 0%: the accelerator sends it no traffic, but "
                    "its drain lever is not traffic_dial"
                )
        return Judgement(reasons, warnings, drained, value=a)

    def value_cell(self, a: AcceleratorStatus, r: RegionStatus) -> Cell:
        if a.group is None:
            return Cell("no endpoint group")
        g = a.group
        text = f"dial {g.dial:g}%, {g.healthy}/{g.endpoints} healthy"
        if a.accelerator.status != "DEPLOYED":
            text += f", {a.accelerator.status}"
        return Cell(text)


SECTION = AcceleratorSection()
