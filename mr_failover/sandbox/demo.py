"""The demo scenario: a seeded sandbox, status, an evacuation drill, an outage, status.

Everything runs in this process against the embedded sandbox on loopback: the same
status and drill code that runs against AWS, pointed at the sandbox endpoint.
:func:`demo_session` starts and seeds the sandbox and hands back what the ``demo``
command needs to run the drill (a clock that moves the sandbox's clock instead of
sleeping, so a drill's record-TTL waits and holds take no wall time);
:func:`run_demo` is the outage part. Nothing here prints: events go to ``on_event``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mr_failover import topology as topo
from mr_failover.aws import CONTROL_PLANE_REGION, ClientFactory, Timeouts
from mr_failover.journal import ENV_STATE_DIR
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.faults import Fault
from mr_failover.sandbox.seed import seed
from mr_failover.status import StatusReport, observe

# The sandbox accepts any credentials; these keep a real profile out of the demo.
SANDBOX_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_SCRUB = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL")


class SandboxTime:
    """A :class:`~mr_failover.plan.Clock` on the sandbox's clock: sleeping advances it.

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
            seeded = seed(source, factory)
            out = workdir / "regions.seeded.yaml"
            out.write_text(topo.dump(seeded))
            on_event(f"seeded {source.application} in {', '.join(seeded.regions)}; topology: {out}")
            yield DemoSession(sandbox, endpoint, seeded, out, factory, SandboxTime(sandbox))
        finally:
            sandbox.stop()


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
    clock = session.clock
    failed_at = clock.monotonic()
    session.sandbox.add_fault(Fault(region=region))
    after = before
    while clock.monotonic() - failed_at < detect_timeout:
        after = observe(session.topology, session.factory, deadline=2)
        if after.region(region).verdict != before.region(region).verdict:
            break
        clock.sleep(poll)
    if region == CONTROL_PLANE_REGION["route53"]:
        others = ", ".join(r for r in session.topology.regions if r != region)
        on_event(
            f"Route 53's API lives in {region}: health checkers and DNS keep working, but "
            f"the tool cannot read them until {region} recovers, so traffic shows as unknown "
            f"for every region; {others} is judged on its own regional APIs"
        )
    return DemoResult(session.topology_file, region, before, after, clock.monotonic() - failed_at)
