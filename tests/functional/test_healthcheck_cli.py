"""health-check invert/restore end to end in-process: CLI -> plan -> lock -> Route 53 (moto).

moto keeps Inverted/Disabled but publishes no Route 53 health metric; the fixture
publishes the checkers' datapoints (all healthy) to moto's CloudWatch in us-east-1, as
Route 53 would, which is enough for the happy path: inverted means effectively
unhealthy. Failing checkers are covered with Stubber in
tests/unit/test_mutation_healthcheck.py.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from mr_failover import topology
from mr_failover.aws import ClientFactory
from mr_failover.cli import cli
from mr_failover.commands import _mutation
from mr_failover.engine import journal, lock
from tests.clocks import FakeClock
from tests.route53_health import seed_health

CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "regions.yaml")
ACCESS_KEY = "AKIAFUNCTIONALTEST01"
SECRET_KEY = "functional/secret/Key/NeverInAJournal0000"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "functional-session-token-value")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(_mutation, "CLOCK", FakeClock(1_800_000_000.0))
    with mock_aws():
        r53 = boto3.client("route53", region_name="us-east-1")
        ids = {}
        for name in ("api-us-east-1", "api-us-west-2"):
            hc = r53.create_health_check(
                CallerReference=name,
                HealthCheckConfig={
                    "Type": "HTTPS",
                    "FullyQualifiedDomainName": f"{name}.arc309.example.com",
                    "ResourcePath": "/health",
                    "Port": 443,
                    "RequestInterval": 30,
                    "FailureThreshold": 3,
                },
            )["HealthCheck"]
            r53.change_tags_for_resource(
                ResourceType="healthcheck",
                ResourceId=hc["Id"],
                AddTags=[{"Key": "Name", "Value": name}],
            )
            seed_health(boto3.client("cloudwatch", region_name="us-east-1"), hc["Id"])
            ids[name] = hc["Id"]
        lock.create_table(ClientFactory(), topology.load(CONFIG))
        yield ids


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", CONFIG, "--no-color", *args], input=input)


def inverted(check_id: str) -> bool:
    r53 = boto3.client("route53", region_name="us-east-1")
    config = r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
    return bool(config["Inverted"])


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS operation the CLI sends, recorded by a botocore before-call hook."""
    seen: list[str] = []
    original = ClientFactory.client

    def client(self: ClientFactory, service: str, region: str) -> Any:
        c = original(self, service, region)
        if not getattr(c, "_recorded", False):
            c.meta.events.register(
                "before-call", lambda model, **_: seen.append(f"{service}:{model.name}")
            )
            c._recorded = True
        return c

    monkeypatch.setattr(ClientFactory, "client", client)
    return seen


def mutating(seen: list[str]) -> list[str]:
    return [c for c in seen if not c.split(":")[1].startswith(("Get", "List", "Describe"))]


