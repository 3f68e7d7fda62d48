"""Faults through the sandbox: status never hangs; mutations finish without repeating.

``status`` runs as the installed entry point (a real process, so "never hangs" is a wall
clock measured from outside) with one region unreachable (connection dropped, or
black-holed: no answer at all), with 5xx errors and throttling at 20 % of calls, and with
500 ms added to every call. Each must return within its documented deadline (``--deadline``
plus process start) and mark the bad region, naming the call that failed.

promote and drain run in-process (their AWS-side waits pass on the sandbox clock) with
20 % of *every* call failing (5xx or throttling) in every region: they must end with the
right state, and the sandbox must have served each mutating call exactly once. A call the
sandbox failed on purpose never reached moto, so only served (2xx) calls count.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.sandbox.client import SandboxClient
from tests.e2e.conftest import SandboxAdvancingClock
from tests.reliability.conftest import Mutations, _dummy_credentials

EAST, WEST = "us-east-1", "us-west-2"
GLOBAL = "arc309-global"
DEADLINE = 3.0
# Process start (imports), topology load and rendering, on top of the observation.
START_SLACK = 3.0


def status(run_cli_subprocess: Any, *args: str) -> tuple[int, dict[str, Any], float, str]:
    t0 = time.monotonic()
    done = run_cli_subprocess("--output", "json", "status", *args, timeout=60)
    wall = time.monotonic() - t0
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), wall, done.stderr


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in doc["regions"]}


@pytest.mark.parametrize("mode", ["connection", "blackhole"])
def test_status_marks_an_unreachable_region_within_the_deadline(
    mode: str, e2e_env: dict[str, str], control: SandboxClient, run_cli_subprocess: Any
) -> None:
    # A black hole longer than the whole run: only the tool's own limits can end it.
    control.settings(blackhole_max_seconds=120.0)
    control.fail_region(WEST, mode=mode)
    try:
        code, doc, wall, _ = status(run_cli_subprocess, "--deadline", str(DEADLINE))
    finally:
        control.heal_region(WEST)  # releases black-holed requests still held
    regions = by_name(doc)
    assert code == 4
    assert regions[WEST]["verdict"] == "unreachable"
    assert regions[EAST]["verdict"] == "serving", (
        regions[EAST]["reasons"],
        regions[EAST]["errors"],
    )
    assert doc["elapsed_seconds"] <= DEADLINE + 0.5
    assert wall < DEADLINE + START_SLACK
    errors = regions[WEST]["errors"]
    assert {e["region"] for e in errors} == {WEST}
    assert "rds:DescribeDBClusters" in {e["call"] for e in errors}
    assert all(e["unreachable"] for e in errors)
    expected = "Connection was closed" if mode == "connection" else "Read timeout"
    assert all(expected in e["message"] for e in errors), errors


@pytest.mark.parametrize("kind", ["error5xx", "throttle"])
def test_status_under_20_percent_errors_in_one_region(
    kind: str, e2e_env: dict[str, str], control: SandboxClient, run_cli_subprocess: Any
) -> None:
    control.fail_region(WEST, kind=kind, rate=0.2)
    code, doc, wall, _ = status(run_cli_subprocess, "--deadline", str(DEADLINE))
    failed = [c for c in control.calls(region=WEST) if c["status"] not in (200, 0)]
    assert failed, "the fault did not fire: the test proves nothing"
    regions = by_name(doc)
    assert wall < DEADLINE + START_SLACK
    assert regions[EAST]["verdict"] == "serving", (
        regions[EAST]["reasons"],
        regions[EAST]["errors"],
    )
    # One retry absorbs most injected errors; any that got through both attempts must
    # be named in the region's reasons, never swallowed into a wrong verdict.
    if regions[WEST]["verdict"] == "serving":
        assert code == 0
    else:
        assert code == 4
        errors = regions[WEST]["errors"]
        assert errors and {e["region"] for e in errors} == {WEST}
        assert all(
            e["call"] and ("Throttl" in e["message"] or "Internal" in e["message"]) for e in errors
        ), errors


def test_status_with_500ms_added_to_every_call_stays_concurrent(
    e2e_env: dict[str, str], control: SandboxClient, run_cli_subprocess: Any
) -> None:
    for region in (EAST, WEST):
        control.fail_region(region, kind="latency", ms=500)
    code, doc, wall, _ = status(run_cli_subprocess)  # the default 8 s deadline
    assert wall < 8.0 + START_SLACK
    calls = len(control.calls())
    assert code == 0, doc
    assert {r["verdict"] for r in doc["regions"]} == {"serving"}
    # Run one after another, the calls would take calls x 0.5 s; the fan-out must keep
    # the wall time to a few dependent round trips.
    assert calls * 0.5 > 4 * doc["elapsed_seconds"], (calls, doc["elapsed_seconds"])
    assert doc["elapsed_seconds"] < 8.0


# --- mutations under 20 % injected errors ---------------------------------------------


def inject(control: SandboxClient, kind: str) -> None:
    for region in (EAST, WEST):
        control.fail_region(region, kind=kind, rate=0.2)


def operation_mutations(mutations: Mutations, since: int) -> Counter[str]:
    # The lock's writes (DynamoDB) are the machinery's, not the operation's.
    return Counter(m for m in mutations(since) if "/dynamodb:" not in m)


def patient(aws: Any, service: str, region: str) -> Any:
    """The test's own reads retry, so the injected faults only test the tool."""
    client = aws(service, region)
    config = client.meta.config.merge(
        botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 10})
    )
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=client.meta.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def writer_region(aws: Any) -> str:
    gc = patient(aws, "rds", WEST).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)
    members = gc["GlobalClusters"][0]["GlobalClusterMembers"]
    (writer,) = [m["DBClusterArn"].split(":")[3] for m in members if m["IsWriter"]]
    return writer


