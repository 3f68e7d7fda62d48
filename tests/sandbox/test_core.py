"""The sandbox core over HTTP: control API, call log, reset, settings, request classification."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from mr_failover.sandbox.client import SandboxClient, SandboxClientError
from mr_failover.sandbox.core import Sandbox, SandboxClock, SandboxSettings
from mr_failover.sandbox.wire import TOKEN_HEADER
from tests.sandbox.conftest import TEST_SETTINGS, AwsFactory

EAST, WEST = "us-east-1", "us-west-2"


def test_state_names_endpoint_account_and_simulations(
    sandbox: Sandbox, control: SandboxClient
) -> None:
    state = control.state()
    assert state["endpoint_url"] == sandbox.endpoint_url
    assert state["endpoint_url"].startswith("http://127.0.0.1:")
    assert state["account_id"] == "123456789012"
    assert {"aurora", "route53"} <= set(state["simulations"])
    assert state["faults"] == [] and state["down_regions"] == []


def test_calls_log_region_service_action_and_mutations(
    aws: AwsFactory, control: SandboxClient
) -> None:
    aws("dynamodb", WEST).list_tables()
    aws("s3", EAST).create_bucket(Bucket="logged-bucket")
    aws("route53", EAST).list_health_checks()
    aws("rds", WEST).describe_db_clusters()
    aws("cloudwatch", WEST).list_metrics()
    seen = [(c["region"], c["service"], c["action"]) for c in control.calls()]
    assert seen == [
        (WEST, "dynamodb", "ListTables"),
        (EAST, "s3", "CreateBucket"),
        (EAST, "route53", "ListHealthChecks"),
        (WEST, "rds", "DescribeDBClusters"),
        (WEST, "cloudwatch", "ListMetrics"),
    ]
    assert [c["action"] for c in control.calls(mutating=True)] == ["CreateBucket"]
    assert [c["action"] for c in control.calls(service="rds")] == ["DescribeDBClusters"]


def test_s3_put_and_copy_are_told_apart_by_the_copy_source_header(
    aws: AwsFactory, control: SandboxClient
) -> None:
    # Both are PUT /bucket/key (and UploadPart / UploadPartCopy share theirs).
    s3 = aws("s3", EAST)
    s3.create_bucket(Bucket="put-or-copy")
    s3.put_object(Bucket="put-or-copy", Key="a", Body=b"x")
    s3.copy_object(Bucket="put-or-copy", Key="b", CopySource={"Bucket": "put-or-copy", "Key": "a"})
    upload = s3.create_multipart_upload(Bucket="put-or-copy", Key="c")["UploadId"]
    s3.upload_part(Bucket="put-or-copy", Key="c", UploadId=upload, PartNumber=1, Body=b"y")
    s3.upload_part_copy(
        Bucket="put-or-copy",
        Key="c",
        UploadId=upload,
        PartNumber=2,
        CopySource={"Bucket": "put-or-copy", "Key": "a"},
    )
    assert [(c["action"], c["status"]) for c in control.calls(service="s3")] == [
        ("CreateBucket", 200),
        ("PutObject", 200),
        ("CopyObject", 200),
        ("CreateMultipartUpload", 200),
        ("UploadPart", 200),
        ("UploadPartCopy", 200),
    ]


def test_reset_wipes_moto_faults_calls_and_settings(
    aws: AwsFactory, control: SandboxClient
) -> None:
    aws("s3", EAST).create_bucket(Bucket="gone-after-reset")
    control.fail_region(WEST)
    control.settings(aurora_failover_seconds=1)
    control.reset()
    assert aws("s3", EAST).list_buckets()["Buckets"] == []
    state = control.state()
    assert state["faults"] == []
    assert state["settings"]["aurora_failover_seconds"] == TEST_SETTINGS.aurora_failover_seconds
    assert [c["action"] for c in control.calls()] == ["ListBuckets"]


def test_settings_are_validated(control: SandboxClient) -> None:
    assert control.settings(health_check_interval=2)["health_check_interval"] == 2.0
    with pytest.raises(SandboxClientError, match="unknown setting"):
        control.settings(warp_speed=9)
    with pytest.raises(SandboxClientError, match=">= 0"):
        control.settings(tick=-1)


def test_clock_only_moves_forward(control: SandboxClient) -> None:
    before = control.state()["now"]
    assert control.advance(30) >= before + 30
    with pytest.raises(SandboxClientError, match="forward"):
        control.advance(-1)


def test_unknown_control_endpoint_is_a_404_naming_the_docs(sandbox: Sandbox) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        request = urllib.request.Request(
            f"{sandbox.endpoint_url}/_sandbox/nope", headers={TOKEN_HEADER: sandbox.token}
        )
        urllib.request.urlopen(request, timeout=2)
    assert err.value.code == 404
    assert "docs/SANDBOX.md" in json.loads(err.value.read())["error"]


def test_client_names_an_endpoint_that_does_not_answer() -> None:
    with pytest.raises(SandboxClientError, match=r"no sandbox answers at http://127\.0\.0\.1:9"):
        SandboxClient("http://127.0.0.1:9", timeout=0.5).state()


def test_clock_is_injectable_and_advanceable() -> None:
    ticks = iter([100.0, 100.0, 100.0])
    clock = SandboxClock(lambda: next(ticks))
    assert clock() == 100.0
    assert clock.advance(5) == 105.0


def test_settings_replace_keeps_the_rest() -> None:
    s = SandboxSettings().replace(tick=0.5)
    assert s.tick == 0.5 and s.aurora_failover_seconds == SandboxSettings().aurora_failover_seconds


def test_a_broken_ticker_does_not_stop_the_others(sandbox: Sandbox, control: SandboxClient) -> None:
    ran: list[float] = []

    def broken() -> None:
        raise RuntimeError("boom")

    sandbox.every(1.0, broken)
    sandbox.every(1.0, lambda: ran.append(sandbox.now()))
    control.tick()
    assert ran


def test_a_reset_takes_back_the_clocks_advances(sandbox: Sandbox, control: SandboxClient) -> None:
    control.advance(3600.0)
    assert sandbox.clock.offset >= 3600.0
    ahead = sandbox.wall_time()
    control.reset()
    # As a sandbox just started: its wall time is real time again, not an hour ahead.
    assert sandbox.clock.offset == 0.0
    assert (ahead - sandbox.wall_time()).total_seconds() > 3500


def test_a_restore_puts_the_clock_back_where_the_checkpoint_stood(
    sandbox: Sandbox, control: SandboxClient
) -> None:
    from mr_failover.sandbox.snapshot import checkpoint, restore

    control.advance(5.0)
    saved = checkpoint(sandbox)
    control.advance(3600.0)  # runs every ticker: each next round is due an hour ahead
    restore(sandbox, saved)
    assert sandbox.clock.offset == 5.0
    # A round scheduled for the later time would not come for an hour: each is due now.
    with sandbox.lock:
        late = [t for t in sandbox._tickers if t.next_run > sandbox.now()]
    assert sandbox._tickers and late == []


def test_only_the_last_started_sandbox_simulates(sandbox: Sandbox) -> None:
    # moto's state is process-wide: an earlier sandbox waits while a later one runs.
    rounds = [0]

    def count() -> None:
        rounds[0] += 1

    def grows(seconds: float) -> bool:
        before, deadline = rounds[0], time.monotonic() + seconds
        while time.monotonic() < deadline:
            if rounds[0] > before:
                return True
            time.sleep(0.05)
        return False

    sandbox.every(0.0, count)
    assert grows(5.0)
    other = Sandbox(settings=TEST_SETTINGS)
    other.start()
    try:
        time.sleep(1.0)  # a round already past the check ends
        assert not grows(1.0)
    finally:
        other.stop()
    assert grows(5.0)
