"""The sandbox's modules import each other in one direction only: no cycle.

The graph is read from the source with :mod:`ast`, so it holds every import: at module
level, inside functions, under ``if TYPE_CHECKING:``, and ``importlib.import_module`` /
``__import__`` calls with a literal name. An edge goes from a module to each module of
``mr_failover.sandbox`` it names (``from mr_failover.sandbox import arc`` names
``mr_failover.sandbox.arc``; ``from mr_failover.sandbox import PINNED_MOTO`` names the
package's ``__init__``). The layers (docs/SANDBOX.md, "Inside the sandbox"): the assembly
(``core``; ``__main__`` and the demo use it) over the HTTP front (``server``) and the
simulations, over the shared state (``state``, ``wire``, ``faults``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import mr_failover.sandbox

PACKAGE = "mr_failover.sandbox"
ROOT = Path(mr_failover.sandbox.__file__).parent
# The bottom layer: the simulations and the HTTP front build on it; it imports neither.
SHARED_STATE = {f"{PACKAGE}.{name}" for name in ("state", "wire", "faults")}
# What may import the assembly (core): the process entry and the demo, built on it.
ABOVE_THE_ASSEMBLY = {f"{PACKAGE}.__main__", f"{PACKAGE}.demo"}


def module_name(path: Path, root: Path = ROOT, package: str = PACKAGE) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(source: str, importer: str, is_package: bool = False) -> set[str]:
    """Every dotted name ``source`` imports, wherever the import statement sits."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # "from pkg import mod" imports pkg.mod, "from pkg import Name" pkg itself:
            # import_graph() cuts "pkg.Name" down to the module it names.
            base = _absolute(node, importer, is_package)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            named = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if called in ("import_module", "__import__") and named:
                names.add(str(first.value))
    return names


def import_graph(modules: Mapping[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """module -> the modules of ``modules`` it imports; ``modules``: name -> (source,
    is a package's ``__init__``)."""
    graph: dict[str, set[str]] = {}
    for name, (source, is_package) in modules.items():
        edges = set()
        for dotted in imported_names(source, name, is_package):
            # "pkg.mod.Thing" is the module "pkg.mod"; "pkg.Thing" is the package "pkg".
            while dotted and dotted not in modules:
                dotted = dotted.rpartition(".")[0]
            if dotted and dotted != name:
                edges.add(dotted)
        graph[name] = edges
    return graph


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle (first module repeated at the end) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, set(c), c[0]) for c in sorted(components)]


def _cycle_in(graph: Mapping[str, Iterable[str]], members: set[str], start: str) -> list[str]:
    """A path start -> ... -> start inside one strongly connected component (BFS)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt not in previous:
                    previous[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"{start} is in no cycle")  # pragma: no cover


def sandbox_graph() -> dict[str, set[str]]:
    modules = {
        module_name(path): (path.read_text(), path.name == "__init__.py")
        for path in sorted(ROOT.rglob("*.py"))
    }
    return import_graph(modules)


def test_the_sandbox_package_has_no_import_cycle() -> None:
    graph = sandbox_graph()
    assert len(graph) >= 20  # the package's modules were found
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in mr_failover.sandbox:\n" + "\n".join(
        " -> ".join(m.removeprefix(PACKAGE + ".") for m in cycle) for cycle in cycles
    )


def test_the_shared_state_imports_no_simulation_server_or_assembly() -> None:
    graph = sandbox_graph()
    for module in sorted(SHARED_STATE):
        assert graph[module] <= SHARED_STATE, (module, graph[module] - SHARED_STATE)


def test_the_http_front_imports_only_the_shared_state() -> None:
    imported = sandbox_graph()[f"{PACKAGE}.server"]
    assert imported <= SHARED_STATE, imported - SHARED_STATE


def test_simulations_import_neither_the_front_nor_the_assembly() -> None:
    from mr_failover.sandbox.core import SIMULATIONS

    graph = sandbox_graph()
    above = {f"{PACKAGE}.server", f"{PACKAGE}.core", *ABOVE_THE_ASSEMBLY}
    names = [simulation.__name__ for simulation in SIMULATIONS]
    assert len(names) >= 10
    for name in names:
        assert not graph[name] & above, (name, graph[name] & above)


def test_only_what_is_built_on_the_assembly_imports_it() -> None:
    graph = sandbox_graph()
    importers = {m for m, edges in graph.items() if f"{PACKAGE}.core" in edges}
    assert importers <= ABOVE_THE_ASSEMBLY, importers - ABOVE_THE_ASSEMBLY


# --- the checker itself finds what it must ------------------------------------------------


def test_the_checker_sees_imports_in_functions_type_checking_and_import_module() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.b import B\n"
        "def f():\n"
        "    from pkg import c\n"
        "    importlib.import_module('pkg.d')\n"
        "    from . import e\n"
        "    from .f import g\n"
    )
    modules = {
        "pkg": ("", True),
        **{f"pkg.{m}": ("", False) for m in "bcdef"},
        "pkg.a": (source, False),
    }
    assert import_graph(modules)["pkg.a"] == {f"pkg.{m}" for m in "bcdef"}


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b", "a"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}, [["a", "b", "c", "a"], ["d", "d"]]),
        ({"x": {"y"}, "y": {"z", "x"}, "z": {"y"}}, [["x", "y", "x"]]),
    ],
)
def test_the_checker_names_each_cycle(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert find_cycles(graph) == expected
