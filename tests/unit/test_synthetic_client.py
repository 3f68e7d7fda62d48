"""The synthetic client's figures: error rate, longest error window, client-visible RTO,
requests per region over time; and the client itself against a loopback server."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mr_failover.resources.client import Sample, SyntheticClient, figures
from mr_failover.topology import Probes


def _run(pattern: str, start: float = 100.0, step: float = 1.0) -> list[Sample]:
    """'e' = served by us-east-1, 'w' = by us-west-2, 'x' = failed; one a second."""
    region = {"e": "us-east-1", "w": "us-west-2", "x": None}
    return [Sample(start + i * step, c != "x", region[c], 10.0) for i, c in enumerate(pattern)]


def test_a_failover_that_recovers() -> None:
    f = figures(_run("eeeexxxxxwwwww"))
    assert (f["requests"], f["errors"]) == (14, 5)
    assert f["error_rate"] == round(5 / 14, 4)
    assert f["longest_error_window_seconds"] == 5.0  # 104 (first failure) to 109
    assert f["rto_seconds"] == 5.0 and f["recovered"] is True
    assert f["first_failure_t"] == 104.0


def test_a_flapping_recovery_counts_until_the_last_failure() -> None:
    f = figures(_run("eexxwxxwwww"))
    # First failure at 102; the last failure at 106; successes without a break from 107.
    assert f["rto_seconds"] == 5.0
    assert f["longest_error_window_seconds"] == 2.0


def test_no_failure_and_no_recovery() -> None:
    assert figures(_run("eeeeee"))["rto_seconds"] is None
    never = figures(_run("eexxxx"))
    assert never["rto_seconds"] is None and never["recovered"] is False
    assert never["longest_error_window_seconds"] == 3.0
    assert figures([])["error_rate"] is None


def test_requests_per_region_in_five_second_buckets() -> None:
    f = figures(_run("eeeeexxwwwwwwww"))
    assert [(b["regions"], b["errors"]) for b in f["per_region"]] == [
        ({"us-east-1": 5}, 0),
        ({"us-west-2": 3}, 2),
        ({"us-west-2": 5}, 0),
    ]
    assert [b["t"] for b in f["per_region"]] == [100.0, 105.0, 110.0]


class _Server(http.server.BaseHTTPRequestHandler):
    region = "us-east-1"
    fail = False

    def do_GET(self) -> None:
        self.send_response(503 if type(self).fail else 200)
        self.send_header("x-served-by", type(self).region)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Server]]]:
    handler = type("H", (_Server,), {})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/health", handler
    srv.shutdown()
    srv.server_close()


def test_the_client_sends_at_its_rate_and_sees_the_move(server: Any) -> None:
    url, handler = server
    spec = Probes(global_url=url, region_header="x-served-by", client_rate=20)
    client = SyntheticClient(spec).start()
    time.sleep(0.5)
    handler.fail = True
    time.sleep(0.5)
    handler.fail, handler.region = False, "us-west-2"
    time.sleep(0.5)
    samples = client.stop()
    assert 15 <= len(samples) <= 32  # 20 a second for 1.5 s, give or take the machine
    f = figures(samples)
    assert f["errors"] > 0 and f["recovered"]
    assert samples[0].region == "us-east-1" and samples[-1].region == "us-west-2"
    assert f["rto_seconds"] is not None and 0.3 <= f["rto_seconds"] <= 1.5


def test_an_unreachable_url_is_failed_requests_not_an_exception() -> None:
    spec = Probes(global_url="http://127.0.0.1:9/health", client_rate=20, timeout_seconds=0.5)
    client = SyntheticClient(spec).start()
    time.sleep(0.3)
    samples = client.stop()
    assert samples and not any(s.ok for s in samples)
