"""Fixtures for end-to-end tests: the real CLI against the sandbox over HTTP.

Every e2e test gets a freshly reset sandbox seeded with config/regions.yaml, a private
state dir and dummy credentials. The fixtures (import nothing: pytest finds them here):

``e2e_sandbox`` (session scope: one per pytest process)
    A started :class:`~mr_failover.sandbox.core.Sandbox` on 127.0.0.1 with *fast* real-time
    settings (:data:`E2E_SETTINGS`: a health check interval of 0.1 s, an Aurora switchover
    of 1 s, replication lags of 50 ms), because the CLI waits for real. Tests that need
    another pace call ``control.settings(...)``; the reset before the next test restores
    these. Also exposed as ``sandbox``, so tests/sandbox/conftest.py's ``control`` (a
    :class:`~mr_failover.sandbox.client.SandboxClient`, reset before each test) and
    ``aws(service, region)`` (boto3 clients, one attempt) work here unchanged.
``e2e_topology``
    The example topology seeded into the just-reset sandbox, generated ids (health check
    ids, hosted zone ids) filled in. The process's first test seeds (about a second)
    and takes a :mod:`~mr_failover.sandbox.snapshot` checkpoint; the others restore it
    (milliseconds): the same resources, ids, call log and simulation state as a reseed.
``e2e_topology_file``
    ``e2e_topology`` dumped to ``tmp_path/regions.yaml`` (what ``--config`` gets).
``e2e_env``
    The environment of a CLI run, already applied to ``os.environ`` with monkeypatch and
    returned as a dict: ``AWS_ENDPOINT_URL`` (the sandbox), dummy ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``MR_FAILOVER_CONFIG`` (the topology
    file), ``MR_FAILOVER_STATE_DIR`` (``tmp_path/state``: journal of runs), ``NO_COLOR``;
    ``AWS_PROFILE`` and ``AWS_CONFIG_FILE`` point nowhere so a developer's real profile is
    never read.
``run_cli(*args, input=None)``
    Runs ``mr-failover ARGS`` in-process with click's CliRunner in ``e2e_env``; returns
    the :class:`click.testing.Result` (``exit_code``, ``stdout``, ``stderr``, ``output``).
``run_cli_subprocess(*args, env=None, timeout=60)``
    Runs the installed entry point (``.venv/bin/mr-failover``) as a child process in
    ``e2e_env`` (plus ``env``); returns ``subprocess.CompletedProcess[str]``.
    ``run_cli_subprocess.popen(*args, env=None)`` starts it without waiting (for tests
    that signal the process); the fixture kills any child still running at teardown.

Like tests/sandbox, these run in their own pytest process, never with ``mock_aws``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.commands import _mutation
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox, SandboxSettings
from mr_failover.sandbox.seed import seed
from mr_failover.sandbox.snapshot import Checkpoint, checkpoint, restore
from mr_failover.topology import Topology
from tests.sandbox.conftest import aws, control  # noqa: F401  (fixtures re-exported)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "regions.yaml"

# The CLI waits in real time, so AWS-side transitions must be quick (but not instant,
# so a wait is still a wait).
E2E_SETTINGS = SandboxSettings(
    aurora_failover_seconds=1.0,
    health_check_interval=0.1,
    dynamodb_replication_lag=0.05,
    s3_replication_lag=0.05,
    tick=0.02,
    blackhole_max_seconds=2.0,
    # Tasks start at once: drain's wait for them runs on a fake clock (test_drain.py) that
    # would time out before a real-time delay passed. tests/sandbox/test_ecs.py covers it.
    ecs_task_start_seconds=0.0,
)


def _entry_point() -> str:
    """The installed ``mr-failover`` next to this interpreter (the venv's), else on PATH."""
    candidate = Path(sys.executable).parent / "mr-failover"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("mr-failover")
    if found is None:  # pragma: no cover - the package is always installed for tests
        raise RuntimeError("mr-failover is not installed: pip install -e '.[test]'")
    return found


class SandboxAdvancingClock:
    """The executor's clock, read from the sandbox's: waiting advances the sandbox.

    Nothing is cached: a test that advances the sandbox directly (or through the control
    API) stays in step with the tool, so metric timestamps and the tool's "now" agree.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.sandbox.now()

    def time(self) -> float:
        return self.sandbox.wall_time().replace(tzinfo=dt.UTC).timestamp()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sandbox.advance(seconds)


@pytest.fixture
def clock(e2e_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> SandboxAdvancingClock:
    """A :class:`SandboxAdvancingClock` installed as the executor's clock."""
    fake = SandboxAdvancingClock(e2e_sandbox)
    monkeypatch.setattr(_mutation, "CLOCK", fake)
    return fake


@pytest.fixture(scope="session")
def e2e_sandbox() -> Iterator[Sandbox]:
    """One sandbox per pytest process (xdist worker), not per module: every test starts
    from a reset and a restored checkpoint (``control``, ``e2e_topology``), so a module
    boundary changes nothing a test sees, and seeding the example (about 2 s of CPU) is
    paid once per process instead of once per module. While a module runs a sandbox of
    its own (tests/sandbox, the demo), that one simulates and this one waits
    (``SandboxState._run_tickers``)."""
    sb = Sandbox(settings=E2E_SETTINGS)
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def sandbox(e2e_sandbox: Sandbox) -> Sandbox:
    """tests/sandbox's fixtures (``control``, ``aws``) use this name."""
    return e2e_sandbox


@pytest.fixture(scope="session")
def e2e_seeded(e2e_sandbox: Sandbox) -> dict[str, tuple[Topology, Checkpoint]]:
    """What seeding a topology built, by name, to restore instead of reseed (the
    sandbox's checkpoints: they live as long as it does)."""
    return {}


@pytest.fixture
def e2e_topology(
    e2e_sandbox: Sandbox,
    control: SandboxClient,  # noqa: F811
    e2e_seeded: dict[str, tuple[Topology, Checkpoint]],
) -> Topology:
    # ``control`` has just reset the sandbox (faults, settings, moto): put the seeded
    # example back, from the module's checkpoint once there is one.
    found = e2e_seeded.get("example")
    if found is not None:
        restore(e2e_sandbox, found[1])
        return found[0].model_copy(deep=True)
    factory = ClientFactory(
        None, endpoint_url=e2e_sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
    )
    with pytest.MonkeyPatch.context() as mp:
        _dummy_credentials(mp)
        seeded = seed(topo.load(EXAMPLE), factory)
    e2e_seeded["example"] = (seeded, checkpoint(e2e_sandbox))
    return seeded.model_copy(deep=True)


@pytest.fixture
def e2e_topology_file(e2e_topology: Topology, tmp_path: Path) -> Path:
    path = tmp_path / "regions.yaml"
    path.write_text(topo.dump(e2e_topology))
    return path


def _dummy_credentials(mp: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        mp.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        mp.delenv(name, raising=False)


@pytest.fixture
def e2e_env(
    e2e_sandbox: Sandbox,
    e2e_topology_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    _dummy_credentials(monkeypatch)
    extra = {
        "AWS_ENDPOINT_URL": e2e_sandbox.endpoint_url,
        # The name server status, drain and drills ask for DNS answers (sandbox up exports it).
        "MR_FAILOVER_DNS_SERVER": f"127.0.0.1:{e2e_sandbox.dns_port()}",
        "MR_FAILOVER_CONFIG": str(e2e_topology_file),
        "MR_FAILOVER_STATE_DIR": str(state),
        "NO_COLOR": "1",
    }
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


@pytest.fixture
def run_cli(e2e_env: dict[str, str]) -> Any:
    from mr_failover.cli import cli

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, env=e2e_env, catch_exceptions=False)

    return run


class SubprocessRunner:
    """``mr-failover`` as a child process in a given environment (see the docstring)."""

    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self.exe = _entry_point()
        self.children: list[subprocess.Popen[str]] = []

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.env, **(extra or {})}

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.exe, *args],
            env=self._env(env),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [self.exe, *args],
            env=self._env(env),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.children.append(child)
        return child

    def paused(self, *args: str, step: int) -> subprocess.Popen[str]:
        """``mr-failover args``, left at the test pause after ``step`` (its outcome journaled)."""
        child = self.popen(*args, env={_mutation.TEST_PAUSE_ENV: str(step)})
        assert child.stderr is not None
        line = ""
        while "test pause" not in line:
            line = child.stderr.readline()
            assert line or child.poll() is None, f"ended before pausing: {child.communicate()}"
        return child

    def kill_after_step(self, *args: str, step: int) -> subprocess.Popen[str]:
        """Run ``mr-failover args`` and SIGKILL it at the test pause after ``step``."""
        child = self.paused(*args, step=step)
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=10)
        assert child.returncode == -signal.SIGKILL
        return child

    def kill_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.communicate(timeout=10)


@pytest.fixture
def run_cli_subprocess(e2e_env: dict[str, str], tmp_path: Path) -> Iterator[SubprocessRunner]:
    runner = SubprocessRunner(e2e_env, tmp_path)
    yield runner
    runner.kill_all()
