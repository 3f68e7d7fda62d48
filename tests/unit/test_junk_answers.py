"""Answers that are not AWS's (issue 14, item 10): one clear line, never a traceback.

A tiny HTTP server on 127.0.0.1 stands for a proxy, a captive portal or a wrong
``--endpoint-url``: it answers every request with the same status, content type and
body. Each junk answer must become one AwsCallError naming the region, the call and the
endpoint (the sandbox's fault injection returns only AWS-shaped errors, hence this
server). ``lock status`` must never say "free" on such an answer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.retries.standard import ExponentialBackoff
from click.testing import CliRunner

from mr_failover.aws import ClientFactory, Timeouts, call
from mr_failover.cli import WIRE_LOGGERS, cli
from mr_failover.errors import AwsCallError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
# One attempt for a hung call, two for an answered error: a junk 5xx is retried once.
QUICK = Timeouts(connect=1.0, read=2.0, max_attempts=1, error_attempts=2)


@dataclass
class Junk:
    status: int = 200
    content_type: str = "text/html"
    body: bytes = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _none() -> Iterator[None]:
    yield


@pytest.fixture
def junk() -> Iterator[tuple[Junk, str]]:
    answer = Junk()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            answer.requests.append(self.path)
            self.send_response(answer.status)
            if answer.content_type:
                self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield answer, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry backoff skipped: these tests count attempts, not seconds."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "MR_FAILOVER_STATE_DIR": str(tmp_path / "state"),
        "NO_COLOR": "1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MR_FAILOVER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


CASES = {
    # name: (status, content type, body)
    "captive portal (HTML 200)": (200, "text/html; charset=utf-8", b"<html>Log in</html>"),
    "HTML 200 without a content type": (200, "", b"\n <!doctype HTML><p>Log in"),
    "HTML 200 served as XML": (200, "text/xml", b"<html><body>Log in</body></html>"),
    "garbage 200": (200, "application/octet-stream", b"\x00\x01garbage\xff"),
    "empty 200": (200, "", b""),
    "empty 403": (403, "", b""),
    "HTML 403": (403, "text/html", b"<html><body>Forbidden by proxy</body></html>"),
    "HTML 500 from a proxy": (500, "text/html", b"<!DOCTYPE html><html>oops</html>"),
    "JSON 503 to an XML service": (503, "application/json", b'{"message": "busy"}'),
    "plain text 502": (502, "text/plain", b"Bad Gateway"),
}
# (service, operation, params): one per protocol the tool uses.
CALLS = {
    "query (rds)": ("rds", "describe_db_clusters", {}),
    "json (dynamodb)": (
        "dynamodb",
        "get_item",
        {"TableName": "t", "Key": {"k": {"S": "v"}}, "ConsistentRead": True},
    ),
    "rest-xml (route53)": ("route53", "get_health_check_status", {"HealthCheckId": "abc"}),
    "rest-json (lambda)": ("lambda", "get_function", {"FunctionName": "f"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("target", sorted(CALLS))
def test_a_junk_answer_is_one_line_naming_region_call_and_endpoint(
    junk: tuple[Junk, str], case: str, target: str
) -> None:
    answer, url = junk
    answer.status, answer.content_type, answer.body = CASES[case]
    service, operation, params = CALLS[target]
    client = ClientFactory(None, endpoint_url=url, timeouts=QUICK).client(service, "eu-west-1")
    xml = service in ("rds", "route53")
    # AWS-shaped for some protocols: a JSON error body is what JSON services send, and
    # JSON / REST services answer an operation without output with an empty 200.
    aws_shaped = (case == "JSON 503 to an XML service" and not xml) or (
        case == "empty 200" and service != "rds"
    )
    with pytest.raises(AwsCallError) if not aws_shaped or case != "empty 200" else _none():
        try:
            call(client, operation, **params)
        except AwsCallError as exc:
            text = str(exc)
            assert "\n" not in text
            assert "eu-west-1" in text and exc.call.startswith(service[:3])
            assert exc.exit_code == 1
            if not aws_shaped:
                assert url in text, text
                assert "not an AWS response" in text, text
            raise
    if answer.status >= 500:
        assert len(answer.requests) == 2, "a junk 5xx is retried like any 5xx"
    else:
        assert len(answer.requests) == 1


def test_lock_status_never_says_free_on_a_captive_portal(junk: tuple[Junk, str]) -> None:
    answer, url = junk
    answer.status, answer.content_type = 200, "text/html"
    answer.body = b"<!DOCTYPE html>\n<html><body>Sign in to the hotel Wi-Fi</body></html>"
    result = CliRunner().invoke(
        cli, ["--config", str(EXAMPLE), "--endpoint-url", url, "lock", "status"]
    )
    assert result.exit_code == 1, result.output
    assert "free" not in result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert "dynamodb:GetItem" in line and url in line and "HTML" in line


@pytest.mark.parametrize("command", [["status", "--deadline", "3"], ["drain", "-r", "us-east-1"]])
def test_status_and_a_mutation_end_in_one_line_not_a_traceback(
    junk: tuple[Junk, str], command: list[str]
) -> None:
    answer, url = junk
    answer.status, answer.content_type, answer.body = 500, "text/html", b"<!DOCTYPE html><p>x"
    result = CliRunner().invoke(cli, ["--config", str(EXAMPLE), "--endpoint-url", url, *command])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code in (3, 4), result.output
    assert url in result.output and "not an AWS response" in result.output


@pytest.mark.parametrize("where", ["before the command", "after the subcommand"])
def test_debug_adds_the_traceback_and_the_wire_log(
    junk: tuple[Junk, str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    _, url = junk
    token = "SESSIONTOKENzz" + "9" * 30
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    args = ["--config", str(EXAMPLE), "--endpoint-url", url, "lock", "status"]
    quiet = CliRunner().invoke(cli, args)
    loud_args = ["--debug", *args] if where == "before the command" else [*args, "--debug"]
    loud = CliRunner().invoke(cli, loud_args)
    assert quiet.exit_code == loud.exit_code == 1
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr and "NotAwsAnswer" in loud.stderr
    # The wire log: the request botocore sent and the answer that was refused.
    assert "Sending http request" in loud.stderr and "not an AWS answer from" in loud.stderr
    assert token[:16] not in loud.stderr  # the session token is masked in the wire log
    for name in WIRE_LOGGERS:  # back to quiet for the other tests
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
