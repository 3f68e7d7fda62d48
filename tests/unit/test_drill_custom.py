"""Custom steps' AWS calls checked against botocore's models (Stubber): Lambda Invoke and
SSM Automation (start, then wait for its end), and their failures."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from mr_failover import drill_custom as custom
from mr_failover.errors import MrFailoverError


class _Factory:
    def __init__(self, client: Any) -> None:
        self.c = client

    def client(self, service: str, region: str) -> Any:
        return self.c


def _client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _body(text: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(text), len(text))


def test_lambda_invoke_and_a_function_error() -> None:
    lam = _client("lambda")
    with Stubber(lam) as stub:
        expected = {
            "FunctionName": "flush-cache",
            "InvocationType": "RequestResponse",
            "Payload": b'{"region": "us-west-2"}',
        }
        stub.add_response("invoke", {"StatusCode": 200, "Payload": _body(b'"ok"')}, expected)
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _body(b"boom")},
            expected,
        )
        run = custom.lambda_invoke(
            _Factory(lam), "us-west-2", "flush-cache", {"region": "us-west-2"}
        )
        assert run() == 'lambda flush-cache: 200 "ok"'
        with pytest.raises(MrFailoverError, match="Unhandled: boom"):
            run()


def test_ssm_automation_runs_until_it_ends() -> None:
    ssm = _client("ssm")
    with Stubber(ssm) as stub:
        stub.add_response(
            "start_automation_execution",
            {"AutomationExecutionId": "0a1b2c3d-0000-4000-8000-000000000001"},
            {"DocumentName": "Restart-App", "Parameters": {"Region": ["us-west-2"]}},
        )
        for status in ("InProgress", "Success"):
            stub.add_response(
                "get_automation_execution",
                {"AutomationExecution": {"AutomationExecutionStatus": status}},
                {"AutomationExecutionId": "0a1b2c3d-0000-4000-8000-000000000001"},
            )
        stub.add_response(
            "get_automation_execution",
            {
                "AutomationExecution": {
                    "AutomationExecutionStatus": "Failed",
                    "FailureMessage": "step 2 failed",
                }
            },
            {"AutomationExecutionId": "0a1b2c3d-0000-4000-8000-000000000001"},
        )
        start, check = custom.ssm_automation(
            _Factory(ssm), "us-west-2", "Restart-App", {"Region": ["us-west-2"]}
        )
        execution = start()
        assert check(execution) is None and check(execution) is True
        with pytest.raises(MrFailoverError, match="ended Failed: step 2 failed"):
            check(execution)


def test_a_step_that_may_have_run_is_not_rerun_without_a_yes() -> None:
    marks: dict[str, Any] = {"s1:command:started": {}}
    ran: list[str] = []

    def mark(key: str, **fields: Any) -> None:
        marks[key] = fields

    def make(confirm: bool, idempotent: bool = False) -> custom.CustomAction:
        return custom.CustomAction(
            key="s1:command",
            kind="command",
            run=lambda: ran.append("x") or "done",
            marks=marks,
            mark=mark,
            confirm=lambda _q: confirm,
            idempotent=idempotent,
            title="restart",
        )

    with pytest.raises(MrFailoverError, match="not declared idempotent"):
        make(confirm=False).apply()
    assert ran == []
    make(confirm=True).apply()  # a person said yes
    assert ran == ["x"] and "s1:command" in marks
    del marks["s1:command"]
    make(confirm=False, idempotent=True).apply()  # declared safe to repeat
    assert ran == ["x", "x"]


def test_a_probe_stop_condition_fires_after_its_failures_in_a_row() -> None:
    import http.server
    import threading

    from mr_failover.drill import DrillContext, StopCondition, StopConditionFiredError, StopWatch
    from tests.clocks import FakeClock

    class Handler(http.server.BaseHTTPRequestHandler):
        status = 200

        def do_GET(self) -> None:
            self.send_response(type(self).status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/health"
        condition = StopCondition(probe=url, failures=2)
        ctx = DrillContext(topology=None, factory=None, clock=FakeClock(), run_id="r")  # type: ignore[arg-type]
        watch = StopWatch([condition], ctx, interval=0.0)
        watch.check()  # answers 200: nothing
        Handler.status = 503
        watch.check()  # one failure: not yet
        Handler.status = 200
        watch.check()  # a success resets the count
        Handler.status = 503
        watch.check()
        with pytest.raises(StopConditionFiredError, match="failed 2 time"):
            watch.check()
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(ValueError, match="one of 'alarm'"):
        StopCondition(probe="http://x/health", status="us-east-1")
