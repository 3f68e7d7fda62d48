"""``mr-failover demo`` end to end: the whole story in-process, on the demo's own sandbox.

The demo starts, seeds and stops its own :class:`~mr_failover.sandbox.core.Sandbox` (no
fixture sandbox is running in this module: two in one process would share moto's state);
moto's state that earlier modules left is wiped first, as a fresh ``mr-failover`` has none.
Its waits pass on the sandbox clock, so the run takes seconds. The data-plane segment at
the end is checked line by line and through the journal it leaves in ``--workdir``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mr_failover.cli import cli
from mr_failover.sandbox.core import Call, Sandbox
from mr_failover.sandbox.demo import describe_updates

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "regions.yaml"
OUT_REGIONS = {"eu-west-1", "ap-northeast-1"}  # ARC endpoints 2 and 3


def _runs(state: Path) -> dict[str, dict[str, object]]:
    """command -> the head and last line of its (last) run journal."""
    found: dict[str, dict[str, object]] = {}
    for path in sorted((state / "runs").glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        found[lines[0]["command"]] = {"head": lines[0], "last": lines[-1]}
    return found


def test_demo_ends_with_a_routing_control_drain_with_two_arc_endpoints_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Sandbox().reset()  # never started: only wipes moto's in-process state
    monkeypatch.delenv("MR_FAILOVER_STATE_DIR", raising=False)  # the demo's own: --workdir
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(
        cli,
        ["--config", str(EXAMPLE), "demo", "--workdir", str(tmp_path), "--hold", "5"],
        catch_exceptions=False,
    )
    out = result.output
    assert result.exit_code == 0, out[-3000:]

    # The segments in order: drill, outage, recovery, then the data-plane drain.
    order = [
        "> game day: evacuating us-east-1",
        "> us-east-1 outage seen by status after",
        "> us-east-1 recovers: serving after",
        "> data-plane lever: us-west-2 drains with `drain_lever: routing_control`",
        "> ARC endpoint 2 (eu-west-1) is now down",
        "> ARC endpoint 3 (ap-northeast-1) is now unavailable",
        "> `mr-failover drain --region us-west-2` with 2 of the 5 ARC endpoints out",
        "turn us-west-2's routing controls OFF",
        "> `mr-failover undrain --region us-west-2`: its routing control back ON",
        "turn us-west-2's routing controls ON",
        "> ARC endpoints back up: 2 (eu-west-1), 3 (ap-northeast-1)",
    ]
    positions = [out.find(line) for line in order]
    assert -1 not in positions, [line for line, at in zip(order, positions, strict=True) if at < 0]
    assert positions == sorted(positions)

    # Each change was served by an endpoint that was not out.
    served = re.findall(r"> UpdateRoutingControlStates served by the (\S+) endpoint", out)
    assert len(served) == 2
    assert not set(served) & OUT_REGIONS

    # Between drain and undrain, status shows us-west-2 drained with its control OFF.
    middle = out[positions[7] : positions[8]]
    row = next(line for line in middle.splitlines() if line.startswith("us-west-2 "))
    assert "DRAINED" in row
    assert "ARC OFF" in middle
    said = " ".join(middle.split())  # warnings wrap at spaces at 80 columns
    assert "routing control us-west-2/" in said and "is OFF: drained" in said

    # The journal: both runs used the routing control lever and succeeded.
    runs = _runs(tmp_path / "state")
    for command in ("drain", "undrain"):
        head, last = runs[command]["head"], runs[command]["last"]
        assert isinstance(head, dict) and isinstance(last, dict)
        assert head["params"]["region"] == "us-west-2"
        assert head["plan"]["params"]["lever"] == "routing_control"
        assert last["outcome"] == "succeeded"
    assert (tmp_path / "regions.routing-control.yaml").read_text().count(
        "drain_lever: routing_control"
    ) == 1


def test_describe_updates_names_the_endpoint_that_served_and_those_that_did_not() -> None:
    def call(region: str, status: int) -> Call:
        return Call(region, "route53-recovery-cluster", "UpdateRoutingControlStates", 0.0, status)

    assert describe_updates([call("us-west-2", 200)]) == "served by the us-west-2 endpoint"
    assert describe_updates([call("ap-northeast-1", 503), call("us-east-1", 200)]) == (
        "served by the us-east-1 endpoint (after ap-northeast-1: HTTP 503)"
    )
    assert describe_updates([call("ap-northeast-1", 503)]) == (
        "not served (after ap-northeast-1: HTTP 503)"
    )
