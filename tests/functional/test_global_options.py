"""Global options before or after the command (issue 16), through CliRunner on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner

from mr_failover.cli import cli
from tests.functional.conftest import EXAMPLE

if TYPE_CHECKING:
    from conftest import Seeded

# What changes from one observation to the next: when and how long it took.
_TIMING = {"observed_at", "seconds", "elapsed_seconds", "duration_seconds", "observed_in"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _TIMING}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _json_status(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, list(args))
    assert result.output.lstrip().startswith("{"), result.output
    return result.exit_code, json.loads(result.output)


def test_status_output_json_before_or_after_the_command_is_one_document(
    seeded: Seeded,
) -> None:
    config = str(EXAMPLE)
    forms = [
        ("--config", config, "status", "-o", "json", "--deadline", "20"),
        ("status", "--output", "json", "--config", config, "--deadline", "20"),
        ("--output", "json", "status", "-c", config, "--deadline", "20"),
        ("-c", config, "--output", "json", "status", "--output", "json", "--deadline", "20"),
    ]
    docs = [_json_status(*form) for form in forms]
    assert {code for code, _ in docs} == {4}  # moto: no DynamoDB replicas
    first = _stable(docs[0][1])
    assert first["schema"] == "mr-failover/status"
    assert [r["name"] for r in first["regions"]] == ["us-east-1", "us-west-2"]
    for _, doc in docs[1:]:
        assert _stable(doc) == first


def test_a_global_option_given_twice_with_two_values_is_refused(seeded: Seeded) -> None:
    result = CliRunner().invoke(
        cli, ["--output", "table", "--config", str(EXAMPLE), "status", "-o", "json"]
    )
    assert result.exit_code == 2
    assert result.output == (
        "Error: --output given twice with different values: 'table' before the command, "
        "'json' after it; give it once\n"
    )


def test_global_options_after_a_subcommand_of_a_group(seeded: Seeded, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            *("health-check", "invert", "--region", "us-west-2", "--dry-run", "-o", "json"),
            *("--config", str(EXAMPLE), "--no-color"),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["dry_run"] is True
    assert doc["plan"]["steps"]


def test_config_after_the_command_wins_over_the_environment(
    seeded: Seeded, monkeypatch: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv("MR_FAILOVER_CONFIG", str(tmp_path / "missing.yaml"))
    result = CliRunner().invoke(cli, ["validate", "-o", "json", "-c", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["valid"] is True


def test_endpoint_url_after_the_command_is_checked_like_before(seeded: Seeded) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(EXAMPLE), "status", "--endpoint-url", "ftp://x"]
    )
    assert result.exit_code == 2
    assert result.output.startswith("Error: --endpoint-url: ftp://x is not a usable endpoint URL")


def test_help_of_a_command_lists_the_global_options() -> None:
    for args in (["status", "--help"], ["health-check", "invert", "--help"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0
        for opt in ("-c, --config", "-o, --output", "--endpoint-url", "--no-color", "--debug"):
            assert opt in result.output, (args, opt)


def test_a_command_keeps_its_own_output_option() -> None:
    """discover --output FILE stays the file; -o json still works there."""
    result = CliRunner().invoke(cli, ["discover", "--help"])
    assert "--output, --out FILE" in result.output or "--output, --out" in result.output
    assert "-o [table|json]" in result.output
