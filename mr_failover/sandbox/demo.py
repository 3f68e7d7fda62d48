"""The demo scenario: a seeded sandbox, status, an evacuation drill, an outage, status,
then a drain through Route 53 ARC routing controls with ARC endpoints down.

Everything runs in this process against the embedded sandbox on loopback: the same
status and drill code that runs against AWS, pointed at the sandbox endpoint.
:func:`demo_session` starts and seeds the sandbox and hands back what the ``demo``
command needs to run the drill (a clock that moves the sandbox's clock instead of
sleeping, so a drill's record-TTL waits and holds take no wall time);
:func:`outage` is the outage part; :func:`recover`, :func:`with_routing_control_lever` and
:func:`arc_endpoints_out` set the stage for the data-plane drain. Nothing here prints:
events go to ``on_event``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mr_failover import topology as topo
from mr_failover.aws import CONTROL_PLANE_REGION, ClientFactory, Timeouts
from mr_failover.engine.journal import ENV_STATE_DIR
from mr_failover.sandbox import app
from mr_failover.sandbox.core import Call, Sandbox
from mr_failover.sandbox.faults import Fault
from mr_failover.sandbox.seed import seed
from mr_failover.status import StatusReport, observe
from mr_failover.topology import Probes, Topology

# Two of the cluster's five endpoints out for the data-plane drain, one per way an
# endpoint fails: index 2 (eu-west-1) refuses connections, index 3 (ap-northeast-1)
# answers EndpointTemporarilyUnavailableException. Neither is a topology region's, so
# what the demo does to the topology's regions leaves them alone.
ARC_ENDPOINTS_OUT: tuple[tuple[int, str], ...] = ((2, "down"), (3, "unavailable"))
ARC_SERVICE = "route53-recovery-cluster"

# The sandbox accepts any credentials; these keep a real profile out of the demo.
SANDBOX_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# MR_FAILOVER_DNS_SERVER too: a shell's export names another sandbox's name server.
_SCRUB = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "MR_FAILOVER_DNS_SERVER",
)


class SandboxTime:
    """A :class:`~mr_failover.engine.plan.Clock` on the sandbox's clock: sleeping advances it.

    The drill then waits in simulated time (Aurora switchovers, health-check intervals and
    replication lags all follow), so the demo's measured RTO is sandbox seconds.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def monotonic(self) -> float:
        return self.sandbox.now()

    def time(self) -> float:
        return self.sandbox.wall_time().replace(tzinfo=dt.UTC).timestamp()

    def sleep(self, seconds: float) -> None:
        self.sandbox.advance(seconds)


@dataclass(frozen=True)
class DemoSession:
    """A started, seeded sandbox: where it answers and the topology that names its ids."""

    sandbox: Sandbox
    endpoint: str
    topology: topo.Topology
    topology_file: Path
    factory: ClientFactory
    clock: SandboxTime


@contextmanager
def demo_session(
    config: str | Path, workdir: Path, on_event: Callable[[str], None]
) -> Iterator[DemoSession]:
    """Start a sandbox, seed ``config`` into it, and stop it on the way out.

    The seeded topology goes to ``workdir``; so does the journal of runs unless the user
    set ``MR_FAILOVER_STATE_DIR``: a demo leaves nothing in the user's state directory.
    """
    source = topo.load(config)
    workdir.mkdir(parents=True, exist_ok=True)
    state_default = {ENV_STATE_DIR: str(workdir / "state")}
    with sandbox_environment(defaults=state_default):
        sandbox = Sandbox()
        endpoint = sandbox.start()
        try:
            on_event(f"sandbox serving on {endpoint}")
            factory = ClientFactory(
                source, endpoint_url=endpoint, timeouts=Timeouts.for_deadline(3)
            )
            seeded = with_application(sandbox, seed(source, factory), on_event)
            out = workdir / "regions.seeded.yaml"
            out.write_text(topo.dump(seeded))
            on_event(f"seeded {source.application} in {', '.join(seeded.regions)}; topology: {out}")
            yield DemoSession(sandbox, endpoint, seeded, out, factory, SandboxTime(sandbox))
        finally:
            sandbox.stop()


def with_application(
    sandbox: Sandbox, seeded: Topology, on_event: Callable[[str], None]
) -> Topology:
    """Set up the sandbox's application (sandbox/app.py) for ``seeded`` and give the
    topology its probes, unless it declares its own: status then shows what clients get,
    and the drill's synthetic client measures it."""
    if seeded.probes is not None:
        return seeded
    name = next((rec.name for r in seeded.regions.values() for rec in r.traffic.records), None)
    if name is None:
        return seeded
    tables = {n: r.dynamodb_tables[0] for n, r in seeded.regions.items() if r.dynamodb_tables}
    app.configure(sandbox, name=name, tables=tables)
    urls = app.describe(sandbox)
    probes = Probes(
        global_url=f"{urls['front']}/health",
        regions={n: f"{urls['regions'][n]}/health" for n in seeded.regions if n in urls["regions"]},
        region_header=app.HEADER,
        timeout_seconds=2,
    )
    on_event(f"the application answers {name.rstrip('.')} on {urls['front']} (its probes)")
    return seeded.model_copy(update={"probes": probes})


@dataclass(frozen=True)
class DemoResult:
    topology_file: Path
    failed_region: str
    before: StatusReport
    after: StatusReport
    detected_after_seconds: float


