"""drain / undrain in-process: CLI -> plan -> lock -> Route 53, ECS, Auto Scaling (moto).

The example topology is seeded by tests/functional/conftest.py (ECS services at desired 0,
Auto Scaling groups at 2, takeover_desired 4). moto reports every health checker as
successful, which is the happy path; failing checkers are in tests/unit/test_drain.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from mr_failover.cli import cli
from mr_failover.commands import _mutation
from mr_failover.engine import journal, lock
from tests.clocks import FakeClock
from tests.functional.conftest import EXAMPLE, Seeded

CONFIG = str(EXAMPLE)


@pytest.fixture
def drained_env(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Seeded]:
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(_mutation, "CLOCK", FakeClock(1_800_000_000.0))
    lock.create_table(seeded.factory, seeded.topology)
    yield seeded


def run(*args: str) -> Result:
    assert Path(CONFIG).read_text() == EXAMPLE.read_text()  # the seeded topology
    return CliRunner().invoke(cli, ["--config", CONFIG, "--no-color", *args])


def inverted(check_id: str) -> bool:
    r53 = boto3.client("route53", region_name="us-east-1")
    config = r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
    return bool(config["Inverted"])


def desired(region: str) -> tuple[int, int]:
    ecs = boto3.client("ecs", region_name=region)
    svc = ecs.describe_services(cluster="arc309", services=["api"])["services"][0]
    asg = boto3.client("autoscaling", region_name=region)
    name = f"arc309-web-{'use1' if region == 'us-east-1' else 'usw2'}"
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return int(svc["desiredCount"]), int(group["DesiredCapacity"])


def test_drain_then_undrain(drained_env: Seeded) -> None:
    east = drained_env.health_check_ids["api-us-east-1"]
    assert desired("us-west-2") == (0, 2)
    result = run("drain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert "succeeded: 4 applied, 0 already in place" in result.stdout
    assert inverted(east)
    assert desired("us-west-2") == (4, 4)
    assert desired("us-east-1") == (0, 2)
    assert _mutation.CLOCK.slept >= 60  # type: ignore[union-attr]  # the record TTL

    # Again: everything is in place, nothing is called, nothing waits.
    slept = _mutation.CLOCK.slept  # type: ignore[union-attr]
    again = run("drain", "--region", "us-east-1", "--yes")
    assert again.exit_code == 0, again.output
    # No scale step is planned; the inversion and the TTL wait are skipped.
    assert "succeeded: 0 applied, 2 already in place" in again.stdout
    assert _mutation.CLOCK.slept == slept  # type: ignore[union-attr]

    result = run("undrain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert not inverted(east)
    # The first drain recorded 0 and 2; the idempotent second one recorded nothing.
    assert desired("us-west-2") == (0, 2)
    assert "scale back ecs arc309/api in us-west-2 to 0 (from 4)" in result.stderr
    assert "scale back asg arc309-web-usw2 in us-west-2 to 2 (from 4)" in result.stderr


def test_scale_back_leaves_a_count_someone_changed(drained_env: Seeded) -> None:
    assert run("drain", "--region", "us-east-1", "--yes").exit_code == 0
    boto3.client("ecs", region_name="us-west-2").update_service(
        cluster="arc309", service="api", desiredCount=7
    )
    result = run("undrain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert desired("us-west-2") == (7, 2)
    assert (
        "note: left ecs arc309/api in us-west-2 at 7: changed since drain run "
        in result.stdout.replace("\n", " ")
    )


def test_no_scale_up_changes_only_traffic(drained_env: Seeded) -> None:
    # moto starts no ECS task: us-west-2 runs 0 of its desired 0 -> "scaled to 0".
    result = run("drain", "--region", "us-east-1", "--no-scale-up", "--yes")
    assert result.exit_code == 3
    assert "us-west-2: ecs arc309/api is scaled to 0" in result.output
    assert not inverted(drained_env.health_check_ids["api-us-east-1"])


def test_scale_back_without_a_recorded_drain_is_a_usage_error(drained_env: Seeded) -> None:
    result = run("undrain", "--region", "us-east-1", "--scale-back", "--yes")
    assert result.exit_code == 2
    assert result.output.startswith(
        "Error: no successful drain of us-east-1 in this machine's journal recorded counts"
    )


class Crash(Exception):
    pass


def test_a_crash_after_the_scale_up_then_resume_keeps_the_first_recorded_counts(
    drained_env: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mr_failover.resources import route53_steps

    real = route53_steps.SetInversion.apply

    def crash(self: Any) -> None:
        raise Crash("power cut")

    monkeypatch.setattr(route53_steps.SetInversion, "apply", crash)
    result = run("drain", "--region", "us-east-1", "--yes")
    assert isinstance(result.exception, Crash)
    assert desired("us-west-2") == (4, 4)
    (crashed,) = journal.list_runs()
    monkeypatch.setattr(route53_steps.SetInversion, "apply", real)

    resumed = run("drain", "--resume", crashed.run_id, "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert re.search(
        rf"run {crashed.run_id} succeeded: 2 applied, 0 already in place", resumed.stdout
    )
    assert inverted(drained_env.health_check_ids["api-us-east-1"])

    result = run("undrain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert desired("us-west-2") == (0, 2)  # from the first plan, not the re-plan's 4 and 4