def promote_rounds(
    kind: str, rounds: int, control: SandboxClient, run_cli: Any, aws: Any, mutations: Mutations
) -> None:
    """Switch the writer over and back ``rounds`` times with 20 % of calls failing."""
    control.advance(1.1)  # one round of lag metrics for the plan to judge
    before = len(control.calls())
    inject(control, kind)
    targets = [(WEST, EAST)[i % 2] for i in range(rounds)]
    for target in targets:
        start = len(control.calls())
        result = run_cli("promote", "--region", target, "--yes")
        assert result.exit_code == 0, result.output
        assert writer_region(aws) == target
        # Each mutation of the round served once (a promote may also move other
        # resources the topology names, such as an ElastiCache global datastore).
        served = operation_mutations(mutations, start)
        # Sent to the region that held the writer: the Aurora guide's switchover procedure
        # runs in the current primary's region (issue 15 item 2).
        source = EAST if target == WEST else WEST
        assert served[f"{source}/rds:SwitchoverGlobalCluster"] == 1, served
        assert set(served.values()) == {1}, served
        control.advance(1.1)  # fresh lag metrics for the next plan
    calls = control.calls()[before:]
    injected = [c for c in calls if c["status"] in (400, 500, 503)]
    assert injected, "no error was injected: the test proves nothing"
    if rounds >= 10:  # enough draws for the rate to show
        assert 0.1 <= len(injected) / len(calls) <= 0.3, (len(injected), len(calls))


@pytest.mark.parametrize("kind", ["error5xx", "throttle"])
@pytest.mark.parametrize("rounds", [4, pytest.param(10, marks=pytest.mark.heavy)])
def test_promote_back_and_forth_under_20_percent_errors_without_repeating(
    kind: str,
    rounds: int,
    e2e_env: dict[str, str],
    control: SandboxClient,
    clock: SandboxAdvancingClock,
    quick_backoff: None,
    run_cli: Any,
    aws: Any,
    mutations: Mutations,
) -> None:
    promote_rounds(kind, rounds, control, run_cli, aws, mutations)


@pytest.mark.parametrize("kind", ["error5xx", "throttle"])
def test_drain_completes_under_20_percent_errors_without_repeating(
    kind: str,
    e2e_env: dict[str, str],
    control: SandboxClient,
    clock: SandboxAdvancingClock,
    quick_backoff: None,
    run_cli: Any,
    aws: Any,
    mutations: Mutations,
) -> None:
    before = len(control.calls())
    inject(control, kind)
    result = run_cli("drain", "--region", EAST, "--yes")
    control.heal_region(EAST)
    control.heal_region(WEST)
    injected = [c for c in control.calls()[before:] if c["status"] in (400, 500, 503)]
    assert injected, "no error was injected: the test proves nothing"
    assert result.exit_code == 0, result.output
    assert operation_mutations(mutations, before) == Counter(
        {
            "us-west-2/ecs:UpdateService": 1,
            "us-west-2/autoscaling:SetDesiredCapacity": 1,
            "us-east-1/route53:UpdateHealthCheck": 1,
        }
    )
    r53 = patient(aws, "route53", EAST)
    checks = r53.list_health_checks()["HealthChecks"]
    inverted = {
        c["HealthCheckConfig"]["FullyQualifiedDomainName"]: c["HealthCheckConfig"]["Inverted"]
        for c in checks
    }
    assert inverted == {
        "api-us-east-1.arc309.example.com": True,
        "api-us-west-2.arc309.example.com": False,
    }


# --- the retry budget: errors that answer get more tries than calls that hang ------------


@pytest.mark.parametrize(
    ("fault", "attempts"),
    [
        ({"kind": "throttle", "rate": 1.0}, 5),
        ({"kind": "error5xx", "rate": 1.0}, 5),
        ({"kind": "outage", "mode": "connection"}, 2),
        ({"kind": "outage", "mode": "blackhole"}, 2),
    ],
)
def test_deadline_clients_retry_fast_errors_more_than_hung_calls(
    fault: dict[str, Any],
    attempts: int,
    sandbox: Any,
    control: SandboxClient,
    quick_backoff: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _dummy_credentials(monkeypatch)
    # The limits status uses for a 3 s deadline: 1 s per try, 2 tries for a hung call.
    factory = ClientFactory(endpoint_url=sandbox.endpoint_url).with_timeouts(
        Timeouts.for_deadline(3.0)
    )
    control.settings(blackhole_max_seconds=30.0)
    control.fail_region(WEST, service="dynamodb", **fault)
    client = factory.client("dynamodb", WEST)
    t0 = time.monotonic()
    try:
        with pytest.raises((botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)):
            client.describe_table(TableName="anything")
    finally:
        control.heal_region(WEST)
    took = time.monotonic() - t0
    if fault.get("mode") == "blackhole":
        # Held calls are logged only when released: count the 1 s read timeouts instead.
        assert 1.9 < took < attempts + 1.5, took
    else:
        seen = control.calls(region=WEST, service="dynamodb")
        assert len(seen) == attempts, seen