@contextmanager
def sandbox_environment(defaults: dict[str, str] | None = None) -> Iterator[None]:
    """Point the default credential chain at dummy keys for the duration; set ``defaults``
    where the user has not set them."""
    extra = {k: v for k, v in (defaults or {}).items() if not os.environ.get(k)}
    saved = {k: os.environ.get(k) for k in (*SANDBOX_ENV, *_SCRUB, *extra)}
    os.environ.update(SANDBOX_ENV)
    os.environ.update(extra)
    for key in _SCRUB:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def observe_now(session: DemoSession) -> StatusReport:
    """Status of every region, as ``mr-failover status`` reads it."""
    return observe(session.topology, session.factory, deadline=3)


def outage(
    session: DemoSession,
    before: StatusReport,
    on_event: Callable[[str], None],
    *,
    detect_timeout: float = 120.0,
    poll: float = 1.0,
) -> DemoResult:
    """Fail the primary region and observe until its verdict changes (sandbox seconds)."""
    region = session.topology.primary_region
    on_event(f"simulating an outage of {region} (its endpoints stop answering)")
    session.sandbox.add_fault(Fault(region=region))
    after, took = _observe_until(
        session,
        lambda report: report.region(region).verdict != before.region(region).verdict,
        timeout=detect_timeout,
        poll=poll,
        deadline=2,
    )
    if region == CONTROL_PLANE_REGION["route53"]:
        others = ", ".join(r for r in session.topology.regions if r != region)
        on_event(
            f"Route 53's API lives in {region}: health checkers and DNS keep working, but "
            f"the tool cannot read them until {region} recovers, so traffic shows as unknown "
            f"for every region; {others} is judged on its own regional APIs"
        )
    return DemoResult(session.topology_file, region, before, after, took)


def recover(
    session: DemoSession,
    region: str,
    on_event: Callable[[str], None],
    *,
    timeout: float = 120.0,
    poll: float = 1.0,
) -> StatusReport:
    """Heal ``region``'s outage and observe until it serves again (sandbox seconds)."""
    session.sandbox.heal(region)
    report, took = _observe_until(
        session,
        lambda report: report.region(region).verdict == "serving",
        timeout=timeout,
        poll=poll,
        deadline=3,
    )
    on_event(
        f"{region} recovers: {report.region(region).verdict} after {took:.1f} s (sandbox time)"
    )
    return report


def _observe_until(
    session: DemoSession,
    done: Callable[[StatusReport], bool],
    *,
    timeout: float,
    poll: float,
    deadline: float,
) -> tuple[StatusReport, float]:
    """Observe every ``poll`` sandbox seconds until ``done`` or ``timeout``; the last
    report and the sandbox seconds it took."""
    clock = session.clock
    start = clock.monotonic()
    while True:
        report = observe(session.topology, session.factory, deadline=deadline)
        if done(report) or clock.monotonic() - start >= timeout:
            return report, clock.monotonic() - start
        clock.sleep(poll)


def routing_control_lever(topology: topo.Topology, regions: Iterable[str]) -> topo.Topology:
    """``topology`` with the drain lever of ``regions`` switched to ``routing_control``
    (validated again: the lever needs the region's routing controls and the cluster)."""
    changed = dict(topology.regions)
    for name in regions:
        spec = changed[name]
        traffic = spec.traffic.model_copy(update={"drain_lever": "routing_control"})
        changed[name] = spec.model_copy(update={"traffic": traffic})
    return topo.Topology.model_validate(
        topology.model_copy(update={"regions": changed}).model_dump()
    )


def with_routing_control_lever(session: DemoSession, region: str) -> DemoSession:
    """The session with ``region``'s drain lever switched to ``routing_control``, in a
    topology file next to the seeded one (which stays as the drill used it)."""
    changed = routing_control_lever(session.topology, [region])
    path = session.topology_file.with_name("regions.routing-control.yaml")
    path.write_text(topo.dump(changed))
    return dataclasses.replace(session, topology=changed, topology_file=path)


@contextmanager
def arc_endpoints_out(
    session: DemoSession,
    on_event: Callable[[str], None],
    out: tuple[tuple[int, str], ...] = ARC_ENDPOINTS_OUT,
) -> Iterator[None]:
    """Take ARC cluster endpoints out (``(index, mode)``) for the duration, then back up."""
    sandbox = session.sandbox
    try:
        for index, mode in out:
            described = sandbox.set_arc_endpoint(index, mode)
            on_event(f"ARC endpoint {index} ({described['region']}) is now {mode}")
        yield
    finally:
        back = [sandbox.set_arc_endpoint(index, "up") for index, _ in out]
        on_event(
            "ARC endpoints back up: " + ", ".join(f"{e['index']} ({e['region']})" for e in back)
        )


def arc_updates(session: DemoSession, since: float) -> list[Call]:
    """The UpdateRoutingControlStates requests the cluster's endpoints received from
    sandbox time ``since`` on (a refused connection never reaches the sandbox's log)."""
    return [
        c
        for c in session.sandbox.calls()
        if c.time >= since and c.service == ARC_SERVICE and c.action == "UpdateRoutingControlStates"
    ]


def describe_updates(calls: list[Call]) -> str:
    """``served by the us-west-2 endpoint (after ap-northeast-1: HTTP 503)``."""
    served = [c.region for c in calls if c.status == 200]
    failed = [f"{c.region}: HTTP {c.status}" for c in calls if c.status != 200]
    where = f"served by the {served[-1]} endpoint" if served else "not served"
    return where + (f" (after {', '.join(failed)})" if failed else "")
