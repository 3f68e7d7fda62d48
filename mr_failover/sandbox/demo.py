"""The demo scenario: a seeded sandbox, status, an outage of the primary, status again.

Everything runs in this process against the embedded sandbox on loopback: the same
status code that runs against AWS, pointed at the sandbox endpoint. The scenario reports
what happens through ``on_event`` and returns the two status reports; it never prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
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


@dataclass(frozen=True)
class DemoResult:
    topology_file: Path
    failed_region: str
    before: StatusReport
    after: StatusReport
    detected_after_seconds: float


@contextmanager
def sandbox_environment() -> Iterator[None]:
    """Point the default credential chain at dummy keys for the duration."""
    saved = {k: os.environ.get(k) for k in (*SANDBOX_ENV, *_SCRUB)}
    os.environ.update(SANDBOX_ENV)
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


def run_demo(
    config: str | Path,
    workdir: Path,
    on_event: Callable[[str], None],
    *,
    detect_timeout: float = 30.0,
    poll: float = 0.5,
) -> DemoResult:
    """Seed ``config`` into a fresh sandbox, fail the primary region, observe both states."""
    source = topo.load(config)
    with sandbox_environment():
        sandbox = Sandbox()
        endpoint = sandbox.start()
        try:
            on_event(f"sandbox serving on {endpoint}")
            factory = ClientFactory(
                source, endpoint_url=endpoint, timeouts=Timeouts.for_deadline(3)
            )
            seeded = seed(source, factory)
            workdir.mkdir(parents=True, exist_ok=True)
            out = workdir / "regions.seeded.yaml"
            out.write_text(topo.dump(seeded))
            on_event(f"seeded {source.application} in {', '.join(seeded.regions)}; topology: {out}")
            before = observe(seeded, factory, deadline=3)
            region = seeded.primary_region
            on_event(f"simulating an outage of {region} (its endpoints stop answering)")
            failed_at = time.monotonic()
            sandbox.add_fault(Fault(region=region))
            after = before
            while time.monotonic() - failed_at < detect_timeout:
                after = observe(seeded, factory, deadline=2)
                if after.region(region).verdict != before.region(region).verdict:
                    break
                time.sleep(poll)
            return DemoResult(out, region, before, after, time.monotonic() - failed_at)
        finally:
            sandbox.stop()
