"""The 80-column checker the rendering tests share (unit and end to end).

Output fits when no line is longer than the width and no identifier from the data is
split across two lines. A split is found where one line has a token ending with the
start of an identifier and the next line a token starting with the rest of it: that is
how rich folds a table cell, and how a hard wrap cuts prose (a table cell continues on
the next line in the same column, so the two parts are not adjacent in the text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from rich.cells import cell_len

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def plain_lines(text: str) -> list[str]:
    """The lines as they look on the terminal: escape sequences and trailing blanks gone."""
    return [_ANSI.sub("", line).rstrip() for line in text.splitlines()]


def split_ids(lines: Sequence[str], ids: Iterable[str]) -> list[str]:
    """``"id (line N)"`` for each identifier cut between line N and the next one."""
    found = []
    wanted = sorted({i for i in ids if len(i) > 3})
    for n, (this, below) in enumerate(pairwise(lines), start=1):
        ends, starts = this.split(), below.split()
        for ident in wanted:
            for k in range(1, len(ident)):
                head, tail = ident[:k], ident[k:]
                cut_here = any(t.endswith(head) and ident not in t for t in ends)
                # The rest starts the next line's token (or is longer than it: the
                # cut goes on over more lines).
                rest = any(
                    t.startswith(tail) or (len(t) > 2 and tail.startswith(t)) for t in starts
                )
                if cut_here and rest:
                    found.append(f"{ident} (line {n})")
                    break
    return found


def assert_fits(text: str, width: int, ids: Iterable[str], shown: Iterable[str] = ()) -> list[str]:
    """Assert ``text`` fits ``width``, splits no identifier of ``ids``, and shows each of
    ``shown`` whole on one line. Returns the plain lines."""
    lines = plain_lines(text)
    assert lines, "nothing was printed"
    too_long = [f"{cell_len(line)}: {line}" for line in lines if cell_len(line) > width]
    assert not too_long, "\n".join(too_long)
    split = split_ids(lines, ids)
    assert not split, f"split across lines: {split}\n" + "\n".join(lines)
    missing = [i for i in shown if not any(i in line for line in lines)]
    assert not missing, f"not shown whole on one line: {missing}\n" + "\n".join(lines)
    return lines


_ID = re.compile(r"\S{4,}")
_ID_MARK = re.compile(r"[-_.:/0-9]")  # "us-east-1", "arc309", an ARN; not "regions"


def identifiers(data: Any) -> set[str]:
    """Every key and string in a topology document (or any JSON-like value) that looks
    like an identifier (no space, a digit or one of ``-_.:/``): names, ids, ARNs, regions.
    Plain words ("regions", "weighted") are not: a sentence may end with one."""
    found: set[str] = set()
    if isinstance(data, Mapping):
        for key, value in data.items():
            found |= identifiers(key) | identifiers(value)
    elif isinstance(data, list | tuple):
        for value in data:
            found |= identifiers(value)
    elif isinstance(data, str) and _ID.fullmatch(data) and _ID_MARK.search(data):
        found.add(data)
    return found
