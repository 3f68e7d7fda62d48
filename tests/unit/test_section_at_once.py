"""section.at_once: reads that wait for no other run side by side (readiness, compute,
traffic), keeping the error the calls in turn would have raised."""

from __future__ import annotations

import threading
import time

import pytest

from mr_failover.resources.section import at_once


def test_readiness_items_are_read_at_the_same_time() -> None:
    both = threading.Barrier(2, timeout=5)  # broken (an error) unless both wait at once
    assert at_once(lambda: both.wait() >= 0, lambda: both.wait() >= 0) == [True, True]


def test_the_first_failure_in_order_is_raised_as_one_after_another_would() -> None:
    def late_first() -> None:
        time.sleep(0.05)
        raise KeyError("first in order")

    def early_second() -> None:
        raise ValueError("second in order")

    with pytest.raises(KeyError, match="first in order"):
        at_once(lambda: 0, late_first, early_second)
