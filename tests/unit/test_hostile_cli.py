"""Bad arguments and hostile text through the CLI (issue 14, items 11 to 15).

Every case: a usage error (exit 2) or the documented code, one line, no traceback, and
no AWS call. Calls are counted by pointing ``--endpoint-url`` at the loopback server of
tests/unit/test_junk_answers.py, which records every request it gets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from mr_failover import topology
from mr_failover.cli import cli
from tests.unit.test_junk_answers import (  # noqa: F401  (fixtures re-exported)
    EXAMPLE,
    Junk,
    credentials,
    junk,
    no_backoff,
)

ENTRY = str(Path(sys.executable).parent / "mr-failover")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def one_line(result: Result) -> str:
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


BAD_URLS = {
    "file URL": "file:///etc/passwd",
    "ftp": "ftp://example.com",
    "no scheme": "localhost:4566",
    "no host": "http://",
    "port too big": "http://127.0.0.1:99999",
    "port zero": "http://127.0.0.1:0",
    "port not a number": "http://127.0.0.1:abc",
    "unclosed IPv6": "http://[::1",
    "bad IPv6": "http://[zz::1]:4566",
    "space": "http://local host:4566",
    "newline": "http://127.0.0.1:4566\n",
    "empty": "",
}


@pytest.mark.parametrize("case", sorted(BAD_URLS))
def test_a_bad_endpoint_url_is_a_usage_error(case: str) -> None:
    result = invoke("--config", str(EXAMPLE), "--endpoint-url", BAD_URLS[case], "status")
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert "--endpoint-url" in line and "not a usable endpoint URL" in line
    assert "\n" not in line.replace("\\n", "")


def test_a_bad_aws_endpoint_url_names_the_variable() -> None:
    result = invoke("--config", str(EXAMPLE), "status", env={"AWS_ENDPOINT_URL": "file:///x"})
    assert result.exit_code == 2
    assert one_line(result).startswith("Error: AWS_ENDPOINT_URL: 'file:///x'") or (
        "AWS_ENDPOINT_URL: file:///x" in one_line(result)
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "-1", "0", "abc", "3601"])
@pytest.mark.parametrize("command", [("status",), ("check", "replication")])
def test_deadline_must_be_finite_and_sane(value: str, command: tuple[str, ...]) -> None:
    result = invoke("--config", str(EXAMPLE), *command, "--deadline", value)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "--deadline" in result.output


MUTATIONS = [
    ("drain", "--region", "{r}", "--yes"),
    ("undrain", "--region", "{r}", "--yes"),
    ("promote", "--region", "{r}", "--yes"),
    ("fence", "--region", "{r}", "--yes"),
    ("health-check", "invert", "--region", "{r}", "--yes"),
    ("health-check", "restore", "--region", "{r}", "--yes"),
    ("drill", "evacuate", "--region", "{r}", "--yes"),
    ("status", "--region", "{r}"),
]


@pytest.mark.parametrize("command", MUTATIONS, ids=lambda c: " ".join(c[:2]))
def test_an_unknown_region_is_refused_before_any_aws_call(
    junk: tuple[Junk, str],  # noqa: F811
    command: tuple[str, ...],
) -> None:
    answer, url = junk
    args = [a.replace("{r}", "us-east-3") for a in command]
    result = invoke("--config", str(EXAMPLE), "--endpoint-url", url, *args)
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert "unknown region" in line and "us-east-3" in line
    assert answer.requests == [], "no AWS call (not even sts:GetCallerIdentity)"


def test_a_region_with_a_fullwidth_digit_gets_no_did_you_mean(
    junk: tuple[Junk, str],  # noqa: F811
) -> None:
    answer, url = junk
    result = invoke(
        "--config", str(EXAMPLE), "--endpoint-url", url, "drain", "-r", "us-east-\uff11"
    )
    line = one_line(result)
    assert "did you mean" not in line and "non-ASCII" in line
    assert answer.requests == []
    # The topology's region keys say the same.
    assert "did you mean" not in topology._not_a_region("us-east-\uff11")
    assert "did you mean" in topology._not_a_region("us-east-l")  # ASCII: a guess is fine


def test_a_huge_argument_is_not_echoed_whole(
    junk: tuple[Junk, str],  # noqa: F811
) -> None:
    _, url = junk
    for args in (
        ("drain", "--region", "x" * 100_000),
        ("drain", "--resume", "y" * 100_000),
        ("promote", "--mode", "z" * 100_000),
    ):
        result = invoke("--config", str(EXAMPLE), "--endpoint-url", url, *args)
        assert result.exit_code == 2, result.output[:300]
        assert len(result.output) < 2_000, args[0]


def test_control_characters_in_an_argument_are_escaped(
    junk: tuple[Junk, str],  # noqa: F811
) -> None:
    _, url = junk
    region = "\x1b[31mred\nError: forged line\x07"
    result = invoke("--config", str(EXAMPLE), "--endpoint-url", url, "drain", "-r", region)
    line = one_line(result)
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b[31mred\\nError: forged line\\x07" in line


def test_a_newline_in_the_topology_cannot_forge_a_status_line(tmp_path: Path) -> None:
    from mr_failover.render import status_table
    from mr_failover.status import StatusReport

    report = StatusReport.__new__(StatusReport)
    object.__setattr__(report, "application", "shop\nus-west-2  SERVING  yes\x1b[2J")
    object.__setattr__(report, "regions", ())
    object.__setattr__(report, "global_found", {})
    object.__setattr__(report, "nothing_serves", False)
    object.__setattr__(report, "warnings", ("from AWS: [bold]x[/] \x1b]0;title\x07",))
    object.__setattr__(report, "elapsed_seconds", 0.1)
    from rich.console import Console

    console = Console(width=200, record=True, no_color=True)
    with console.capture() as capture:
        console.print(status_table(report))
    text = capture.get()
    assert "\x1b" not in text and "\x07" not in text
    assert "shop\\nus-west-2  SERVING  yes\\x1b[2J" in text
    assert "[bold]x[/]" in text  # shown as text, not read as markup
    assert not any(line.startswith("us-west-2") for line in text.splitlines())


def test_json_output_makes_every_error_one_document_with_its_exit_code(
    junk: tuple[Junk, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    _, url = junk
    cases = [
        (["drain", "--region", "nowhere-1"], 2, "UsageError"),
        (["--config", str(tmp_path / "none.yaml"), "status"], 2, "ConfigError"),
        (["status", "--deadline", "nan"], 2, "BadParameter"),
        (["lock", "status"], 1, "AwsCallError"),  # the server answers junk
    ]
    for args, code, kind in cases:
        full = ["--output", "json", "--endpoint-url", url, *args]
        if "--config" not in args:
            full = ["--config", str(EXAMPLE), *full]
        result = invoke(*full)
        assert result.exit_code == code, (args, result.output)
        doc = json.loads(result.stdout)
        assert doc["exit_code"] == code and doc["error"]["exit_code"] == code
        assert doc["error"]["type"] == kind, doc
        assert doc["error"]["message"]


def test_a_missing_aws_profile_exits_5_before_any_call(
    junk: tuple[Junk, str],  # noqa: F811
) -> None:
    answer, url = junk
    for args in (("status",), ("drain", "-r", "us-east-1", "--yes"), ("lock", "status")):
        result = invoke(
            "--config", str(EXAMPLE), "--endpoint-url", url, *args, env={"AWS_PROFILE": "nope"}
        )
        assert result.exit_code == 5, (args, result.output)
        assert "nope" in one_line(result)
    assert answer.requests == []


def test_a_file_that_is_not_a_topology_is_not_echoed(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text(
        "root:$6$saltsalt$secrethashsecrethash:19000:0:99999:7:::\n"
        "daemon:*:19000:0:99999:7:::\n"
        "alice:$6$pepper$anothersecrethash:19000:0:99999:7:::\n"
    )
    result = invoke("--config", str(shadow), "status")
    assert result.exit_code == 2
    line = one_line(result)
    assert "not a topology file" in line
    for secret in ("secrethash", "daemon", "alice", "anothersecret"):
        assert secret not in result.output


def test_scenario_file_errors_speak_of_a_scenario_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    missing = invoke("--config", str(EXAMPLE), "drill", str(tmp_path / "nope.yaml"), "--dry-run")
    blank = invoke("--config", str(EXAMPLE), "drill", str(empty), "--dry-run")
    for result in (missing, blank):
        assert result.exit_code == 2
        line = one_line(result)
        assert "--config" not in line and "topology" not in line and "regions.yaml" not in line
    assert "no such file (give the drill scenario's path)" in one_line(missing)
    assert "see config/drills/" in one_line(blank)
    other = tmp_path / "other.yaml"
    other.write_text("kind: Deployment\nspec: {}\n")
    not_scenario = invoke("--config", str(EXAMPLE), "drill", str(other), "--dry-run")
    assert "not a drill scenario" in one_line(not_scenario)


def test_a_60000_key_file_is_rejected_fast(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("application: shop\n" + "".join(f"key{i}: {i}\n" for i in range(60_000)))
    started = time.perf_counter()
    result = invoke("--config", str(big), "validate")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 2
    assert "more than 50000 values; too large for a topology file" in one_line(result)
    assert elapsed < 5.0, f"{elapsed:.1f} s (was 48 s wall, 15 s CPU before the fix)"


def test_a_bug_is_one_line_and_its_traceback_only_with_debug(tmp_path: Path) -> None:
    broken = tmp_path / "sitecustomize.py"
    # Makes the status command raise ZeroDivisionError in the installed entry point.
    broken.write_text(
        "import mr_failover.commands.status as s\ns.status.callback = lambda *a, **k: 1 / 0\n"
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    args = [ENTRY, "--config", str(EXAMPLE), "status"]
    quiet = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    loud = subprocess.run(
        [ENTRY, "--debug", *args[1:]], env=env, capture_output=True, text=True, timeout=60
    )
    assert quiet.returncode == loud.returncode == 1, quiet.stderr
    assert quiet.stderr.startswith("Error: internal error: ZeroDivisionError: division by zero")
    assert len(quiet.stderr.strip().splitlines()) == 1 and "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr and "1 / 0" in loud.stderr
    as_json = subprocess.run(
        [ENTRY, "--output", "json", *args[1:]], env=env, capture_output=True, text=True, timeout=60
    )
    assert json.loads(as_json.stdout)["error"]["type"] == "internal"


def test_topology_data_cannot_break_validate_output(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["regions"]["us-east-1"]["surprise\x1b[2J"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = invoke("--config", str(bad), "validate")
    assert result.exit_code == 2
    assert "\x1b" not in result.output


def test_one_sections_bug_is_that_sections_error_not_the_end_of_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mr_failover.resources import aurora
    from tests.unit.test_status import (
        E,
        StubbedFactory,
        W,
        aurora_topology,
        run,
        stub_cluster,
        stub_global,
    )

    real = aurora.observe_aurora

    def buggy(factory: Any, region: str, *args: Any) -> Any:
        if region == W:
            raise ZeroDivisionError("division by zero")
        return real(factory, region, *args)

    monkeypatch.setattr(aurora, "observe_aurora", buggy)
    f = StubbedFactory()
    stub_cluster(f, E)
    stub_global(f, E)
    report = run(aurora_topology(), f)
    assert report.region(E).verdict == "serving"  # the other region is still observed
    west = report.region(W)
    assert west.verdict == "degraded"
    (error,) = [e for e in west.errors if e.section == "aurora"]
    assert "unexpected ZeroDivisionError: division by zero" in error.message
