"""Status in under a second (issue 16): the scheduling pieces status relies on.

The longest chains of calls start first (``run_concurrently(first=...)``), clients are
made in the order they were asked for (``FifoLock``), and a read every region needs
alike is made once per observation (``SharedReads``).
"""

from __future__ import annotations

import threading
import time

import pytest

from mr_failover.aws import FifoLock
from mr_failover.resources.section import SharedReads
from mr_failover.status import run_concurrently


def test_fifo_lock_is_granted_in_the_order_it_was_asked_for() -> None:
    lock = FifoLock()
    order: list[int] = []
    lock.__enter__()  # held: every thread below has to queue
    threads = []
    for i in range(8):
        t = threading.Thread(target=lambda i=i: _take(lock, order, i))
        t.start()
        threads.append(t)
        # Thread i is queued before thread i + 1 asks.
        deadline = time.monotonic() + 5
        while len(lock._waiting) < i + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(lock._waiting) == i + 1
    lock.__exit__()
    for t in threads:
        t.join(5)
    assert order == list(range(8))
    assert not lock._held and not lock._waiting


def _take(lock: FifoLock, order: list[int], i: int) -> None:
    with lock:
        order.append(i)


def test_fifo_lock_is_free_again_after_an_exception() -> None:
    lock = FifoLock()
    with pytest.raises(ValueError), lock:
        raise ValueError("boom")
    with lock:
        pass
    assert not lock._held


def test_run_concurrently_starts_the_longest_first_and_keeps_the_order() -> None:
    started: list[str] = []
    tasks = {name: (lambda name=name: started.append(name) or name) for name in "abcd"}
    rounds = {"a": 1, "b": 3, "c": 2, "d": 3}
    futures = run_concurrently(tasks, deadline=5, max_workers=1, first=rounds.__getitem__)
    assert started == ["b", "d", "c", "a"]  # one worker: exactly the start order
    assert list(futures) == ["a", "b", "c", "d"]
    assert [f.result() for f in futures.values()] == ["a", "b", "c", "d"]


def test_shared_read_is_made_once_and_every_caller_gets_its_answer() -> None:
    shared = SharedReads()
    calls = []
    gate = threading.Event()

    def read() -> str:
        calls.append(1)
        gate.wait(5)
        return "accelerator"

    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(shared.once("ga", read))) for _ in range(5)
    ]
    for t in threads:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join(5)
    assert calls == [1]
    assert answers == ["accelerator"] * 5
    assert shared.once("other", lambda: 2) == 2  # another key is its own read


def test_shared_read_error_reaches_every_caller() -> None:
    shared = SharedReads()
    calls = []

    def read() -> str:
        calls.append(1)
        raise RuntimeError("no answer")

    for _ in range(3):
        with pytest.raises(RuntimeError, match="no answer"):
            shared.once("ga", read)
    assert calls == [1]
