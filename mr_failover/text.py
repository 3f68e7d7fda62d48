"""Text from outside (topology, scenario files, journals, AWS answers) made safe to print.

At the bottom of the layers: the CLI's error handling, the renderers and the commands all
escape through the one function here.
"""

from __future__ import annotations

import json
import re
from typing import Any

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