def test_invert_then_restore(aws: dict[str, str], calls: list[str]) -> None:
    result = run("health-check", "invert", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert inverted(aws["api-us-east-1"])
    assert not inverted(aws["api-us-west-2"])
    match = re.search(r"^run (\S+) succeeded", result.stdout, re.M)
    assert match is not None
    run_id = match.group(1)
    path = Path(os.environ["MR_FAILOVER_STATE_DIR"]) / "runs" / f"{run_id}.jsonl"
    lines = result.stdout.splitlines()
    assert lines[-3] == f"run {run_id} succeeded: 1 applied, 0 already in place, 0.0s"
    # The path is longer than what 80 columns leave after "journal:": on a line of its own.
    assert lines[-2:] == ["journal:", f"  {path}"] or lines[-1] == f"journal: {path}"
    assert (
        "[1/1] invert health check api-us-east-1 (us-east-1 unhealthy): applied (0.0s)"
        in result.stderr
    )
    assert mutating(calls) == [
        "dynamodb:PutItem",
        "route53:UpdateHealthCheck",
        "dynamodb:DeleteItem",
    ]
    assert calls[0] == "sts:GetCallerIdentity"  # the guard goes first

    # Idempotent: a second invert finds it done and changes nothing.
    calls.clear()
    _mutation.CLOCK.t += 60  # type: ignore[union-attr]
    result = run("health-check", "invert", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert "0 applied, 1 already in place" in result.stdout
    assert "route53:UpdateHealthCheck" not in calls

    _mutation.CLOCK.t += 60  # type: ignore[union-attr]
    result = run("health-check", "restore", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert not inverted(aws["api-us-east-1"])
    assert lock.read(ClientFactory(), topology.load(CONFIG)).held is False

    history = json.loads(run("--output", "json", "history").stdout)["runs"]
    assert [(r["command"], r["outcome"], r["params"]) for r in history] == [
        ("health-check restore", "succeeded", {"region": "us-east-1"}),
        ("health-check invert", "succeeded", {"region": "us-east-1"}),
        ("health-check invert", "succeeded", {"region": "us-east-1"}),
    ]
    assert history[-1]["run_id"] == run_id
    assert history[0]["who"]["caller_arn"] == "arn:aws:sts::123456789012:user/moto"


def test_journals_are_0600_and_hold_no_credentials(aws: dict[str, str]) -> None:
    assert run("health-check", "invert", "--region", "us-east-1", "--yes").exit_code == 0
    assert run("health-check", "restore", "--region", "us-east-1", "--yes").exit_code == 0
    files = list((Path(os.environ["MR_FAILOVER_STATE_DIR"]) / "runs").glob("*.jsonl"))
    assert len(files) == 2
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        text = f.read_text()
        for secret in (ACCESS_KEY, SECRET_KEY, "functional-session-token-value"):
            assert secret not in text
        kinds = [json.loads(line)["type"] for line in text.splitlines()]
        assert kinds == ["run", "intent", "outcome", "end"]


def test_dry_run_prints_the_plan_and_makes_no_mutating_call(
    aws: dict[str, str], calls: list[str]
) -> None:
    result = run("--output", "json", "health-check", "invert", "--region", "us-east-1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert mutating(calls) == []
    assert not inverted(aws["api-us-east-1"])
    assert json.loads(result.stdout) == {
        "dry_run": True,
        "plan": {
            "command": "health-check invert",
            "params": {"region": "us-east-1"},
            "steps": [
                {
                    "id": "route53:invert:api-us-east-1",
                    "title": "invert health check api-us-east-1 (us-east-1 unhealthy)",
                    "call": "route53:UpdateHealthCheck",
                    "params": {
                        "HealthCheckId": aws["api-us-east-1"],
                        "HealthCheckVersion": "<read at call time>",
                        "Inverted": True,
                    },
                    "region": "us-east-1",
                    "plane": "control",
                    "plane_region": "us-east-1",
                    "undoable": True,
                    "undo": "mr-failover health-check restore --region us-east-1",
                    "timeout_seconds": 240.0,
                }
            ],
            "notes": [
                "Route 53 UpdateHealthCheck is a control-plane call served from us-east-1.",
                "Traffic moves after about request interval x failure threshold + record TTL "
                "+ resolver caching (typically 1-3 minutes).",
            ],
        },
    }
    assert not (Path(os.environ["MR_FAILOVER_STATE_DIR"]) / "runs").exists() or not list(
        (Path(os.environ["MR_FAILOVER_STATE_DIR"]) / "runs").iterdir()
    )

    table = run("health-check", "invert", "--region", "us-east-1", "--dry-run")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].rstrip() == "Plan: health-check invert"
    assert table.stdout.splitlines()[-1] == "dry run: no change made"
    assert mutating(calls) == []


def test_declining_the_confirmation_changes_nothing(aws: dict[str, str], calls: list[str]) -> None:
    result = run("health-check", "invert", "--region", "us-east-1", input="n\n")
    assert result.exit_code == 1
    assert "Run these 1 step(s)? [y/N]: n" in result.output
    assert mutating(calls) == []
    assert not inverted(aws["api-us-east-1"])


def test_the_last_serving_region_is_refused(aws: dict[str, str], calls: list[str]) -> None:
    assert run("health-check", "invert", "--region", "us-west-2", "--yes").exit_code == 0
    calls.clear()
    result = run("health-check", "invert", "--region", "us-east-1", "--yes")
    assert result.exit_code == 3
    assert result.output == (
        "Error: refused: inverting us-east-1 would leave no region serving healthy traffic "
        "(api-us-west-2 is unhealthy (checkers: 100% report healthy; inverted)); restore "
        "another region first (mr-failover health-check restore --region R)\n"
    )
    assert mutating(calls) == []


def test_another_account_is_refused_before_any_other_call(
    aws: dict[str, str], calls: list[str], tmp_path: Path
) -> None:
    other = tmp_path / "regions.yaml"
    other.write_text(Path(CONFIG).read_text().replace('"123456789012"', '"210987654321"'))
    result = CliRunner().invoke(
        cli, ["--config", str(other), "health-check", "invert", "--region", "us-east-1", "--yes"]
    )
    assert result.exit_code == 3
    assert result.output == (
        "Error: refused: the credentials are for account 123456789012 "
        "(arn:aws:sts::123456789012:user/moto), but the topology's account_id is 210987654321; "
        "switch credentials (AWS_PROFILE, or the region's profile / role_arn in the topology) "
        "and retry\n"
    )
    assert calls == ["sts:GetCallerIdentity"]


def test_a_held_lock_refuses_with_its_owner(aws: dict[str, str], calls: list[str]) -> None:
    owner = lock.Owner("arn:aws:iam::123456789012:user/bob", "ops-2", 99, "run-b", "drain")
    lock.acquire(ClientFactory(), topology.load(CONFIG), owner, time_fn=_mutation.CLOCK.time)  # type: ignore[union-attr]
    calls.clear()
    result = run("health-check", "invert", "--region", "us-east-1", "--yes")
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "Error: another operation is running on arc309: lock held by "
        "arn:aws:iam::123456789012:user/bob on ops-2 (pid 99, run run-b, drain) since "
    )
    assert mutating(calls) == ["dynamodb:PutItem"]  # the refused conditional write
    assert not inverted(aws["api-us-east-1"])


TWO_CHECKS = """
      health_checks:
        - name: api-us-east-1
          fqdn: api-us-east-1.arc309.example.com
          path: /health
        - name: api-us-east-1-deep
          fqdn: api-us-east-1.arc309.example.com
          path: /health/deep
"""


class Crash(Exception):
    pass


def test_a_crash_between_steps_then_resume_does_not_repeat_the_mutation(
    aws: dict[str, str], calls: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r53 = boto3.client("route53", region_name="us-east-1")
    deep = r53.create_health_check(
        CallerReference="deep",
        HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "x.example.com"},
    )["HealthCheck"]["Id"]
    r53.change_tags_for_resource(
        ResourceType="healthcheck",
        ResourceId=deep,
        AddTags=[{"Key": "Name", "Value": "api-us-east-1-deep"}],
    )
    seed_health(boto3.client("cloudwatch", region_name="us-east-1"), deep)
    text = Path(CONFIG).read_text()
    first = text.index("      health_checks:")
    end = text.index("      records:", first)
    config = tmp_path / "regions.yaml"
    config.write_text(text[:first] + TWO_CHECKS.lstrip("\n") + text[end:])

    from mr_failover.resources import route53_steps

    real_apply = route53_steps.SetInversion.apply
    applied: list[str] = []

    def crashing_apply(self: route53_steps.SetInversion) -> None:
        if applied:  # the second step: the process "dies" after the first mutation
            raise Crash("power cut")
        real_apply(self)
        applied.append(self.name)

    monkeypatch.setattr(route53_steps.SetInversion, "apply", crashing_apply)
    args = ["--config", str(config), "health-check", "invert", "--region", "us-east-1"]
    result = CliRunner().invoke(cli, [*args, "--yes"])
    assert isinstance(result.exception, Crash)
    assert applied == ["api-us-east-1"]
    (crashed,) = journal.list_runs()
    assert crashed.outcome == "incomplete"
    assert crashed.completed == {"route53:invert:api-us-east-1"}

    monkeypatch.setattr(route53_steps.SetInversion, "apply", real_apply)
    calls.clear()
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "health-check", "invert", "--resume", crashed.run_id, "--yes"],
    )
    assert result.exit_code == 0, result.output
    assert f"run {crashed.run_id} succeeded: 1 applied, 1 already in place" in result.stdout
    updates = [c for c in calls if c == "route53:UpdateHealthCheck"]
    assert len(updates) == 1  # only the deep check: the first was not repeated
    assert inverted(aws["api-us-east-1"]) and inverted(deep)
    (resumed,) = journal.list_runs()
    assert (resumed.run_id, resumed.outcome, resumed.attempts) == (
        crashed.run_id,
        "succeeded",
        2,
    )


