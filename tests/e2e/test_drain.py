"""drain / undrain end to end: the CLI against the sandbox over HTTP.

The runs are in-process (``run_cli``) with the executor's clock replaced by a fake one,
so the wait of one record TTL (60 s in the example topology) passes without sleeping;
every AWS call still goes over HTTP to the sandbox. The dry run and the refusal, which
wait for nothing, run the installed entry point as a child process.

The sandbox starts ECS tasks (mr_failover/sandbox/ecs.py); E2E_SETTINGS makes them start
at once, so the seeded services run their steady count and ``status`` can say SERVING.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.commands import _mutation
from mr_failover.resources.dns import REGION_SUBNETS, NameServer, ask
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.seed import seed
from tests.clocks import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
STEADY = 2  # the seeder runs half of takeover_desired (4) in each region


@pytest.fixture
def drain_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock(1_800_000_000.0)
    monkeypatch.setattr(_mutation, "CLOCK", clock)
    return clock


def verdicts(run_cli: Any) -> dict[str, str]:
    result = run_cli("--output", "json", "status")
    return {r["name"]: r["verdict"] for r in json.loads(result.stdout)["regions"]}


def inverted(aws: Any, check_id: str) -> bool:
    hc = aws("route53", "us-east-1").get_health_check(HealthCheckId=check_id)["HealthCheck"]
    return bool(hc["HealthCheckConfig"]["Inverted"])


def ecs_desired(aws: Any, region: str) -> int:
    out = aws("ecs", region).describe_services(cluster="arc309", services=["api"])
    return int(out["services"][0]["desiredCount"])


def asg_desired(aws: Any, region: str, name: str) -> int:
    out = aws("autoscaling", region).describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return int(out["AutoScalingGroups"][0]["DesiredCapacity"])


def answered(sandbox: Sandbox, vantage: str) -> str:
    """The region DNS sends a client near ``vantage`` to (the sandbox's name server)."""
    server = NameServer("127.0.0.1", int(sandbox.dns_port() or 0))
    reply = ask(server, "api.arc309.example.com", "CNAME", subnet=REGION_SUBNETS[vantage])
    (value,) = reply.values
    return next(r for r in ("us-east-1", "us-west-2") if r in value)


def journal_details(stdout: str) -> dict[str, str]:
    """Step id -> the outcome detail the run's journal (named in ``stdout``) recorded."""
    path = Path(re.search(r"journal:\s+(\S+)", stdout).group(1))  # type: ignore[union-attr]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["step"]: r["detail"] for r in records if r.get("type") == "outcome"}


def dns_notes(stdout: str) -> list[dict[str, Any]]:
    """The run's ``dns-answers`` journal notes."""
    path = Path(re.search(r"journal:\s+(\S+)", stdout).group(1))  # type: ignore[union-attr]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if r.get("kind") == "dns-answers"]


def check_id(e2e_topology: topo.Topology, region: str) -> str:
    hc_id = e2e_topology.regions[region].traffic.health_checks[0].id
    assert hc_id is not None
    return hc_id


def mutations(control: SandboxClient) -> list[str]:
    return [f"{c['service']}:{c['action']}" for c in control.calls(mutating=True)]


def test_drain_then_undrain_with_the_inversion_lever(
    run_cli: Any,
    e2e_sandbox: Sandbox,
    aws: Any,
    control: SandboxClient,
    e2e_topology: topo.Topology,
    drain_clock: FakeClock,
) -> None:
    east, west = check_id(e2e_topology, "us-east-1"), check_id(e2e_topology, "us-west-2")
    assert verdicts(run_cli) == {"us-east-1": "serving", "us-west-2": "serving"}
    before = len(control.calls())

    assert answered(e2e_sandbox, "us-east-1") == "us-east-1"
    assert answered(e2e_sandbox, "us-west-2") == "us-west-2"

    result = run_cli("drain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    # ecs, asg, the inversion and the TTL wait applied. The record carries a calculated
    # check over the inverted one (the example's ARC setup), which follows its children at
    # the sandbox's next health round: the confirmation either found the answers already
    # changed or waited for them (rule route53-calculated-status).
    assert re.search(
        r"succeeded: (4 applied, 1 already in place|5 applied, 0 already)", (result.stdout)
    ), result.stdout
    assert "[4/5] confirm us-east-1 leaves the DNS answers (zone name servers)" in result.stderr
    assert "[5/5] wait 60s (record TTL) for resolvers to drop cached us-east-1 answers" in (
        result.stderr
    )
    # A client near us-east-1 is now sent to us-west-2; the journal says when that was seen.
    assert answered(e2e_sandbox, "us-east-1") == "us-west-2"
    assert answered(e2e_sandbox, "us-west-2") == "us-west-2"
    # The journal's dns-answers notes: the regions the answers held, when they changed.
    assert dns_notes(result.stdout)[-1]["regions"] == ["us-west-2"]
    detail = journal_details(result.stdout)["dns:answers:us-east-1"]
    assert re.search(
        r"us-east-1 left the DNS answers at 2027-01-15T08:00:\d\d\+00:00 "
        r"\(api\.arc309\.example\.com\. -> us-west-2\)",
        detail,
    ), detail
    assert inverted(aws, east) and not inverted(aws, west)
    assert ecs_desired(aws, "us-west-2") == 4
    assert asg_desired(aws, "us-west-2", "arc309-web-usw2") == 4
    assert ecs_desired(aws, "us-east-1") == STEADY  # the drained region is not touched
    assert drain_clock.slept >= 60  # one record TTL, on the fake clock
    new = control.calls()[before:]
    assert [f"{c['service']}:{c['action']}" for c in new if c["mutating"]] == [
        "dynamodb:PutItem",  # the lock
        "ecs:UpdateService",
        "autoscaling:SetDesiredCapacity",
        "route53:UpdateHealthCheck",
        "dynamodb:DeleteItem",
    ]
    assert {c["region"] for c in new if c["service"] == "ecs" and c["mutating"]} == {"us-west-2"}
    assert verdicts(run_cli) == {"us-east-1": "drained", "us-west-2": "serving"}

    result = run_cli("undrain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert not inverted(aws, east)
    assert answered(e2e_sandbox, "us-east-1") == "us-east-1"  # back in the answers
    detail = journal_details(result.stdout)["dns:answers:us-east-1"]
    assert "us-east-1 came back to the DNS answers at " in detail, detail
    assert ecs_desired(aws, "us-west-2") == STEADY
    assert asg_desired(aws, "us-west-2", "arc309-web-usw2") == STEADY
    assert verdicts(run_cli) == {"us-east-1": "serving", "us-west-2": "serving"}

    history = json.loads(run_cli("--output", "json", "history").stdout)["runs"]
    assert [(r["command"], r["outcome"]) for r in history] == [
        ("undrain", "succeeded"),
        ("drain", "succeeded"),
    ]


def test_draining_the_last_serving_region_is_refused(
    run_cli: Any,
    run_cli_subprocess: Any,
    aws: Any,
    control: SandboxClient,
    e2e_topology: topo.Topology,
    drain_clock: FakeClock,
) -> None:
    assert run_cli("drain", "--region", "us-west-2", "--yes").exit_code == 0
    before = len(control.calls(mutating=True))

    proc = run_cli_subprocess("drain", "--region", "us-east-1", "--yes")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith(
        "Error: refused: draining us-east-1 would leave no region able to serve its traffic "
        "(us-west-2: api-us-west-2 is unhealthy (checkers: "
    )
    assert "inverted" in proc.stderr
    assert "mr-failover undrain --region R" in proc.stderr
    assert len(control.calls(mutating=True)) == before  # refused before the lock
    assert not inverted(aws, check_id(e2e_topology, "us-east-1"))


def test_a_dry_run_makes_no_mutating_call(
    run_cli_subprocess: Any, control: SandboxClient, e2e_topology: topo.Topology
) -> None:
    before = len(control.calls(mutating=True))
    proc = run_cli_subprocess("--output", "json", "drain", "--region", "us-east-1", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)["plan"]
    assert [s["call"] for s in plan["steps"]] == [
        "ecs:UpdateService",
        "autoscaling:SetDesiredCapacity",
        "route53:UpdateHealthCheck",
        "dns:Query",
        "dns:WaitTTL",
    ]
    assert plan["params"]["previous_desired"] == {
        "us-west-2": {
            "ecs:arc309/api": {"from": STEADY, "to": 4},
            "asg:arc309-web-usw2": {"from": STEADY, "to": 4},
        }
    }
    assert [(s["region"], s["plane"], s["plane_region"]) for s in plan["steps"]] == [
        ("us-west-2", "control", "us-west-2"),
        ("us-west-2", "control", "us-west-2"),
        ("us-east-1", "control", "us-east-1"),
        ("-", "data", None),
        ("-", "data", None),
    ]
    assert len(control.calls(mutating=True)) == before


WEIGHTED = "routing_policy: weighted\n          weight: 100\n"


@pytest.fixture
def drain_weighted(
    e2e_sandbox: Sandbox, control: SandboxClient, e2e_topology_file: Path, tmp_path: Path
) -> Path:
    """The example with weighted records and drain_lever: weight, seeded into a reset sandbox."""
    text = EXAMPLE.read_text()
    text = text.replace("routing_policy: latency\n", WEIGHTED)
    text = text.replace("drain_lever: health_check_inversion", "drain_lever: weight")
    source = tmp_path / "weighted-source.yaml"
    source.write_text(text)
    control.reset()
    factory = ClientFactory(
        None, endpoint_url=e2e_sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
    )
    seeded = seed(topo.load(source), factory)
    path = tmp_path / "weighted.yaml"
    path.write_text(topo.dump(seeded))
    return path


def weights(aws: Any, zone_id: str) -> dict[str, int]:
    sets = aws("route53", "us-east-1").list_resource_record_sets(HostedZoneId=zone_id)
    return {
        r["SetIdentifier"]: int(r["Weight"])
        for r in sets["ResourceRecordSets"]
        if "SetIdentifier" in r
    }


def test_drain_then_undrain_with_the_weight_lever(
    run_cli: Any, aws: Any, control: SandboxClient, drain_weighted: Path, drain_clock: FakeClock
) -> None:
    config = str(drain_weighted)
    loaded = topo.load(drain_weighted)
    zone_id = loaded.regions["us-east-1"].traffic.records[0].hosted_zone_id
    assert zone_id is not None
    assert weights(aws, zone_id) == {"us-east-1": 100, "us-west-2": 100}

    result = run_cli("--config", config, "drain", "--region", "us-east-1", "--no-scale-up", "--yes")
    assert result.exit_code == 0, result.output
    assert weights(aws, zone_id) == {"us-east-1": 0, "us-west-2": 100}
    assert re.search(
        r"set weight 0 on api\.arc309\.example\.com\. \(us-east-1, us-east-1\)", result.stderr
    )
    assert "route53:ChangeResourceRecordSets" in mutations(control)
    assert "ecs:UpdateService" not in mutations(control)  # --no-scale-up
    assert drain_clock.slept >= 60
    status = json.loads(run_cli("--config", config, "--output", "json", "status").stdout)
    assert {r["name"]: r["verdict"] for r in status["regions"]}["us-east-1"] == "drained"

    # The other region is now the last one with weight: draining it is refused.
    refused = run_cli("--config", config, "drain", "--region", "us-west-2", "--yes")
    assert refused.exit_code == 3
    assert "us-east-1: its weighted records are at weight 0 (drained)" in refused.output

    result = run_cli("--config", config, "undrain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    assert weights(aws, zone_id) == {"us-east-1": 100, "us-west-2": 100}
    # Undrain restores what the drain recorded (the weights it found), not a guess.
    assert "weights go back to what drain run" in result.stdout


def test_take_over_capacity_survives_autoscaling_and_undrain_restores_the_minimums(
    run_cli: Any,
    aws: Any,
    control: SandboxClient,
    e2e_topology: topo.Topology,
    drain_clock: FakeClock,
) -> None:
    from mr_failover.sandbox import autoscaling

    # us-west-2 scales itself: a target-tracking policy on the ECS service (Application
    # Auto Scaling, MinCapacity 1) and on the Auto Scaling group (MinSize 0). The sandbox
    # carries no load, so both scale an idle take-over back in to their minimum.
    west, group = "us-west-2", "arc309-web-usw2"
    aas = aws("application-autoscaling", west)
    ids = {
        "ServiceNamespace": "ecs",
        "ResourceId": "service/arc309/api",
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    aas.register_scalable_target(**ids, MinCapacity=1, MaxCapacity=8)
    metric = {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}
    aas.put_scaling_policy(
        **ids,
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": metric,
        },
    )
    asg = aws("autoscaling", west)
    asg.put_scaling_policy(
        AutoScalingGroupName=group,
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
        },
    )

    result = run_cli("drain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    # The plan shows the minimums it raises, before the counts.
    assert "[1/7] raise MinCapacity of ecs arc309/api in us-west-2 to 4 (from 1)" in result.stderr
    assert "[3/7] raise MinSize of asg arc309-web-usw2 in us-west-2 to 4 (from 0)" in result.stderr
    assert "undrain restores the recorded minimums" in result.stdout
    control.advance(0.1)
    control.advance(autoscaling.SCALE_IN_SECONDS * 2)  # the policies had time to scale in
    assert ecs_desired(aws, west) == 4
    assert asg_desired(aws, west, group) == 4
    [target] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["MinCapacity"] == 4

    result = run_cli("undrain", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0, result.output
    [target] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["MinCapacity"] == 1
    [found] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    assert found["MinSize"] == 0
    assert ecs_desired(aws, west) == STEADY
    assert asg_desired(aws, west, group) == STEADY
