"""End to end, on a three-region topology of its own (tests/e2e/three_regions.yaml: Aurora
global database, a DynamoDB global table, buckets replicating to each other, ECS and ASG
compute, health checks and latency records): the drill decides from AWS, not from the
file, and leaves things as it found them (issue 13)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from mr_failover import topology as topo
from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.commands import _mutation
from mr_failover.engine import journal
from mr_failover.sandbox.client import SandboxClient
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.seed import seed
from mr_failover.sandbox.snapshot import Checkpoint, checkpoint, restore
from mr_failover.topology import Topology
from tests.e2e.conftest import SandboxAdvancingClock, _dummy_credentials

HERE = Path(__file__).resolve().parent
EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
REGIONS = (EAST, WEST, EU)
GLOBAL = "tri-global"
TABLE = "tri-orders"
BUCKETS = {EAST: "tri-files-use1", WEST: "tri-files-usw2", EU: "tri-files-euw1"}
PREFIX = "mr-failover-drill"


@pytest.fixture(autouse=True)
def ecs_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "6")


@pytest.fixture
def three(
    e2e_sandbox: Sandbox,
    control: SandboxClient,
    e2e_seeded: dict[str, tuple[Topology, Checkpoint]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    e2e_env: dict[str, str],
) -> str:
    """The three-region topology seeded (a checkpoint after the first time), as a file."""
    found = e2e_seeded.get("three")
    if found is not None:
        restore(e2e_sandbox, found[1])
        seeded = found[0]
    else:
        factory = ClientFactory(
            None, endpoint_url=e2e_sandbox.endpoint_url, timeouts=Timeouts(max_attempts=1)
        )
        with pytest.MonkeyPatch.context() as mp:
            _dummy_credentials(mp)
            seeded = seed(topo.load(HERE / "three_regions.yaml"), factory)
        e2e_seeded["three"] = (seeded, checkpoint(e2e_sandbox))
    control.advance(1.1)  # one round of lag metrics
    path = tmp_path / "three.yaml"
    path.write_text(topo.dump(seeded))
    monkeypatch.setenv("MR_FAILOVER_CONFIG", str(path))
    e2e_env["MR_FAILOVER_CONFIG"] = str(path)  # what run_cli runs with
    return str(path)


def writer(aws: Any) -> str:
    (g,) = aws("rds", EU).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)["GlobalClusters"]
    (w,) = [m["DBClusterArn"].split(":")[3] for m in g["GlobalClusterMembers"] if m["IsWriter"]]
    return str(w)


def capacity(aws: Any) -> dict[str, int]:
    out = {}
    for region in REGIONS:
        (svc,) = aws("ecs", region).describe_services(cluster="tri", services=["api"])["services"]
        out[f"{region} ecs"] = svc["desiredCount"]
        asg = aws("autoscaling", region).describe_auto_scaling_groups()["AutoScalingGroups"]
        out |= {f"{region} {g['AutoScalingGroupName']}": g["DesiredCapacity"] for g in asg}
    return out


def canaries_anywhere(aws: Any) -> list[str]:
    """Every canary item (every replica region) and object version / delete marker (every
    bucket) still there."""
    left = []
    for region in REGIONS:
        for item in aws("dynamodb", region).scan(TableName=TABLE)["Items"]:
            if item["pk"]["S"].startswith(PREFIX):
                left.append(f"{TABLE} ({region}): {item['pk']['S']}")
        out = aws("s3", region).list_object_versions(Bucket=BUCKETS[region])
        for v in [*out.get("Versions", []), *out.get("DeleteMarkers", [])]:
            if PREFIX in v["Key"]:  # under a replication rule's prefix, too
                left.append(f"{BUCKETS[region]}: {v['Key']} {v['VersionId']}")
    return left


def move_writer_to_west(run_cli: Any, aws: Any) -> None:
    moved = run_cli("promote", "--region", WEST, "--yes")
    assert moved.exit_code == 0, moved.output
    assert writer(aws) == WEST  # away from primary_region (us-east-1), by the tool itself


def test_evacuating_the_real_writers_region_promotes_and_puts_everything_back(
    three: str, run_cli: Any, aws: Any, control: SandboxClient, clock: Any
) -> None:
    move_writer_to_west(run_cli, aws)
    before = capacity(aws)

    dry = run_cli("--output", "json", "drill", "evacuate", "--region", WEST, "--dry-run")
    assert dry.exit_code == 0, dry.output
    body = json.loads(dry.stdout)
    assert body["would_refuse"] is None
    promotes = [s for s in body["plan"]["steps"] if s["call"] == "rds:SwitchoverGlobalCluster"]
    # The plan has the promote (the file still says us-east-1 holds the writer), to the
    # target status found best (us-east-1, the primary_region, preferred among equals).
    assert promotes, body["plan"]["steps"]
    assert body["scenario"]["steps"][1] == {**body["scenario"]["steps"][1], "action": "promote"}
    assert "the region status finds best able to take over" in body["scenario"]["description"]

    result = run_cli(
        "--output", "json", "drill", "evacuate", "--region", WEST, "--hold", "10", "--yes"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass"
    # The failback returned the writer where it was before the drill, not to the file's.
    assert writer(aws) == WEST
    assert capacity(aws) == before
    assert report["state"]["after_read"] is True
    assert report["state"]["differences"] == []
    labels = {i["label"]: i for i in report["state"]["items"]}
    assert labels["Aurora writer"]["before"] == labels["Aurora writer"]["after"] == WEST
    assert labels[f"{EAST} ecs tri/api desired"]["before"] == 3
    # Every canary written is listed and was removed from every replica.
    written = report["canaries"]["written"]
    assert {c["service"] for c in written} == {"dynamodb", "s3"}
    assert all(c["removed"] for c in written) and report["canaries"]["left"] == []
    assert canaries_anywhere(aws) == []
    md = Path(journal.runs_dir() / f"{report['run_id']}.report.md").read_text()
    assert "## State before and after" in md and "## Canary writes" in md


def test_a_drill_of_a_region_without_the_writer_does_not_promote(
    three: str, run_cli: Any, aws: Any, clock: Any
) -> None:
    move_writer_to_west(run_cli, aws)
    dry = run_cli(
        "--output", "json", "drill", "evacuate", "--region", EAST, "--to", EU, "--dry-run"
    )
    assert dry.exit_code == 0, dry.output
    body = json.loads(dry.stdout)
    assert [s["action"] for s in body["scenario"]["steps"]] == ["drain", "verify", "wait"]
    assert body["scenario"]["steps"][1]["region"] == EU
    assert "chosen with --to" in body["scenario"]["description"]
    # drain's notes say the writer is elsewhere: nothing about us-east-1 holding it.
    assert not any("holds the Aurora writer" in n for n in body["plan"]["notes"])
    drain_west = run_cli("--output", "json", "drain", "--region", WEST, "--dry-run")
    assert any(
        n.startswith(f"{WEST} still holds the Aurora writer")
        for n in json.loads(drain_west.stdout)["plan"]["notes"]
    )


def test_a_dry_run_says_what_a_real_run_would_refuse(
    three: str, run_cli: Any, aws: Any, control: SandboxClient, clock: Any
) -> None:
    inverted = run_cli("health-check", "invert", "--region", EU, "--yes")
    assert inverted.exit_code == 0, inverted.output
    mark = len(control.calls())
    dry = run_cli("drill", "evacuate", "--region", EAST, "--dry-run")
    assert dry.exit_code == 3, dry.output
    assert "a real run would refuse: not in steady state" in dry.stderr
    # The plan still shows, headed by the scenario, its target and why.
    assert f"drill evacuate {EAST}: Move all traffic" in dry.stdout
    assert "the region status finds best able to take over" in dry.stdout
    assert f"{EU} is" in dry.stderr
    assert not [c for c in control.calls()[mark:] if c["mutating"]]
    assert journal.list_runs()[0].command == "health-check invert"


class InterruptDuringTheHold(SandboxAdvancingClock):
    """Ctrl-C once the hold (s4) has started."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        runs = journal.list_runs()
        if runs and any(
            r.get("kind") == "drill-phase" and r.get("phase") == "s4"
            for r in journal.read_records(runs[0].run_id)
        ):
            raise KeyboardInterrupt


