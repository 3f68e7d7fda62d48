"""The sandbox is a local attack surface: only its own client drives it (issue 14, item 9).

Any local process, and any web page open in the user's browser, can send requests to
127.0.0.1. So the control API (``/_sandbox/*``) and moto's passthrough (``/moto-api/*``)
need the sandbox's token (a new one per start, ``X-Sandbox-Token``) and a loopback
``Host``; a request with an ``Origin`` header (what a browser adds cross-origin) is
refused on every path; a control API body must be JSON (a ``text/plain`` POST is what a
page can send without a CORS preflight); moto's recorder, which would save every
request's headers (credentials included) to a file anyone could download, stays off.
``.sandbox/`` is 0700 and its files 0600. AWS calls (boto3 with ``AWS_ENDPOINT_URL``)
need no token.
"""

from __future__ import annotations

import http.client
import json
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mr_failover.sandbox.client import (
    TOKEN_ENV,
    RuntimeFiles,
    SandboxClient,
    SandboxClientError,
    find_token,
    launch,
    shutdown,
)
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.wire import TOKEN_HEADER
from tests.sandbox.conftest import AwsFactory

EVIL = "https://evil.example"
FAULT = json.dumps({"region": "us-east-1"}).encode()


def send(
    sandbox: Sandbox,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One raw HTTP request (no client-side help): the status and the JSON answer."""
    parts = urlsplit(sandbox.endpoint_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"raw": raw.decode(errors="replace")}
    return response.status, payload if isinstance(payload, dict) else {"list": payload}


def token(sandbox: Sandbox) -> dict[str, str]:
    return {TOKEN_HEADER: sandbox.token}


def test_a_cross_origin_text_plain_post_injects_no_fault(
    sandbox: Sandbox, control: SandboxClient
) -> None:
    # What a web page can send without a CORS preflight: a "simple" text/plain POST.
    simple = {"Content-Type": "text/plain", "Origin": EVIL}
    status, answer = send(sandbox, "POST", "/_sandbox/faults", FAULT, simple)
    assert status == 403 and "Origin" in answer["error"]
    # Even with the token, a request from a page is refused; so is its preflight.
    status, _ = send(sandbox, "POST", "/_sandbox/faults", FAULT, {**simple, **token(sandbox)})
    assert status == 403
    preflight = {"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    assert send(sandbox, "OPTIONS", "/_sandbox/faults", None, preflight)[0] == 403
    # Without an Origin header (a non-browser client), text/plain is still no JSON body.
    status, answer = send(
        sandbox, "POST", "/_sandbox/faults", FAULT, {"Content-Type": "text/plain", **token(sandbox)}
    )
    assert status == 415 and "application/json" in answer["error"]
    assert control.faults() == [] and control.state()["down_regions"] == []


def test_cross_site_fetch_metadata_is_refused(sandbox: Sandbox, control: SandboxClient) -> None:
    headers = {"Sec-Fetch-Site": "cross-site", **token(sandbox)}
    assert send(sandbox, "GET", "/_sandbox/state", None, headers)[0] == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/_sandbox/state", None),
        ("POST", "/_sandbox/faults", FAULT),
        ("DELETE", "/_sandbox/faults?region=us-east-1", None),
        ("POST", "/_sandbox/reset", b"{}"),
        ("GET", "/moto-api/data.json", None),
        ("POST", "/moto-api/reset", b""),
    ],
)
def test_no_token_is_401_and_a_wrong_one_403(
    sandbox: Sandbox, control: SandboxClient, method: str, path: str, body: bytes | None
) -> None:
    control.fail_region("us-west-2")
    json_body = {"Content-Type": "application/json"}
    status, answer = send(sandbox, method, path, body, json_body)
    assert status == 401 and TOKEN_HEADER in answer["error"]
    wrong = {**json_body, TOKEN_HEADER: sandbox.token[:-2] + "xx"}
    status, answer = send(sandbox, method, path, body, wrong)
    assert status == 403 and "wrong" in answer["error"]
    # Nothing happened: the fault is still the only one, nothing was reset.
    assert [(f["region"], f["kind"]) for f in control.faults()] == [("us-west-2", "outage")]
    # The right token is served.
    assert send(sandbox, "GET", "/_sandbox/state", None, token(sandbox))[0] == 200


def test_the_control_api_wants_a_loopback_host(sandbox: Sandbox, control: SandboxClient) -> None:
    # A DNS-rebinding page reaches 127.0.0.1 under its own name.
    rebound = {"Host": f"evil.example:{sandbox.port}", **token(sandbox)}
    assert send(sandbox, "GET", "/_sandbox/state", None, rebound)[0] == 403
    local = {"Host": f"localhost:{sandbox.port}", **token(sandbox)}
    assert send(sandbox, "GET", "/_sandbox/state", None, local)[0] == 200


def test_each_sandbox_has_its_own_token(sandbox: Sandbox) -> None:
    other = Sandbox(simulations=())
    assert len(sandbox.token) >= 40 and other.token != sandbox.token


def test_the_recorder_cannot_be_started_or_read(
    sandbox: Sandbox, control: SandboxClient, aws: AwsFactory, tmp_path: Path
) -> None:
    from moto.moto_api import recorder

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(recorder, "_location", str(tmp_path / "recording"))
        for method in ("GET", "OPTIONS", "POST"):
            for action in ("start-recording", "download-recording", "upload-recording"):
                status, answer = send(
                    sandbox, method, f"/moto-api/recorder/{action}", None, token(sandbox)
                )
                assert status == 403 and "recorder" in answer["error"]
        aws("dynamodb", "us-east-1").list_tables()  # an AWS call, credentials in its headers
        assert recorder._user_enabled is False
        assert not (tmp_path / "recording").exists()


def test_a_recorder_turned_on_before_is_off_once_the_sandbox_serves(tmp_path: Path) -> None:
    from moto.moto_api import recorder

    recorder.start_recording()  # as MOTO_ENABLE_RECORDING=true would at import
    sb = Sandbox(simulations=())
    try:
        sb.start()
        assert recorder._user_enabled is False
    finally:
        sb.stop()
        recorder.stop_recording()


def test_aws_calls_need_no_token_but_no_page_may_send_them(
    sandbox: Sandbox, control: SandboxClient, aws: AwsFactory
) -> None:
    assert aws("dynamodb", "us-east-1").list_tables()["TableNames"] == []
    # A page's form POST of a query-protocol call (moto checks no signature).
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": EVIL}
    status, answer = send(sandbox, "POST", "/", b"Action=CreateBucket&Bucket=from-a-page", form)
    assert status == 403 and "Origin" in answer["raw"]
    target = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Origin": "null"}
    assert send(sandbox, "POST", "/", b"{}", target)[0] == 403
    assert [c["action"] for c in control.calls()] == ["ListTables"]  # the refused ones unserved


def test_background_sandbox_runtime_files_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    files = RuntimeFiles(tmp_path / ".sandbox")
    files.directory.mkdir(mode=0o755)
    os.chmod(files.directory, 0o755)  # left by an older version: tightened
    files.endpoint.write_text("http://127.0.0.1:1\n")  # stale, 0644
    pid, endpoint = launch(files)
    try:
        assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
        for path in (files.pid, files.endpoint, files.token, files.log):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        # The client finds the token next to the endpoint; anywhere else it has none.
        assert find_token(endpoint, files) == files.token.read_text().strip()
        assert SandboxClient(endpoint).state()["endpoint_url"] == endpoint
        assert find_token(endpoint, RuntimeFiles(tmp_path / "elsewhere")) is None
        with pytest.raises(SandboxClientError, match="401"):
            SandboxClient(endpoint, token="").state()
        monkeypatch.setenv(TOKEN_ENV, "not-the-token")
        assert find_token(endpoint, RuntimeFiles(tmp_path / "elsewhere")) == "not-the-token"
        with pytest.raises(SandboxClientError, match="403"):
            SandboxClient(endpoint, token="not-the-token").state()
    finally:
        assert shutdown(files) == pid
    assert not files.token.exists() and not files.endpoint.exists()


def test_a_runtime_folder_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = RuntimeFiles(tmp_path / ".sandbox")
    files.directory.mkdir()
    owner = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    with pytest.raises(SandboxClientError, match="belongs to another user"):
        files.prepare()


def test_a_token_file_of_another_user_or_a_fifo_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    files = RuntimeFiles(tmp_path)
    files.endpoint.write_text("http://127.0.0.1:5\n")
    os.mkfifo(files.token)  # opening it for reading would block: it is skipped
    assert find_token("http://127.0.0.1:5", files) is None
    files.token.unlink()
    files.token.write_text("t0ken\n")
    assert find_token("http://127.0.0.1:5/", files) == "t0ken"
    assert find_token("http://127.0.0.1:6", files) is None  # another sandbox's files
    owner = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    assert find_token("http://127.0.0.1:5", files) is None
