"""Fixtures for the reliability harness: the e2e fixtures, plus fault and call-log helpers.

The harness runs in the sandbox pytest process (with tests/sandbox and tests/e2e, never
with ``mock_aws``). It reuses tests/e2e's fixtures unchanged (``e2e_sandbox``,
``e2e_topology_file``, ``e2e_env``, ``run_cli``, ``run_cli_subprocess``, ``control``,
``aws``) and adds:

``e2e_topology`` (overridden)
    The example topology cut down to the sections this harness proves (traffic, Aurora,
    DynamoDB, S3, compute, lock), seeded into the just-reset sandbox. The example grows
    as resources are added (accelerators, caches, API endpoints); their own e2e tests
    cover them, and a fixed subset keeps these figures comparable from run to run.
    Like tests/e2e's, the process's first test seeds and takes a checkpoint
    (:mod:`~mr_failover.sandbox.snapshot`); the others, and :func:`reseed`, restore it.
``quick_backoff``
    botocore's retry backoff shortened 50 times, for in-process runs under throttling.
``mutations(since=0)``
    The mutating calls the sandbox *served* (2xx) after the first ``since`` calls of its
    log (take ``len(control.calls())`` after seeding), as ``region/service:Action``.
    A call the sandbox failed on purpose (an injected 5xx or throttle) never reached moto,
    so it changed nothing and is not counted: a duplicate is a second served call.
``clock``
    tests/e2e/conftest.py's: a ``SandboxAdvancingClock`` installed as the executor's clock
    for in-process runs: sleeping advances the sandbox clock, so AWS-side waits pass
    without real sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.retries.standard import ExponentialBackoff

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.seed import seed
from mr_failover.sandbox.snapshot import Checkpoint, checkpoint, restore
from mr_failover.topology import Topology
from tests.e2e.conftest import (  # noqa: F401  (fixtures re-exported)
    EXAMPLE,
    _dummy_credentials,
    clock,
    e2e_env,
    e2e_sandbox,
    e2e_seeded,
    e2e_topology_file,
    run_cli,
    run_cli_subprocess,
    sandbox,
)
from tests.sandbox.conftest import aws, control  # noqa: F401  (fixtures re-exported)

Mutations = Callable[..., list[str]]
TOP_KEYS = ("application", "account_id", "primary_region", "policy", "lock", "regions")
REGION_KEYS = ("traffic", "aurora", "dynamodb_tables", "s3_buckets", "compute")


def core_example() -> str:
    """config/regions.yaml with only the sections the harness proves (see above)."""
    data = yaml.safe_load(EXAMPLE.read_text())
    out = {k: data[k] for k in TOP_KEYS if k in data}
    out["regions"] = {
        name: {k: region[k] for k in REGION_KEYS if k in region}
        for name, region in data["regions"].items()
    }
    for region in out["regions"].values():  # routing controls come with 'arc', left out
        region.get("traffic", {}).pop("routing_controls", None)
    return yaml.safe_dump(out, sort_keys=False)


def seed_core(endpoint_url: str, directory: Path) -> Topology:
    source = directory / "core-example.yaml"
    source.write_text(core_example())
    factory = ClientFactory(None, endpoint_url=endpoint_url, timeouts=Timeouts(max_attempts=1))
    with pytest.MonkeyPatch.context() as mp:
        _dummy_credentials(mp)
        return seed(topo.load(source), factory)


class CoreSeed:
    """The core example in one sandbox: seeded once, then restored from a checkpoint.

    A restore gives the same resources, ids, call log and simulation state as seeding
    again (tests/e2e/test_snapshot.py), in milliseconds instead of about a second.
    """

    def __init__(self, where: Sandbox) -> None:
        self.sandbox = where
        self.saved: tuple[Topology, Checkpoint] | None = None

    def seed(self, directory: Path) -> Topology:
        """The core example in the just-reset sandbox (``directory`` gets its source)."""
        if self.saved is None:
            seeded = seed_core(self.sandbox.endpoint_url, directory)
            self.saved = (seeded, checkpoint(self.sandbox))
        else:
            (directory / "core-example.yaml").write_text(core_example())
            restore(self.sandbox, self.saved[1])
        return self.saved[0].model_copy(deep=True)


_CORE_SEEDS: dict[str, CoreSeed] = {}  # by endpoint URL, while the process's sandbox runs


@pytest.fixture(scope="session")
def core_seed(e2e_sandbox: Sandbox) -> Iterator[CoreSeed]:  # noqa: F811
    """Seeded once per pytest process, as tests/e2e's example (its sandbox is one too)."""
    held = _CORE_SEEDS[e2e_sandbox.endpoint_url] = CoreSeed(e2e_sandbox)
    yield held
    _CORE_SEEDS.pop(e2e_sandbox.endpoint_url, None)


def reseed(client: SandboxClient, topology_file: Path) -> None:
    """Reset the sandbox and seed the core example again into ``topology_file``."""
    client.reset()
    held = _CORE_SEEDS.get(client.endpoint_url)
    directory = topology_file.parent
    seeded = held.seed(directory) if held else seed_core(client.endpoint_url, directory)
    topology_file.write_text(topo.dump(seeded))


@pytest.fixture
def e2e_topology(
    core_seed: CoreSeed,
    control: SandboxClient,  # noqa: F811
    tmp_path: Path,
) -> Topology:
    return core_seed.seed(tmp_path)


def served_mutations(client: SandboxClient, since: int = 0) -> list[str]:
    """Mutating calls served after the first ``since`` calls of the log (all calls)."""
    return [
        f"{c['region']}/{c['service']}:{c['action']}"
        for c in client.calls()[since:]
        if c["mutating"] and 200 <= int(c["status"]) < 300
    ]


@pytest.fixture
def mutations(control: SandboxClient) -> Mutations:  # noqa: F811
    def read(since: int = 0) -> list[str]:
        return served_mutations(control, since)

    return read


@pytest.fixture(autouse=True)
def ecs_running(monkeypatch: pytest.MonkeyPatch) -> None:
    # moto starts no ECS task: seeded services run their steady count (2, half of the
    # example's takeover_desired), read by moto in this process where the sandbox runs.
    # Autouse, so it is set before the seeding fixtures of the same scope.
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry backoff, 50 times shorter, for in-process runs under throttling.

    Throttling backs off up to seconds per retry (botocore's policy, not the tool's);
    under 20 % throttling a drill would sleep for real for most of a minute. The tests
    prove the retries happen and repeat nothing; how long botocore waits is its own.
    """
    real = ExponentialBackoff.delay_amount

    def shorter(self: ExponentialBackoff, context: Any) -> float:
        return float(real(self, context)) / 50

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", shorter)
