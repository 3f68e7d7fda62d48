"""docs/SANDBOX.md's rules table is complete: every rule a simulation module marks has a row
naming its AWS document, its module and a test that exists, and every row is marked.

A rule is marked in a module by a ``# rule: <id>`` comment at the code enforcing it.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "mr_failover" / "sandbox"
DOC = REPO / "docs" / "SANDBOX.md"
MARK = re.compile(r"#\s*rule:\s*([a-z0-9][a-z0-9-]*)")
ROW = re.compile(r"^\|\s*`([a-z0-9-]+)`\s*\|(.*)\|\s*$")


def marked() -> dict[str, set[str]]:
    """rule id -> the sandbox modules that mark it."""
    found: dict[str, set[str]] = {}
    for path in sorted(SANDBOX.glob("*.py")):
        for rule in MARK.findall(path.read_text()):
            found.setdefault(rule, set()).add(path.name)
    return found


def rows() -> dict[str, list[str]]:
    """rule id -> the cells of its row in the "Rules and their sources" table."""
    text = DOC.read_text()
    section = text.split("## Rules and their sources", 1)[1].split("\n## ", 1)[0]
    out: dict[str, list[str]] = {}
    for line in section.splitlines():
        m = ROW.match(line)
        if m:
            out[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return out


def test_the_sandbox_marks_rules() -> None:
    assert len(marked()) >= 8  # the check below must have something to check


def test_every_marked_rule_has_a_row() -> None:
    missing = sorted(set(marked()) - set(rows()))
    assert not missing, f"rules marked in mr_failover/sandbox without a row in {DOC}: {missing}"


def test_every_row_names_a_document_a_marking_module_and_an_existing_test() -> None:
    found = marked()
    for rule, (_what, document, module, test) in rows().items():
        assert "http" in document or "(see above)" in document or "same page" in document, rule
        name = module.strip("`")
        assert name in found.get(rule, set()), f"{rule}: {name} does not mark it"
        path, _, func = test.strip("`").partition("::")
        source = REPO / path
        assert source.is_file(), f"{rule}: no test file {path}"
        assert re.search(rf"^def {re.escape(func)}\(", source.read_text(), re.M), (
            f"{rule}: no test {func} in {path}"
        )
