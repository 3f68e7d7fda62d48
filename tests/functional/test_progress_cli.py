"""Waits show progress as plain lines when not on a terminal (and with --output json)."""

from __future__ import annotations

import json
import re

from mr_failover.commands import _mutation
from tests.functional.conftest import Seeded
from tests.functional.test_drain_cli import drained_env, run

__all__ = ["drained_env"]  # the fixture, shared with the drain tests


def test_drain_shows_its_record_ttl_wait_as_plain_lines(drained_env: Seeded) -> None:
    result = run("drain", "--region", "us-east-1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outcome"] == "succeeded"  # stdout stays one document
    # Lines are wrapped to the console's width between words: read them unwrapped.
    text = " ".join(result.stderr.split())
    waits = re.findall(
        r"\[4/4\] wait 60s \(record TTL\) [^\[]*?: waiting for dns:WaitTTL: "
        r"(\d+)s of the 60s wait left \((\d+)s, deadline (\d+)s\)",
        text,
    )
    assert len(waits) >= 3, result.stderr
    left = [int(w[0]) for w in waits]
    elapsed = [int(w[1]) for w in waits]
    assert left == sorted(left, reverse=True) and left[0] == 60
    assert elapsed == sorted(elapsed) and elapsed[0] == 0
    assert {int(w[2]) for w in waits} == {60 + 90}  # the wait plus the step's timeout
    assert _mutation.CLOCK is not None and _mutation.CLOCK.slept >= 60
