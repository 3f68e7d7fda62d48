"""The team's shared journal (S3, conditional writes) and notifications (SNS, webhook),
against moto in-process: the calls are checked against botocore's models by moto."""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mr_failover.aws import ClientFactory, Timeouts
from mr_failover.engine import journal
from mr_failover.engine.notify import Notifier
from mr_failover.engine.plan import Plan
from mr_failover.engine.shared import SharedJournal, SharedJournalError
from mr_failover.operations import metrics
from mr_failover.topology import Notifications
from mr_failover.topology import SharedJournal as Location
from tests.unit.conftest import black_hole  # noqa: F401  (fixture)

REGION = "us-east-1"
BUCKET = "team-journal"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield ClientFactory(None, timeouts=Timeouts(max_attempts=1))


def _state(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    path.mkdir(mode=0o700, exist_ok=True)
    monkeypatch.setenv("MR_FAILOVER_STATE_DIR", str(path))


WHO = journal.Who("arn:aws:iam::123456789012:user/alice", "alice", "laptop-a")
RUN = "20261206T040000Z-a1b2c3"


def _plan() -> Plan:
    return Plan(command="drain", params={"region": "us-east-1"}, steps=())


def test_two_writers_of_one_run_never_lose_an_entry(aws: ClientFactory) -> None:
    where = Location(bucket=BUCKET, region=REGION)
    first, second = SharedJournal(aws, where), SharedJournal(aws, where)
    first.append(RUN, b'{"type": "run", "n": 1}\n')
    second.append(RUN, b'{"type": "note", "n": 2}\n')  # learns the last number: writes 2
    first.append(RUN, b'{"type": "note", "n": 3}\n')  # its own next (2) is taken: 412, then 3
    assert [json.loads(line)["n"] for line in first.lines(RUN)] == [1, 2, 3]
    keys = [
        o["Key"]
        for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)["Contents"]
    ]
    assert keys == [f"mr-failover/runs/{RUN}/{n:08d}.json" for n in (1, 2, 3)]
    assert first.run_ids() == [RUN]


def test_a_long_run_is_read_back_in_order_and_a_lost_record_is_an_error(
    aws: ClientFactory,
) -> None:
    shared = SharedJournal(aws, Location(bucket=BUCKET, region=REGION))
    for n in range(1, 31):  # more records than readers: read a few at a time, kept in order
        shared.append(RUN, json.dumps({"type": "note", "n": n}).encode() + b"\n")
    assert [json.loads(line)["n"] for line in shared.lines(RUN)] == list(range(1, 31))
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/mr-failover/runs/{RUN}/00000017.json",
                    }
                ],
            }
        ),
    )
    with pytest.raises(SharedJournalError, match=r"00000017\.json"):
        shared.lines(RUN)


def test_a_bucket_that_cannot_be_written_is_a_clear_error(aws: ClientFactory) -> None:
    shared = SharedJournal(aws, Location(bucket="no-such-bucket", region=REGION))
    with pytest.raises(SharedJournalError) as caught:
        shared.check()
    text = str(caught.value)
    assert "s3://no-such-bucket/mr-failover/runs/" in text and "s3:PutObject" in text
    with pytest.raises(SharedJournalError):
        shared.append(RUN, b"{}\n")


