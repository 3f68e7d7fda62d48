"""Text from outside (topology, scenario files, journals, AWS answers) made safe to print.

At the bottom of the layers: the CLI's error handling, the renderers and the commands all
escape through the one function here. The width output is laid out for is decided here
too (:func:`terminal_width`), once for every console the CLI creates.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, TextIO

# The width when nothing says otherwise (piped without COLUMNS): the classic terminal.
DEFAULT_WIDTH = 80


def terminal_width(stream: TextIO | None = None) -> int:
    """The width output is laid out for: ``COLUMNS`` when it is a positive number, else the
    terminal's when ``stream`` (default stdout) is one, else 80 (piped, redirected, a test
    runner): the same rule as the shell's, and never a guess from another stream."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    stream = stream if stream is not None else sys.stdout
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or DEFAULT_WIDTH
    except (AttributeError, OSError, ValueError):
        pass  # a stream without a file descriptor (click's test runner, io.StringIO)
    return DEFAULT_WIDTH


# C0 and C1 controls, DEL, and the invisible characters that reorder or hide text on a
# terminal (zero-width, line/paragraph separators, bidi overrides and isolates, BOM).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, limit: int | None = None) -> str:
    """``text`` safe to print on a terminal: one line, no escape sequence, no control.

    Text from the topology, scenario files, journals and AWS answers goes through this
    before it is shown (tables and error messages): a newline is shown as ``\\n`` and an
    escape as ``\\x1b``, so no input can forge a line, move the cursor or recolour the
    screen. With ``limit``, longer text is cut and says how long it was.
    """
    out = _UNSAFE.sub(_escape, str(text))
    if limit is not None and len(out) > limit:
        return f"{out[: max(limit - 24, 1)]}... ({len(out)} characters)"
    return out


def to_json(data: Any, indent: int | None = 2) -> str:
    """Stable JSON text: sorted keys, so diffs between runs show only real changes.

    Here rather than in render.py so that ``--output json`` does not import rich.
    """
    return json.dumps(data, indent=indent, sort_keys=True, default=str)
