"""The ``# TODO:`` and ``# PROBLEM:`` comments ``discover`` leaves in a topology file.

Its own module, with no import beyond the standard library, so that ``validate`` can list
them without loading the AWS layer (``validate`` makes no AWS call and loads no client).
"""

from __future__ import annotations

import re

_TODO = re.compile(r"#\s*(TODO|PROBLEM):\s*(.*)")


def todo_comments(text: str) -> list[tuple[int, int, str]]:
    """(line, column, text) of every ``# TODO`` / ``# PROBLEM`` comment in ``text``."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        hash_at = _comment_start(line)
        if hash_at is None:
            continue
        m = _TODO.match(line[hash_at:])
        if m:
            out.append((n, hash_at + 1, f"{m.group(1)}: {m.group(2).strip()}"))
    return out


def _comment_start(line: str) -> int | None:
    """Where a YAML comment starts on ``line`` (a ``#`` outside quotes, after a space)."""
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return None
