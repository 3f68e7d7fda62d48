"""Shared fixtures for tests/unit."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest


class BlackHoleUrl(str):
    """The black hole's URL; ``connections`` counts what it accepted (an attempt each)."""

    held: list[socket.socket]

    @property
    def connections(self) -> int:
        return len(self.held)


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = BlackHoleUrl(f"http://127.0.0.1:{server.getsockname()[1]}")
    url.held = held
    yield url
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