def test_ctrl_c_prints_run_id_resume_and_state_left_then_cleanup_removes_canaries(
    three: str,
    run_cli: Any,
    aws: Any,
    e2e_sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_mutation, "CLOCK", SandboxAdvancingClock(e2e_sandbox))
    move_writer_to_west(run_cli, aws)
    monkeypatch.setattr(_mutation, "CLOCK", InterruptDuringTheHold(e2e_sandbox))
    result = run_cli("drill", "evacuate", "--region", WEST, "--to", EAST, "--hold", "600", "--yes")
    assert result.exit_code == 130, result.output
    (run,) = [r for r in journal.list_runs() if r.command == "drill"]
    assert run.outcome == "interrupted"
    err = result.stderr
    assert f"interrupted (SIGINT): run {run.run_id} is journaled as interrupted" in err
    assert f"mr-failover drill evacuate --resume {run.run_id}" in err
    assert f"cleanup --run {run.run_id}" in err
    (left,) = [line for line in err.splitlines() if line.startswith("state left behind:")]
    assert f"{WEST} drained" in left
    assert f"writer in {EAST} (was {WEST})" in left
    assert "absorbers at take-over capacity" in left and f"{EAST} ecs tri/api desired 6" in left
    assert canaries_anywhere(aws)  # the cut-over probe's canaries are still there

    monkeypatch.setattr(_mutation, "CLOCK", SandboxAdvancingClock(e2e_sandbox))
    cleaned = run_cli("cleanup", "--run", run.run_id, "--yes")
    assert cleaned.exit_code == 0, cleaned.output
    assert canaries_anywhere(aws) == []
    again = run_cli("cleanup", "--run", run.run_id, "--yes")
    assert again.exit_code == 0, again.output  # everything already gone: skipped


