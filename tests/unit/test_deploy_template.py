"""deploy/template.yaml (the scheduled readiness check) passes cfn-lint.

cfn-lint is a test dependency (pyproject.toml, extra ``test``). The second test proves
the lint really runs: the same template with a wrong runtime and a property that does not
exist fails it.
"""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import lint_all

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"


def _problems(text: str) -> list[str]:
    """Errors and warnings, as the ``cfn-lint`` command fails on (informational is not)."""
    return [str(m) for m in lint_all(text) if m.rule.severity in ("error", "warning")]


def test_the_template_passes_cfn_lint() -> None:
    assert _problems(TEMPLATE.read_text()) == []


def test_cfn_lint_catches_a_broken_copy() -> None:
    broken = TEMPLATE.read_text().replace("Runtime: python3.12", "Runtime: python2.0")
    broken = broken.replace("MemorySize: 512", "MemorySize: 512\n      NoSuchProperty: 1")
    messages = " ".join(_problems(broken))
    assert "python2.0" in messages
    assert "NoSuchProperty" in messages


def test_the_function_runs_the_handler_module_every_minute() -> None:
    text = TEMPLATE.read_text()
    assert "Handler: mr_failover.lambda_handler.handler" in text
    assert "Default: rate(1 minute)" in text
    import mr_failover.lambda_handler as module

    assert callable(module.handler)
