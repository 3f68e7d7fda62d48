"""``mr-failover validate`` and ``schema`` through the CLI: exact output, exit codes, no AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import botocore.endpoint
import pytest
from click.testing import CliRunner

from mr_failover import topology
from mr_failover.cli import AppContext, cli
from mr_failover.errors import EXIT_USAGE, ConfigError
from tests.unit.test_topology import MINIMAL, edit

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def valid(tmp_path: Path) -> Path:
    path = tmp_path / "ok.yaml"
    path.write_text(MINIMAL)
    return path


@pytest.fixture
def invalid(tmp_path: Path) -> Path:
    text = edit(MINIMAL, "rpo_seconds: 60", "rpo_secnds: 60")
    text = edit(text, "  us-west-2:", "  us-west-9:")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def test_valid_file(valid: Path) -> None:
    assert run("validate", str(valid)) == (
        0,
        f"{valid}: valid, 2 regions: us-east-1 (primary), us-west-2\n",
        "",
    )


def test_valid_file_json(valid: Path) -> None:
    code, out, err = run("--output", "json", "validate", str(valid))
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "file": str(valid),
        "valid": True,
        "regions": ["us-east-1", "us-west-2"],
    }


def test_the_shipped_example_is_valid_and_shows_the_writer() -> None:
    path = str(ROOT / "config" / "regions.yaml")
    assert run("validate", path) == (
        0,
        f"{path}: valid, 2 regions: us-east-1 (primary, writer), us-west-2\n",
        "",
    )


def test_invalid_file_lists_every_problem_and_exits_2(invalid: Path) -> None:
    assert run("validate", str(invalid)) == (
        EXIT_USAGE,
        "",
        f"Error: {invalid}: 3 problems\n"
        f"  {invalid}:4:1: policy.rpo_seconds: missing required key 'rpo_seconds'\n"
        f"  {invalid}:5:3: policy.rpo_secnds: unknown key 'rpo_secnds' "
        "(did you mean 'rpo_seconds'?)\n"
        f"  {invalid}:10:3: regions.us-west-9: 'us-west-9' is not an AWS region code "
        "(did you mean us-west-2?)\n",
    )


def test_invalid_file_json_goes_to_stdout(invalid: Path) -> None:
    code, out, err = run("-o", "json", "validate", str(invalid))
    assert (code, err) == (EXIT_USAGE, "")
    report = json.loads(out)
    assert report["valid"] is False
    assert [p.split(": ", 2)[1] for p in report["problems"]] == [
        "policy.rpo_seconds",
        "policy.rpo_secnds",
        "regions.us-west-9",
    ]


def test_the_file_defaults_to_config(valid: Path) -> None:
    code, out, _ = run("--config", str(valid), "validate")
    assert (code, out) == (0, f"{valid}: valid, 2 regions: us-east-1 (primary), us-west-2\n")


BOMB = b"a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n".encode() for i in range(1, 10)
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "{f}: the file is empty; see config/regions.yaml for an example"),
        (
            b"[]\n",
            "{f}:1:1: the top level must be a mapping of keys (like 'application: shop'), "
            "got a list",
        ),
        (b"\xff\xfe\x00junk", "{f}:1:1: not UTF-8 text (byte 0); is it a binary file?"),
        (
            b"a: 1\nb: [\n",
            "{f}:3:1: invalid YAML: expected the node content, but found '<stream end>' "
            "(while parsing a flow node)",
        ),
        (BOMB, "{f}: expands to more than 50000 values (YAML alias bomb?)"),
    ],
)
def test_bad_files_give_one_line_errors_and_no_traceback(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(content)
    code, out, err = run("validate", str(path))
    assert code == EXIT_USAGE
    assert out == ""
    assert err.splitlines()[0] == "Error: " + message.format(f=path)
    assert "Traceback" not in err


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert run("validate", str(tmp_path / "none.yaml")) == (
        EXIT_USAGE,
        "",
        f"Error: {tmp_path / 'none.yaml'}: no such file (pass --config FILE)\n",
    )
    assert run("validate", str(tmp_path)) == (
        EXIT_USAGE,
        "",
        f"Error: {tmp_path}: is a directory, not a topology file\n",
    )


def test_every_command_validates_on_load(invalid: Path) -> None:
    # Commands reach the topology through AppContext.topology(): the same load, the
    # same ConfigError and so the same exit code 2.
    app = AppContext(config=str(invalid), output="table", endpoint_url=None, color=False)
    with pytest.raises(ConfigError) as info:
        app.topology()
    assert info.value.exit_code == EXIT_USAGE
    assert len(info.value.problems) == 3


def test_validate_makes_no_aws_call(
    valid: Path, invalid: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any request would go to a closed loopback port, and make_request fails loudly.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with mock.patch.object(
        botocore.endpoint.Endpoint,
        "make_request",
        autospec=True,
        side_effect=AssertionError("validate made an AWS call"),
    ) as make_request:
        assert run("validate", str(valid))[0] == 0
        assert run("validate", str(invalid))[0] == EXIT_USAGE
    assert make_request.call_count == 0


def test_validate_does_not_even_load_an_aws_client(valid: Path) -> None:
    code = (
        "import sys\n"
        "from mr_failover.cli import main\n"
        f"sys.argv = ['mr-failover', 'validate', {str(valid)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'boto3'"
        " or m in ('botocore.endpoint', 'botocore.client', 'mr_failover.aws'))\n"
        "print('LOADED:' + ','.join(bad))\n"
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.splitlines()[-1] == "LOADED:"


def test_schema_command_prints_the_generated_schema() -> None:
    code, out, err = run("schema")
    assert (code, err) == (0, "")
    assert json.loads(out) == topology.json_schema()
    assert out == (ROOT / "mr_failover" / "data" / "regions.schema.json").read_text()
