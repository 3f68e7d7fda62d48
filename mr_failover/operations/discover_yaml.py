"""The discovered topology as a commented YAML file, and its merge into an existing one.

:func:`render` writes a :class:`~mr_failover.operations.discover.Discovery` in the order of
config/regions.yaml, each note as a comment above the key it concerns (``# TODO:`` for a
choice only the user can make, ``# PROBLEM:`` for what could not be read or decided).
:func:`merge` folds a new discovery into an existing file with ruamel.yaml's round trip,
so the user's comments, policy and choices stay as they are: only what is new is added,
and what the file lists but AWS no longer shows is reported (and marked), never deleted.
:func:`todo_comments` finds the TODO and PROBLEM comments again, for ``validate``.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from mr_failover.errors import ConfigError
from mr_failover.operations.discover import REGION_ORDER, Discovery, KeyPath, Note
from mr_failover.operations.todo import todo_comments

WIDTH = 96
GONE_MARK = "not found by discover"
# Lists of scalars shown inline, as in the example: dynamodb_tables: [a, b].
_FLOW_LISTS = {"dynamodb_tables", "routing_controls", "secrets", "ssm_parameters"}
# Keys discover fills from AWS: only these can "disappear" in an update.
_DISCOVERED_REGION_KEYS = set(REGION_ORDER)


def _yaml() -> YAML:
    y = YAML()  # round trip: keeps comments, key order and quoting
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # never fold a value; comments are wrapped by this module
    y.preserve_quotes = True
    return y


def _to_commented(value: Any, key: str | None = None) -> Any:
    if isinstance(value, Mapping):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _to_commented(v, str(k))
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_to_commented(v) for v in value)
        if key in _FLOW_LISTS and all(isinstance(v, str) for v in value) and len(value) <= 4:
            seq.fa.set_flow_style()
        return seq
    return value


def _comment(note: Note) -> str:
    label = "TODO" if note.kind == "todo" else "PROBLEM"
    lines = textwrap.wrap(f"{label}: {note.text}", WIDTH - 10, subsequent_indent="  ")
    return "\n".join(lines)


def _attach(root: CommentedMap, note: Note) -> bool:
    """Put ``note`` above the deepest existing key of its path; False: only the header."""
    node: Any = root
    column = 0
    target: tuple[Any, Any, int] | None = None
    for part in note.where:
        if isinstance(node, CommentedMap) and part in node:
            target = (node, part, column)
            child = node[part]
            column += 2
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            target = (node, part, column)
            child = node[part]
            column += 2  # the item's keys sit two columns past its dash (offset 2)
        else:
            break
        node = child
    if target is None:
        return False
    container, key, col = target
    slot = container.ca.items.get(key)
    if slot is not None and len(slot) > 1 and slot[1] is None:
        slot[1] = []
    container.yaml_set_comment_before_after_key(key, before=_comment(note), indent=col)
    return True


def build(discovery: Discovery) -> CommentedMap:
    """The discovery as a round-trip map, its notes as comments."""
    root: CommentedMap = _to_commented(discovery.data)
    header: list[str] = []
    req = discovery.request
    if req is not None:
        header.append(
            f"Discovered by `mr-failover discover --regions {','.join(req.regions)} "
            f"{' '.join(req.sources())}`."
        )
    header += [
        "Every value below was read from AWS, except where a comment says otherwise:",
        "TODO marks a choice only you can make, PROBLEM what discover could not read or",
        "decide. `mr-failover validate` lists both; `mr-failover validate --live` compares",
        "the file with the account again.",
    ]
    loose: list[str] = []
    for note in discovery.notes:
        if not note.where or not _attach(root, note):
            loose.append(_comment(note))
    root.yaml_set_start_comment("\n".join([*header, *loose]))
    return root


def dump(root: Any) -> str:
    out = io.StringIO()
    _yaml().dump(root, out)
    return out.getvalue()


def render(discovery: Discovery) -> str:
    """The discovery as the text of a topology file."""
    return dump(build(discovery))


# --- --update ----------------------------------------------------------------------------


@dataclass
class MergeReport:
    added: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # in the file, not found in AWS
    kept: list[str] = field(default_factory=list)  # the file's value kept; AWS says otherwise


def _identity(item: Any) -> Any:
    if isinstance(item, Mapping):
        if "set_identifier" in item:
            return ("record", str(item.get("name", "")).rstrip(".").lower(), item["set_identifier"])
        if "service" in item:
            return ("ecs", item.get("cluster"), item["service"])
        if "bucket" in item and "region" in item:
            return ("target", item["bucket"], item["region"])
        for key in ("name", "domain", "id"):
            if key in item:
                return (key, item[key])
        return tuple(sorted((str(k), str(v)) for k, v in item.items()))
    return item


def _dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path)


def _label(path: KeyPath, item: Any) -> str:
    ident = _identity(item)
    shown = ident[-1] if isinstance(ident, tuple) and ident else ident
    if isinstance(ident, tuple) and ident and ident[0] == "record":
        shown = f"{ident[1]} ({ident[2]})"
    return f"{_dotted(path)}: {shown}"


def _merge_map(
    old: CommentedMap, new: CommentedMap, path: KeyPath, report: MergeReport, scope: set[str]
) -> None:
    keys = list(new.keys())
    for i, key in enumerate(keys):
        here = (*path, key)
        if key not in old:
            # Insert after the previous key the new map has, to keep the example's order.
            pos = len(old)
            for prev in reversed(keys[:i]):
                if prev in old:
                    pos = list(old.keys()).index(prev) + 1
                    break
            old.insert(pos, key, new[key])
            if key in new.ca.items:
                old.ca.items[key] = new.ca.items[key]
            report.added.append(_dotted(here))
            continue
        a, b = old[key], new[key]
        if isinstance(a, CommentedMap) and isinstance(b, CommentedMap):
            _merge_map(a, b, here, report, scope)
        elif isinstance(a, CommentedSeq) and isinstance(b, CommentedSeq):
            _merge_seq(a, b, here, report, scope)
        elif a != b and not isinstance(a, CommentedMap | CommentedSeq) and _in_scope(here, scope):
            report.kept.append(f"{_dotted(here)}: kept {a!r}; AWS shows {b!r}")
    if _in_scope(path, scope) and _discovered(path):
        for key in old:
            if key not in new and _discoverable_key(path, key):
                report.gone.append(f"{_dotted((*path, key))}: not found in AWS")


def _merge_seq(
    old: CommentedSeq, new: CommentedSeq, path: KeyPath, report: MergeReport, scope: set[str]
) -> None:
    index = {_identity(v): i for i, v in enumerate(old)}
    seen = set()
    for j, item in enumerate(new):
        ident = _identity(item)
        seen.add(ident)
        if ident in index:
            a = old[index[ident]]
            if isinstance(a, CommentedMap) and isinstance(item, CommentedMap):
                _merge_map(a, item, (*path, index[ident]), report, scope)
            continue
        old.append(item)
        if j in new.ca.items:
            old.ca.items[len(old) - 1] = new.ca.items[j]
        report.added.append(_label(path, item))
    if not _in_scope(path, scope):
        return
    for item in old:
        if _identity(item) in seen:
            continue
        report.gone.append(
            f"{_label(path, item)}: not found in AWS (kept; remove it if it is gone)"
        )
        if isinstance(item, CommentedMap) and len(item):
            first = next(iter(item))
            current = item.ca.items.get(first)
            if not (current and len(current) > 2 and current[2] and GONE_MARK in current[2].value):
                item.yaml_add_eol_comment(f"{GONE_MARK} (check and remove)", first)


def _in_scope(path: KeyPath, scope: set[str]) -> bool:
    """Only regions discover read completely may report what disappeared from them."""
    return len(path) < 2 or path[0] != "regions" or str(path[1]) in scope


def _discovered(path: KeyPath) -> bool:
    return len(path) >= 2 and path[0] == "regions"


def _discoverable_key(path: KeyPath, key: Any) -> bool:
    if len(path) == 2:
        return str(key) in _DISCOVERED_REGION_KEYS
    return path[2] in _DISCOVERED_REGION_KEYS and str(key) not in {
        "drain_lever",
        "takeover_desired",
        "profile",
        "role_arn",
        # readiness choices no AWS fact shows (discover never writes them)
        "templates",
        "mirror",
    }


def merge(existing: str, discovery: Discovery, file: str = "FILE") -> tuple[str, MergeReport]:
    """``existing`` (a topology file's text) with what ``discovery`` found added."""
    y = _yaml()
    try:
        old = y.load(existing)
    except Exception as exc:  # ruamel's errors: one line, like the loader's
        raise ConfigError(f"{file}: cannot read for --update: {str(exc).splitlines()[0]}") from None
    if not isinstance(old, CommentedMap):
        raise ConfigError(f"{file}: the top level must be a mapping of keys to --update it")
    new = build(discovery)
    report = MergeReport()
    problems = {str(n.where[1]) for n in discovery.problems if len(n.where) >= 2}
    scope = set(discovery.request.regions if discovery.request else ()) - problems
    _merge_map(old, new, (), report, scope)
    # Drop the new header's notes about regions the old file already had: they were
    # attached to keys that merge did not copy; the rest are in the report.
    return dump(old), report


__all__ = ["MergeReport", "build", "dump", "merge", "render", "todo_comments"]