def test_a_run_journaled_on_one_machine_is_resumed_from_another(
    aws: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = SharedJournal(aws, Location(bucket=BUCKET, region=REGION, prefix="ops/"))
    _state(monkeypatch, tmp_path / "a")
    jr = journal.Journal.create(
        RUN, command="drain", params={"region": "us-east-1"}, who=WHO, plan=_plan(), shared=shared
    )
    jr.note("lock", secret_token="hunter2")  # masked in both copies
    jr.close()
    local_a = (tmp_path / "a" / "runs" / f"{RUN}.jsonl").read_bytes()

    _state(monkeypatch, tmp_path / "b")  # a colleague's machine: no local journal
    runs, problems = journal.scan_runs(shared=shared)
    assert [r.run_id for r in runs] == [RUN] and not problems
    assert runs[0].who.host == "laptop-a"
    run = journal.read_run(RUN, shared)
    copied = tmp_path / "b" / "runs" / f"{RUN}.jsonl"
    assert copied.read_bytes() == local_a
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600
    assert b"hunter2" not in copied.read_bytes()
    assert (run.command, run.outcome) == ("drain", "incomplete")
    # The resume appends on both sides, after the records already there.
    jr = journal.Journal.reopen(RUN, who=WHO, plan=_plan(), shared=shared)
    jr.end("succeeded", 1.0)
    jr.close()
    kinds = [json.loads(line)["type"] for line in shared.lines(RUN)]
    assert kinds == ["run", "note", "resume", "end"]
    assert journal.read_run(RUN, shared).outcome == "succeeded"


def test_a_tampered_shared_record_refuses_the_copy(
    aws: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = SharedJournal(aws, Location(bucket=BUCKET, region=REGION))
    shared.append(RUN, b'{"type": "run", "run_id": "' + RUN.encode() + b'"}\n')  # no command
    _state(monkeypatch, tmp_path / "b")
    with pytest.raises(journal.JournalError, match="'command' is null, expected text"):
        journal.read_run(RUN, shared)
    assert not (tmp_path / "b" / "runs" / f"{RUN}.jsonl").exists()


def _started_on_a(
    aws: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[SharedJournal, Path]:
    """Run RUN journaled on machine A (run, note), then resumed on B (resume, note): A's
    own copy stops before B's records."""
    shared = SharedJournal(aws, Location(bucket=BUCKET, region=REGION))
    _state(monkeypatch, tmp_path / "a")
    jr = journal.Journal.create(
        RUN, command="drain", params={"region": "us-east-1"}, who=WHO, plan=_plan(), shared=shared
    )
    jr.note("step", n=1)
    jr.close()
    _state(monkeypatch, tmp_path / "b")
    journal.read_run(RUN, shared)
    jr = journal.Journal.reopen(RUN, who=WHO, plan=_plan(), shared=shared)
    jr.note("step", n=2)
    jr.close()
    return shared, tmp_path / "a" / "runs" / f"{RUN}.jsonl"


def test_an_older_local_copy_is_brought_up_to_the_teams_before_a_resume(
    aws: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, local_a = _started_on_a(aws, tmp_path, monkeypatch)
    with local_a.open("ab") as torn:
        torn.write(b'{"type": "no')  # A crashed mid-write: not a record
    _state(monkeypatch, tmp_path / "a")
    run = journal.read_run(RUN, shared)
    assert run.attempts == 2  # B's resume is known on A
    assert local_a.read_bytes() == b"".join(shared.lines(RUN))


def test_a_local_copy_that_disagrees_with_the_teams_refuses_the_resume(
    aws: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, local_a = _started_on_a(aws, tmp_path, monkeypatch)
    lines = local_a.read_bytes().splitlines(keepends=True)
    local_a.write_bytes(lines[0] + lines[1].replace(b'"n": 1', b'"n": 9'))
    before = local_a.read_bytes()
    _state(monkeypatch, tmp_path / "a")
    with pytest.raises(journal.JournalError) as err:
        journal.read_run(RUN, shared)
    assert f"{RUN}.jsonl:2: differs from record 2 of s3://{BUCKET}/" in str(err.value)
    assert err.value.exit_code == 3
    assert local_a.read_bytes() == before  # nothing written


def test_a_record_missing_from_the_teams_journal_refuses_the_copy(
    aws: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, _ = _started_on_a(aws, tmp_path, monkeypatch)
    boto3.client("s3", region_name=REGION).delete_object(
        Bucket=BUCKET, Key=f"mr-failover/runs/{RUN}/00000002.json"
    )
    _state(monkeypatch, tmp_path / "c")
    with pytest.raises(journal.JournalError) as err:
        journal.read_run(RUN, shared)
    assert str(err.value).startswith(
        f"s3://{BUCKET}/mr-failover/runs/{RUN}.jsonl:2: record(s) 2 missing (lost or removed)"
    )
    assert not (tmp_path / "c" / "runs" / f"{RUN}.jsonl").exists()


# --- notifications --------------------------------------------------------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[dict[str, Any]]
    delay = 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        self.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]], type[_Receiver]]]:
    handler = type("Handler", (_Receiver,), {"got": [], "delay": 0.0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler.got, handler
    server.shutdown()
    server.server_close()


def test_a_notification_reaches_sns_and_the_webhook(aws: ClientFactory, receiver: Any) -> None:
    url, got, _ = receiver
    topic = boto3.client("sns", region_name="eu-west-1").create_topic(Name="oncall")["TopicArn"]
    queue = boto3.client("sqs", region_name="eu-west-1")
    queue_url = queue.create_queue(QueueName="oncall")["QueueUrl"]
    queue_arn = queue.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    boto3.client("sns", region_name="eu-west-1").subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"]
    )
    warnings: list[str] = []
    notifier = Notifier(Notifications(sns_topic_arn=topic, webhook_url=url), aws, warnings.append)
    notifier.post("mr-failover: drain of shop, run X started", "who: alice")
    assert got == [{"text": "mr-failover: drain of shop, run X started\nwho: alice"}]
    message = json.loads(queue.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"])
    assert message["Subject"] == "mr-failover: drain of shop, run X started"
    assert message["Message"] == "who: alice"
    assert warnings == []


def test_an_unreachable_or_hanging_webhook_never_blocks(
    aws: ClientFactory,
    receiver: Any,
    black_hole: str,  # noqa: F811
) -> None:
    warnings: list[str] = []
    # Connection refused: a port nobody listens on.
    closed = Notifier(Notifications(webhook_url="http://127.0.0.1:9/x"), aws, warnings.append)
    closed.post("s", "t")
    assert len(warnings) == 1 and "failed" in warnings[0]
    # Accepts and never answers: the post gives up at the deadline.
    hanging = Notifier(
        Notifications(webhook_url=f"{black_hole}/x"), aws, warnings.append, deadline=0.5
    )
    started = time.monotonic()
    hanging.post("s", "t")
    assert time.monotonic() - started < 2.0
    assert len(warnings) == 2 and "0.5 s" in warnings[1]
    # A topic that does not exist: a warning too, never an exception.
    missing = Notifier(
        Notifications(sns_topic_arn="arn:aws:sns:us-east-1:123456789012:nope"), aws, warnings.append
    )
    missing.post("s", "t")
    assert len(warnings) == 3 and "SNS" in warnings[2]


def test_shared_records_are_plain_journal_lines(
    aws: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each S3 object is exactly the line the local journal got (same redaction)."""
    shared = SharedJournal(aws, Location(bucket=BUCKET, region=REGION))
    _state(monkeypatch, tmp_path / "a")
    jr = journal.Journal.create(
        RUN, command="drain", params={"password": "x"}, who=WHO, plan=None, shared=shared
    )
    jr.close()
    local = (tmp_path / "a" / "runs" / f"{RUN}.jsonl").read_bytes()
    assert shared.lines(RUN) == [local]
    assert json.loads(local)["params"] == {"password": journal.REDACTED}
    assert os.environ["MR_FAILOVER_STATE_DIR"].endswith("a")


class _Region:
    def __init__(self, name: str, can_take_over: bool) -> None:
        self.name, self.can_take_over = name, can_take_over


class _Report:
    """What publish() and last_can_take_over() read of a StatusReport."""

    application = "arc309"

    def __init__(self, observed_at: datetime, can_take_over: bool) -> None:
        self.observed_at = observed_at
        self.regions = [_Region("us-west-2", can_take_over)]

    def to_json(self) -> dict[str, Any]:
        regions = [
            {"name": r.name, "verdict": "serving", "can_take_over": r.can_take_over, "drift": []}
            for r in self.regions
        ]
        return {"regions": regions}


def test_runs_in_one_minute_each_read_back_the_run_before(aws: ClientFactory) -> None:
    # Scheduled every minute and run by hand in between: "cannot", then "can", then "can"
    # again within one minute. With a minute's aggregate (Minimum) the third run read back
    # 0 and posted the recovery a second time.
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    seen = []
    for second, can in ((5, False), (25, True), (45, True)):
        report = _Report(minute + timedelta(seconds=second), can)
        seen.append(metrics.last_can_take_over(aws, report, region=REGION))  # type: ignore[arg-type]
        assert metrics.publish(aws, report, region=REGION).ok  # type: ignore[arg-type]
    assert seen == [{}, {"us-west-2": False}, {"us-west-2": True}]