def test_the_restore_phase_puts_back_what_a_scenario_does_not_fail_back(
    three: str, run_cli: Any, aws: Any, clock: Any, tmp_path: Path
) -> None:
    # A scenario that evacuates the writer's region (us-east-1) and has no failback at
    # all: the closing restore phase clears the inversion, switches the writer back and
    # scales the absorbers back to their earlier counts.
    scenario = tmp_path / "no-failback.yaml"
    scenario.write_text(
        "name: evacuate us-east-1, forget to fail back\n"
        "steps:\n"
        f"  - {{ action: drain, region: {EAST} }}\n"
        f"  - {{ action: promote, region: {WEST}, mode: switchover }}\n"
        f"  - {{ action: verify, region: {WEST} }}\n"
    )
    before = capacity(aws)
    result = run_cli("--output", "json", "drill", str(scenario), "--yes")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass"
    assert writer(aws) == EAST
    assert capacity(aws) == before
    traffic, db, compute, cleanup = report["closing_phases"]
    assert [p["outcome"] for p in (traffic, db, compute, cleanup)] == ["done"] * 4
    # Traffic first, then the writer (a promote refuses a target whose checks are
    # unhealthy), then the capacity.
    assert [s["title"] for s in traffic["steps"]] == [
        f"restore health check tri-use1 ({EAST} healthy)"
    ]
    assert any(s["title"].startswith("switch over tri-global to tri-use1") for s in db["steps"])
    assert f"scale back ecs tri/api in {WEST} to 3 (from 6)" in [
        s["title"] for s in compute["steps"]
    ]
    assert cleanup["steps"]  # the cut-over probe's and verify's canaries
    assert report["state"]["differences"] == []
    assert canaries_anywhere(aws) == []


def test_undrain_without_a_recorded_drain_says_what_it_cannot_know(
    three: str, run_cli: Any, aws: Any, clock: Any
) -> None:
    inverted = run_cli("health-check", "invert", "--region", EU, "--yes")  # not a drain
    assert inverted.exit_code == 0, inverted.output
    dry = run_cli("--output", "json", "undrain", "--region", EU, "--dry-run")
    assert dry.exit_code == 0, dry.output
    notes = json.loads(dry.stdout)["plan"]["notes"]
    assert any(
        f"no successful drain of {EU} in this machine's journal recorded the other regions' "
        "capacity before it: what their desired counts were is unknown" in n
        for n in notes
    ), notes


def test_sigterm_mid_drill_says_the_state_left_behind(
    three: str, run_cli_subprocess: Any, aws: Any
) -> None:
    # The installed entry point, stopped by SIGTERM after its first step (the scale-up of
    # us-east-1's ECS service, absorbing eu-west-1's traffic).
    drill = ("drill", "evacuate", "--region", EU, "--to", EAST, "--yes")
    child = run_cli_subprocess.paused(*drill, step=1)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    (run,) = [r for r in journal.list_runs() if r.command == "drill"]
    assert run.outcome == "interrupted"
    assert f"interrupted (SIGTERM): run {run.run_id} is journaled as interrupted" in err
    assert f"mr-failover drill evacuate --resume {run.run_id}" in err
    (left,) = [line for line in err.splitlines() if line.startswith("state left behind:")]
    assert f"absorbers at take-over capacity: {EAST} ecs tri/api desired 6 (was 3)" in left
    assert f"writer in {EAST};" in left  # it did not move: no "(was ...)"
    assert "Traceback" not in err


def test_s3_canaries_follow_the_replication_filter_and_are_removed(
    three: str, run_cli: Any, aws: Any, control: SandboxClient, clock: Any
) -> None:
    # us-east-1's bucket replicates only tagged objects under a prefix: a canary written
    # elsewhere would never arrive in us-west-2 and would count as lost.
    east = aws("s3", EAST)
    config = east.get_bucket_replication(Bucket=BUCKETS[EAST])["ReplicationConfiguration"]
    for rule in config["Rules"]:
        rule.pop("Prefix", None)
        rule["Filter"] = {
            "And": {"Prefix": "critical/", "Tags": [{"Key": "dr", "Value": "replicate"}]}
        }
        rule.setdefault("DeleteMarkerReplication", {"Status": "Disabled"})
    east.put_bucket_replication(Bucket=BUCKETS[EAST], ReplicationConfiguration=config)

    result = run_cli(
        "--output",
        "json",
        "drill",
        "evacuate",
        "--region",
        EAST,
        "--to",
        WEST,
        "--hold",
        "0",
        "--yes",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass"
    assert report["rpo"]["canaries_lost"] == 0
    objects = {
        c["region"]: c["what"] for c in report["canaries"]["written"] if c["service"] == "s3"
    }
    # At the cut-over, under the rule's prefix (and tagged); the failback's, from
    # us-west-2's unfiltered bucket, under the plain prefix.
    assert objects[EAST].startswith(f"critical/{PREFIX}/"), objects
    assert objects[WEST].startswith(f"{PREFIX}/"), objects
    puts = [c for c in control.calls(service="s3", region=EAST) if c["action"] == "PutObject"]
    assert puts
    assert canaries_anywhere(aws) == []
