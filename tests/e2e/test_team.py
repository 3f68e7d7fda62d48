"""Operated as a team: a run journaled to S3 is resumed from another state directory, and
runs post their start and end to a webhook and an SNS topic (issue 18).

Alice's drain runs as the installed entry point with state dir A and is SIGKILLed right
after the health-check inversion. Bob, with an empty state dir B (another machine), resumes
it through the team's journal: the run is copied from S3, nothing already applied is sent
again (the sandbox's call log), and both copies end with the same records.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mr_failover.sandbox.client import SandboxClient
from tests.clocks import FakeClock
from tests.e2e.test_resume_wait import another_operator  # noqa: F401  (fixture)

BUCKET = "team-journal"
DRAIN = ("drain", "--region", "us-east-1", "--yes")


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[str]

    def do_POST(self) -> None:
        self.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[str]]]:
    handler = type("Handler", (_Receiver,), {"got": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/chat", handler.got
    server.shutdown()
    server.server_close()


@pytest.fixture
def team_config(
    e2e_topology_file: Path, aws: Any, webhook: tuple[str, list[str]], e2e_env: dict[str, str]
) -> Path:
    aws("s3", "us-east-1").create_bucket(Bucket=BUCKET)
    topic = aws("sns", "us-east-1").create_topic(Name="oncall")["TopicArn"]
    data = yaml.safe_load(e2e_topology_file.read_text())
    data["journal"] = {"bucket": BUCKET, "region": "us-east-1", "prefix": "ops/"}
    data["notifications"] = {"sns_topic_arn": topic, "webhook_url": webhook[0]}
    e2e_topology_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return e2e_topology_file


def _inversions(control: SandboxClient) -> list[dict[str, Any]]:
    return [
        c
        for c in control.calls(service="route53", action="UpdateHealthCheck", mutating=True)
        if c["status"] == 200
    ]


def test_a_run_killed_on_one_machine_is_resumed_from_another_through_the_shared_journal(
    run_cli_subprocess: Any,
    run_cli: Any,
    control: SandboxClient,
    aws: Any,
    team_config: Path,
    webhook: tuple[str, list[str]],
    tmp_path: Path,
    e2e_env: dict[str, str],
    another_operator: FakeClock,  # noqa: F811
) -> None:
    state_a, state_b = tmp_path / "alice", tmp_path / "bob"
    for d in (state_a, state_b):
        d.mkdir(mode=0o700)
    run_cli_subprocess.env["MR_FAILOVER_STATE_DIR"] = str(state_a)
    run_cli_subprocess.kill_after_step(*DRAIN, step=3)
    (alice_file,) = (state_a / "runs").glob("*.jsonl")
    run_id = alice_file.stem
    assert len(_inversions(control)) == 1
    assert webhook[1] and "started" in webhook[1][0]

    e2e_env["MR_FAILOVER_STATE_DIR"] = str(state_b)  # what run_cli runs with
    another_operator.t = time.time()
    resumed = run_cli("drain", "--resume", run_id, "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert len(_inversions(control)) == 1  # the inversion was not sent again

    bob_file = state_b / "runs" / f"{run_id}.jsonl"
    assert bob_file.read_bytes().startswith(alice_file.read_bytes())
    objects = aws("s3", "us-east-1").list_objects_v2(Bucket=BUCKET, Prefix=f"ops/{run_id}/")
    shared = [
        json.loads(aws("s3", "us-east-1").get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
        for o in objects["Contents"]
    ]
    local = [json.loads(line) for line in bob_file.read_text().splitlines()]
    assert shared == local
    assert [r["type"] for r in shared].count("resume") == 1 and shared[-1]["type"] == "end"
    assert shared[-1]["outcome"] == "succeeded"
    assert {r["who"]["host"] for r in shared if r["type"] in ("run", "resume")} == {
        local[0]["who"]["host"],
        "ops-b",
    }

    # History on a third, empty machine lists the team's run.
    empty = tmp_path / "carol"
    empty.mkdir(mode=0o700)
    e2e_env["MR_FAILOVER_STATE_DIR"] = str(empty)
    listed = run_cli("--config", str(team_config), "--output", "json", "history")
    assert [(r["run_id"], r["outcome"]) for r in json.loads(listed.stdout)["runs"]] == [
        (run_id, "succeeded")
    ]

    # The team heard of it: Alice's start, Bob's resume and the end, on both channels.
    texts = webhook[1]
    assert any("resumed" in t for t in texts) and any("succeeded" in t for t in texts)
    published = [c for c in control.calls(service="sns", action="Publish") if c["status"] == 200]
    assert len(published) == len(texts) == 3


def test_a_shared_journal_that_cannot_be_written_stops_the_run_before_any_change(
    run_cli: Any, control: SandboxClient, team_config: Path, aws: Any
) -> None:
    data = yaml.safe_load(team_config.read_text())
    data["journal"]["bucket"] = "nobody-made-this-bucket"
    team_config.write_text(yaml.safe_dump(data, sort_keys=False))
    before = len(control.calls(mutating=True))
    result = run_cli(*DRAIN)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "s3://nobody-made-this-bucket/ops/" in result.output
    assert "cannot be written" in result.output
    after = control.calls(mutating=True)[before:]
    # Only the failed probe write: no lock taken, nothing in Route 53 or anywhere else.
    assert [(c["service"], c["action"], c["status"]) for c in after] == [("s3", "PutObject", 404)]
