"""Property: whatever is done to a valid file, loading ends in a Topology or a ConfigError.

Mutations of the shipped example (keys deleted or renamed, values of the wrong type or
huge, text truncated, junk bytes inserted) must never raise anything else, and every
problem line must name the file and a position, or be one of the documented file-level
forms. When a mutant loads, ``dump`` must round-trip it.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mr_failover import topology
from mr_failover.errors import ConfigError
from mr_failover.topology import Topology

EXAMPLE = topology.shipped_example()
DATA = yaml.safe_load(EXAMPLE)

FILE_LEVEL = (
    "the file is empty",
    "larger than",
    "expands to more than",
    "no such file",
    "is a directory",
    "not readable",
    "cannot read",
)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


ALL_PATHS = paths(DATA)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just("x" * 100_000),
    # builds, not just: a fresh list each time, since later mutations edit it in place.
    st.builds(lambda: list(range(5000))),
)


def copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [copy(v) for v in node]
    return node


@st.composite
def structural_mutants(draw: st.DrawFn) -> str:
    data = copy(DATA)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        live = paths(data)
        if not live:
            break
        path = draw(st.sampled_from(live))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        op = draw(st.sampled_from(["delete", "rename", "retype"]))
        if op == "delete":
            del parent[last]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(last)
        else:
            parent[last] = copy(draw(values))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@st.composite
def text_mutants(draw: st.DrawFn) -> bytes:
    raw = EXAMPLE.encode()
    op = draw(st.sampled_from(["truncate", "junk", "line", "swap"]))
    at = draw(st.integers(min_value=0, max_value=len(raw)))
    if op == "truncate":
        return raw[:at]
    if op == "junk":
        return raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
    lines = raw.splitlines(keepends=True)
    i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    if op == "line":
        lines[i] = draw(st.text(max_size=30)).encode() + b"\n"
    else:
        j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def check(workdir: Path, content: str | bytes) -> None:
    file = workdir / "mutant.yaml"
    file.write_bytes(content.encode() if isinstance(content, str) else content)
    try:
        loaded = topology.load(file)
    except ConfigError as exc:
        check_error(file, exc)
        return
    assert isinstance(loaded, Topology)
    again = workdir / "again.yaml"
    again.write_text(topology.dump(loaded))
    assert topology.load(again) == loaded


def check_error(file: Path, exc: ConfigError) -> None:
    name = re.escape(str(file))
    positioned = re.compile(rf"^{name}:\d+:\d+: \S")
    if exc.problems:
        assert re.fullmatch(rf"{name}: \d+ problems?", str(exc).splitlines()[0])
        assert len(exc.problems) == int(str(exc).split()[1])
        lines = exc.problems
    else:
        lines = [str(exc)]
    for line in lines:
        assert "\n" not in line
        assert len(line) < 600, line
        file_level = line.startswith(f"{file}: ") and line.removeprefix(f"{file}: ").startswith(
            FILE_LEVEL
        )
        assert positioned.match(line) or file_level, line


@SETTINGS
@given(content=structural_mutants())
def test_structural_mutants_load_or_fail_cleanly(workdir: Path, content: str) -> None:
    check(workdir, content)


@SETTINGS
@given(content=text_mutants())
def test_text_mutants_load_or_fail_cleanly(workdir: Path, content: bytes) -> None:
    check(workdir, content)


def test_the_unmutated_example_passes_the_same_check(workdir: Path) -> None:
    check(workdir, EXAMPLE)
    assert ALL_PATHS  # the structural strategy has something to mutate