def test_resume_refuses_another_command_or_other_options(aws: dict[str, str]) -> None:
    assert run("health-check", "invert", "--region", "us-east-1", "--yes").exit_code == 0
    (done,) = journal.list_runs()
    result = run("health-check", "restore", "--resume", done.run_id, "--yes")
    assert (result.exit_code, result.output) == (
        2,
        f"Error: run {done.run_id} was `health-check invert`, not `health-check restore`\n",
    )
    result = run("health-check", "invert", "--region", "us-west-2", "--resume", done.run_id)
    assert result.exit_code == 2
    assert "resume it with the same options or without them" in result.output


def test_history_table(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal.getpass, "getuser", lambda: "alice")
    monkeypatch.setattr(journal.socket, "gethostname", lambda: "ops-1")
    assert run("history").output.startswith("no runs yet in ")
    assert run("health-check", "invert", "--region", "us-east-1", "--yes").exit_code == 0
    (r,) = journal.list_runs()
    out = run("history").stdout
    # 80 columns (piped, no COLUMNS): who and when are left for a wider terminal.
    assert [line.rstrip() for line in out.splitlines()] == [
        "RUN ID                   COMMAND                                 OUTCOME    TIME",
        f"{r.run_id}  health-check invert --region us-east-1  succeeded  0.0s",
    ]
    wide = CliRunner().invoke(cli, ["history"], env={"COLUMNS": "140"}).stdout
    assert [line.rstrip() for line in wide.splitlines()] == [
        "RUN ID                   COMMAND                                 WHO"
        "                      STARTED               OUTCOME    TIME",
        f"{r.run_id}  health-check invert --region us-east-1  alice@ops-1 (user/moto)"
        "  2027-01-15T08:00:00Z  succeeded  0.0s",
    ]
