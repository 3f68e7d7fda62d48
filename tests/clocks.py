"""A fake clock for the tests: time moves only when the code under test sleeps."""

from __future__ import annotations


class FakeClock:
    """Monotonic and wall time alike, starting at ``start``; every sleep is recorded."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    @property
    def slept(self) -> float:
        return sum(self.sleeps)

    def monotonic(self) -> float:
        return self.t

    def time(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
