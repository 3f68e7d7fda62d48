"""The shape docs/ARCHITECTURE.md describes: a registry of sections, no per-service branch."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import mr_failover.resources as resources_pkg
from mr_failover.resources.registry import GLOBAL_SECTIONS, SECTIONS
from mr_failover.resources.section import GlobalSection, Section

PACKAGE = Path(__file__).resolve().parents[2] / "mr_failover"
NAMES = {s.name for s in SECTIONS} | {g.name for g in GLOBAL_SECTIONS} | {"routing_controls"}


def _service_mentions(path: Path) -> list[str]:
    """String constants and attribute names in code (docstrings aside) naming a service."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in NAMES:
            found.append(f"{path.name}:{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr in NAMES:
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


def test_status_and_render_name_no_service() -> None:
    assert _service_mentions(PACKAGE / "status.py") == []
    assert _service_mentions(PACKAGE / "render.py") == []


def test_every_section_in_resources_is_registered() -> None:
    registered = {type(s) for s in (*SECTIONS, *GLOBAL_SECTIONS)}
    defined = set()
    for info in pkgutil.iter_modules(resources_pkg.__path__):
        module = importlib.import_module(f"mr_failover.resources.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Section | GlobalSection)
                and value not in (Section, GlobalSection)
                and value.__module__ == module.__name__
            ):
                defined.add(value)
    assert defined == registered
    assert len({s.name for s in SECTIONS}) == len(SECTIONS)
