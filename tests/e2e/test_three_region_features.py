"""Probes, the drill's synthetic client, custom steps, notifications, the team's journal
and the quota refusal, beyond the example: on tests/e2e/three_regions.yaml, with the Aurora
writer away from ``primary_region`` (us-west-2, moved there by the tool), one region down
(``control.fail_region``), and state changed behind the tool's back between a plan and
its run. One seeded sandbox for the module (test_drill_restore.py's ``three`` fixture
restores its checkpoint); everything runs in-process.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient
from tests.e2e.test_drill_restore import (  # noqa: F401  (fixtures)
    EAST,
    EU,
    WEST,
    ecs_running,
    move_writer_to_west,
    three,
    writer,
)
from tests.e2e.test_team import webhook  # noqa: F401  (fixture)

NAME = "api.tri.example.com"
TABLE = "tri-orders"
BUCKET = "tri-team-journal"


def _edit(path: str, **top: Any) -> None:
    data = yaml.safe_load(Path(path).read_text())
    data.update(top)
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def app(three: str, control: SandboxClient) -> dict[str, Any]:  # noqa: F811
    """The sandbox application in the three regions, probed by the topology."""
    found = control.app(name=NAME, tables={r: TABLE for r in (EAST, WEST, EU)})
    _edit(
        three,
        probes={
            "global_url": f"{found['front']}/health",
            "regions": {r: f"{found['regions'][r]}/health" for r in (EAST, WEST, EU)},
            "region_header": "x-served-by",
            "timeout_seconds": 2,
            "client_rate": 20,
        },
    )
    control.advance(5)  # the health checkers see the application
    return found


@pytest.fixture
def team(
    three: str,  # noqa: F811
    aws: Any,
    webhook: tuple[str, list[str]],  # noqa: F811
) -> tuple[str, list[str]]:
    aws("s3", WEST).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": WEST}
    )
    topic = aws("sns", WEST).create_topic(Name="tri-oncall")["TopicArn"]
    _edit(
        three,
        journal={"bucket": BUCKET, "region": WEST, "prefix": "runs/"},
        notifications={"sns_topic_arn": topic, "webhook_url": webhook[0]},
    )
    return webhook


def _status(run_cli: Any) -> dict[str, Any]:
    result = run_cli("--output", "json", "status")
    assert "Traceback" not in result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _region(out: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in out["regions"] if r["name"] == name)


def test_status_probes_three_regions_with_the_writer_away_and_one_region_down(
    app: dict[str, Any], run_cli: Any, aws: Any, control: SandboxClient, clock: Any
) -> None:
    move_writer_to_west(run_cli, aws)
    control.fail_region(EU)
    control.advance(5)  # its checks turn unhealthy: Route 53 answers without eu-west-1
    out = _status(run_cli)
    probes = {p["target"]: p for p in out["probes"]}
    assert set(probes) == {"global", EAST, WEST, EU}
    assert probes[EAST]["ok"] and probes[EAST]["served_by"] == EAST
    assert probes[WEST]["ok"] and probes[WEST]["served_by"] == WEST
    assert probes[EU]["ok"] is False and probes[EU]["status"] == 503
    assert probes["global"]["ok"] and probes["global"]["served_by"] in (EAST, WEST)
    eu = _region(out, EU)
    assert eu["can_take_over"] is False
    assert any(r.startswith("probes: ") and "HTTP 503" in r for r in eu["reasons"])
    assert _region(out, WEST)["is_writer"] is True
    assert _region(out, EAST)["can_take_over"] is True


def _scenario(tmp_path: Path, front: str, marker: Path) -> Path:
    script = (
        "import os, sys; open(sys.argv[1], 'a').write(os.environ['MR_FAILOVER_REGION'] + "
        "' ' + os.environ['MR_FAILOVER_PHASE'] + '\\n')"
    )
    path = tmp_path / "tri.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "evacuate us-east-1 with the writer in us-west-2, eu-west-1 down",
                "steady_state": {"regions": [EAST, WEST]},
                "steps": [
                    {"action": "drain", "region": EAST},
                    {"action": "verify", "region": WEST},
                    {"action": "http", "url": f"{front}/health"},
                    {
                        "action": "command",
                        "region": WEST,
                        "command": [sys.executable, "-c", script, str(marker)],
                        "timeout": 30,
                    },
                    {"action": "wait", "seconds": 5},
                ],
                "failback": [{"action": "undrain", "region": EAST}],
            },
            sort_keys=False,
        )
    )
    return path


def _writer_asked_of(aws: Any, region: str) -> str:
    (g,) = aws("rds", region).describe_global_clusters(GlobalClusterIdentifier="tri-global")[
        "GlobalClusters"
    ]
    (w,) = [m["DBClusterArn"].split(":")[3] for m in g["GlobalClusterMembers"] if m["IsWriter"]]
    return str(w)


def _shared_records(aws: Any, run_id: str) -> list[dict[str, Any]]:
    s3 = aws("s3", WEST)
    keys = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{run_id}/").get("Contents", [])
    return [
        json.loads(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
        for o in sorted(keys, key=lambda o: o["Key"])
    ]


def test_a_drill_with_its_own_steps_client_notices_and_team_journal_on_three_regions(
    app: dict[str, Any],
    team: tuple[str, list[str]],
    run_cli: Any,
    aws: Any,
    control: SandboxClient,
    clock: Any,
    tmp_path: Path,
) -> None:
    """eu-west-1 is down all along (out of the scenario's steady state). The drill runs
    its steps and failback; the canary written at verify replicates into eu-west-1's
    table, which cannot be read, so the cleanup cannot prove it gone: the run fails
    there, says which copy was not read and how to finish, and still writes its report.
    Once eu-west-1 is back, cleanup --run removes it."""
    move_writer_to_west(run_cli, aws)
    control.fail_region(EU)
    control.advance(5)
    marker = tmp_path / "ran.txt"
    scenario = _scenario(tmp_path, app["front"], marker)

    result = run_cli("--output", "json", "drill", str(scenario), "--yes")
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())
    assert "remove canary item" in said and "failed" in said
    assert f"tri-orders ({EU}) not read: " in said, said
    assert "(may hold it: cleanup --run removes it once it answers)" in said
    assert "report so far: " in said and "Traceback" not in said
    (run,) = [r for r in journal.list_runs() if r.command == "drill"]
    report = json.loads((journal.runs_dir() / f"{run.run_id}.report.json").read_text())
    assert report["rto"]["met"] is True
    # The writer did not move: no write was at risk, the RPO does not apply.
    assert report["rpo"]["applicable"] is False and report["rpo"]["met"] is True
    assert report["verdict"] == "incomplete"  # the cleanup could not finish
    assert [p["outcome"] for p in report["phases"]] == ["done"] * 6  # steps and failback
    assert _writer_asked_of(aws, WEST) == WEST  # never moved (eu-west-1 cannot be asked)
    assert marker.read_text() == f"{WEST} s4\n"  # the command step ran once, in its phase

    # The synthetic client followed the evacuation to us-west-2; eu-west-1 never answered.
    client = report["client"]
    served = {r for b in client["per_region"] for r in b["regions"]}
    assert WEST in served and EU not in served, client

    marks = [r for r in journal.read_records(run.run_id) if r.get("measure") == "custom"]
    assert [m["step"] for m in marks] == ["http", "command"]
    # The team's journal holds every record of the run, in order.
    local = [
        json.loads(line)
        for line in (journal.runs_dir() / f"{run.run_id}.jsonl").read_text().splitlines()
    ]
    assert _shared_records(aws, run.run_id) == local
    # The team heard the drill start and fail (with how to resume), on both channels.
    drill = [t for t in team[1] if f"run {run.run_id}" in t]
    assert len(drill) == 2 and "started" in drill[0] and "failed" in drill[1], team[1]
    assert f"--resume {run.run_id}" in drill[1]
    sent = [c for c in control.calls(service="sns", action="Publish") if c["status"] == 200]
    assert len(sent) == len(team[1])

    control.heal_region(EU)
    control.advance(5)
    cleaned = run_cli("cleanup", "--run", run.run_id, "--yes")
    assert cleaned.exit_code == 0, cleaned.output
    for region in (EAST, WEST, EU):
        items = aws("dynamodb", region).scan(TableName=TABLE)["Items"]
        assert not [i for i in items if i["pk"]["S"].startswith("mr-failover-drill")], region


def test_a_switchover_is_refused_up_front_while_a_secondary_region_is_down(
    three: str,  # noqa: F811
    run_cli: Any,
    aws: Any,
    control: SandboxClient,
    clock: Any,
) -> None:
    """Aurora synchronizes every secondary before it switches over: with eu-west-1 down
    the plan refuses (exit 3), instead of failing at SwitchoverGlobalCluster."""
    move_writer_to_west(run_cli, aws)
    control.fail_region(EU)
    mark = len(control.calls())
    result = run_cli("promote", "--region", EAST, "--yes")
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "a switchover first synchronizes every secondary, and eu-west-1 does not answer" in text
    assert f"mr-failover promote --region {EAST} --mode failover --allow-data-loss" in text
    assert not [c for c in control.calls()[mark:] if c["mutating"]]
    assert _writer_asked_of(aws, WEST) == WEST


def test_drain_and_evacuate_refuse_when_the_absorber_lacks_quota_headroom(
    three: str,  # noqa: F811
    run_cli: Any,
    control: SandboxClient,
    clock: Any,
) -> None:
    """us-west-2's EC2 Standard vCPU quota (simulated) is 5: its Auto Scaling group's
    take-over (2 -> 4 instances of 2 vCPU) needs 4 more, beyond the headroom whatever the
    usage read (its metric, or at least the group's own 4 vCPU)."""
    _edit(three, capacity={})
    control.set_quota(WEST, "ec2", "L-1216C47A", value=5)
    figures = re.compile(
        r"us-west-2 needs 4 more EC2 Standard vCPU; quota headroom [01] \(L-1216C47A 5, in use "
        r"\d+\)"
    )
    mark = len(control.calls())
    drain = run_cli("drain", "--region", EAST, "--yes")
    assert drain.exit_code == 3, drain.output
    text = " ".join(drain.output.split())
    found = figures.search(text)
    assert found, text
    assert f"refused: {found.group(0)}: not enough for the take-over scale-up of draining " in text
    assert "or drain with --no-scale-up" in text and "Traceback" not in text
    assert not [c for c in control.calls()[mark:] if c["mutating"]]
    # The quotas were read beside the other regions' traffic and compute, in both regions.
    quota_reads = control.calls(service="service-quotas")[-4:]
    assert {c["region"] for c in quota_reads} == {WEST, EU}

    # The override of scale-up refusals: no scale-up draws on no quota.
    plain = run_cli("drain", "--region", EAST, "--no-scale-up", "--dry-run")
    assert plain.exit_code == 0, plain.output

    # The drill's evacuate would drain the same way: refused up front, the dry run says so.
    dry = run_cli("drill", "evacuate", "--region", EAST, "--to", WEST, "--dry-run")
    assert dry.exit_code == 3, dry.output
    said = " ".join(dry.stderr.split())
    assert f"a real run would refuse: s1 (drain {EAST}): us-west-2 needs 4 more" in said, said
    assert "a drill has no --no-scale-up" in said
    real = run_cli("drill", "evacuate", "--region", EAST, "--to", WEST, "--yes")
    assert real.exit_code == 3, real.output
    assert not [c for c in control.calls()[mark:] if c["mutating"]]
    assert not [r for r in journal.list_runs() if r.command == "drill"]


def _use_state(e2e_env: dict[str, str], where: Path) -> Path:
    where.mkdir(mode=0o700, exist_ok=True)
    e2e_env["MR_FAILOVER_STATE_DIR"] = str(where)  # what run_cli runs with
    return where


def test_the_team_journal_changed_behind_the_tools_back(
    team: tuple[str, list[str]],
    run_cli: Any,
    aws: Any,
    control: SandboxClient,
    clock: Any,
    tmp_path: Path,
    e2e_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alice's drain stops (Ctrl-C) after the scale-up. Its team journal then loses a
    record, or gets a bad one: nobody resumes from it. Put right, Bob resumes it to the
    end from another machine; Alice, whose own copy stops at her Ctrl-C, is told it
    succeeded (her copy is brought up to the team's) instead of resuming it again."""
    from mr_failover.resources import route53_steps

    move_writer_to_west(run_cli, aws)
    alice = _use_state(e2e_env, tmp_path / "alice")

    def interrupt(self: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(route53_steps.SetInversion, "apply", interrupt)
        stopped = run_cli("drain", "--region", EAST, "--yes")
    assert stopped.exit_code == 130, stopped.output
    (alice_file,) = (alice / "runs").glob("*.jsonl")
    run_id = alice_file.stem
    s3 = aws("s3", WEST)
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{run_id}/")["Contents"]
    ]
    third = s3.get_object(Bucket=BUCKET, Key=keys[2])["Body"].read()
    inversions = len(control.calls(service="route53", action="UpdateHealthCheck"))

    _use_state(e2e_env, tmp_path / "carol")
    s3.delete_object(Bucket=BUCKET, Key=keys[2])
    lost = run_cli("drain", "--resume", run_id, "--yes")
    assert lost.exit_code == 3, lost.output
    text = " ".join(lost.output.split())
    assert f"s3://{BUCKET}/runs/{run_id}.jsonl:3: record(s) 3 missing (lost or removed)" in text
    assert "cannot be trusted to say which steps are done" in text
    s3.put_object(Bucket=BUCKET, Key=keys[2], Body=b'{"type": "outcome", "step": 7}\n')
    bad = run_cli("drain", "--resume", run_id, "--yes")
    assert bad.exit_code == 3, bad.output
    assert "Traceback" not in bad.output and f"{run_id}.jsonl:3:" in bad.output
    assert not (tmp_path / "carol" / "runs" / f"{run_id}.jsonl").exists()
    assert len(control.calls(service="route53", action="UpdateHealthCheck")) == inversions

    s3.put_object(Bucket=BUCKET, Key=keys[2], Body=third)
    bob = _use_state(e2e_env, tmp_path / "bob")
    resumed = run_cli("drain", "--resume", run_id, "--yes")
    assert resumed.exit_code == 0, resumed.output

    _use_state(e2e_env, alice)
    again = run_cli("drain", "--resume", run_id, "--yes")
    assert again.exit_code == 3, again.output
    assert f"run {run_id} already succeeded" in " ".join(again.output.split())
    assert alice_file.read_bytes() == (bob / "runs" / f"{run_id}.jsonl").read_bytes()


def test_the_teams_bucket_and_topic_in_the_region_that_is_down(
    team: tuple[str, list[str]],
    three: str,  # noqa: F811
    run_cli: Any,
    aws: Any,
    control: SandboxClient,
    clock: Any,
) -> None:
    """The journal's bucket and the SNS topic live in us-west-2, which goes down. A run
    stops before any change when the team's journal cannot be written; without the
    journal, the drain goes on to eu-west-1 and the SNS notices are warnings, the
    webhook's still sent."""
    control.fail_region(WEST)
    control.advance(5)
    mark = len(control.calls())
    stopped = run_cli("drain", "--region", EAST, "--yes")
    assert stopped.exit_code == 1, stopped.output
    text = " ".join(stopped.output.split())
    assert f"shared journal s3://{BUCKET}/runs/: cannot be written" in text
    assert "Traceback" not in text
    assert not [c for c in control.calls()[mark:] if c["mutating"] and c["service"] != "s3"]
    assert team[1] == []  # nothing started, nothing said

    data = yaml.safe_load(Path(three).read_text())
    del data["journal"]
    Path(three).write_text(yaml.safe_dump(data, sort_keys=False))
    drained = run_cli("drain", "--region", EAST, "--yes")
    assert drained.exit_code == 0, drained.output
    said = " ".join(drained.output.split())
    assert "regions taking the traffic: eu-west-1" in said
    assert said.count("warning: notification to SNS arn:aws:sns:us-west-2:") == 2, said
    texts = team[1]
    assert len(texts) == 2 and "started" in texts[0] and "succeeded" in texts[1], texts


def test_a_drain_planned_then_the_absorbers_application_fails_is_refused(
    app: dict[str, Any], run_cli: Any, control: SandboxClient, clock: Any
) -> None:
    """eu-west-1 is down: us-west-2 alone would take us-east-1's traffic. Its application
    starts failing between the dry run and the real run: the real run re-reads the
    probes and refuses, rather than send every client to a failing application."""
    control.fail_region(EU)
    control.advance(5)
    dry = run_cli("drain", "--region", EAST, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"regions taking the traffic: {WEST}" in " ".join(dry.output.split())
    control.app(fail=[WEST])
    mark = len(control.calls())
    refused = run_cli("drain", "--region", EAST, "--yes")
    assert refused.exit_code == 3, refused.output
    text = " ".join(refused.output.split())
    assert f"refused: draining {EAST} would leave no region able to serve its traffic" in text
    assert f"its application probe {app['regions'][WEST]}/health failed: HTTP 503" in text
    assert not [c for c in control.calls()[mark:] if c["mutating"]]
