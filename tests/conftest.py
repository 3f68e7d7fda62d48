"""Suite-wide collection rules, for both pytest runs (see the Makefile).

Long tests go first, with room to finish:

* ``heavy`` (the long reliability variants) and ``slow`` tests move to the front of the
  run, heavy ones first; ``heavy`` ones get a 900 s timeout instead of 300 s (unless
  they set their own).

And, for pytest-xdist's ``--dist loadgroup`` (the Makefile), work units:

* a test module is one unit, so its module-scoped fixtures (a sandbox, a seeded
  checkpoint, a reference run) are built once, on one worker;
* a ``heavy`` or ``slow`` test is a unit of its own, so that long tests of one module
  run on different workers.

With ``--no-loadscope-reorder`` units go out in collection order, one at a time as
workers free up: the longest start first instead of one of them starting last and
running alone at the end. Without xdist only the order changes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

HEAVY_TIMEOUT = 900

# A shell that ran `eval "$(mr-failover sandbox up)"` exports the sandbox's name server;
# tests ask DNS only where they say so (tests/e2e's e2e_env names its sandbox's).
os.environ.pop("MR_FAILOVER_DNS_SERVER", None)

# The caches (botocore's parsed models, validated topologies: mr_failover.diskcache) of
# each pytest process and of the mr-failover children it starts go to a folder of its
# own, removed at its end, not to the user's: the property tests alone validate
# thousands of topology files. A test that sets MR_FAILOVER_CACHE_DIR itself still wins.
if "MR_FAILOVER_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="mr-failover-cache-")
    os.environ["MR_FAILOVER_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)


def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("heavy") is not None:
        return 0
    if item.get_closest_marker("slow") is not None:
        return 1
    return 2


def _order(item: pytest.Item) -> tuple[int, float]:
    """Heavy tests longest first (``heavy(seconds=...)``, the wall time they take on an
    idle machine; 60 when not said), then slow ones, then the rest: xdist hands each
    worker two units at the start, so the longest must be the first units, one per
    worker, or one waits for another (the 24-round lock torture, queued behind the drill
    crash test, started 157 s into a fresh clone's tests and was the last to end)."""
    heavy = item.get_closest_marker("heavy")
    seconds = float(heavy.kwargs.get("seconds", 60)) if heavy is not None else 0.0
    return _rank(item), -seconds


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        rank = _rank(item)
        if rank == 0 and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(HEAVY_TIMEOUT))
        if item.get_closest_marker("xdist_group") is None:
            group = item.nodeid if rank < 2 else item.nodeid.split("::", 1)[0]
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_order)  # stable: collection order within the same order


@pytest.fixture(autouse=True)
def _width_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output is laid out as when piped without ``COLUMNS``: 80 columns, whatever the
    terminal the tests are run from. A test that wants a width sets ``COLUMNS``."""
    monkeypatch.delenv("COLUMNS", raising=False)
