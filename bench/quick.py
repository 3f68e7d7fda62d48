"""``--quick``: every benchmark's smoke mode, so that ``make test`` keeps them running.

A benchmark calls :func:`parse` instead of ``parser.parse_args()`` and names the small
values its options take in quick mode. ``--quick`` replaces each of them (an option given
on the command line as well still wins), so the whole script runs, every figure is
printed, in seconds. Quick figures are not measurements: too few runs, and
tests/bench/test_bench_quick.py runs them beside other tests. Only that each script runs
to its end and prints its figures is checked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

HELP = "smoke mode: tiny run counts, seconds in all; figures printed, not meaningful"


def parse(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, **small: Any
) -> argparse.Namespace:
    """``parser``'s arguments, with ``small`` in place of the defaults under ``--quick``."""
    parser.add_argument("--quick", action="store_true", help=HELP)
    args = parser.parse_args(argv)
    if args.quick:
        given = list(sys.argv[1:] if argv is None else argv)
        for name, value in small.items():
            flag = "--" + name.replace("_", "-")
            if not any(a == flag or a.startswith(flag + "=") for a in given):
                setattr(args, name, value)
    return args
