"""Defaults written twice on purpose (so loading a command stays light) must agree."""

from __future__ import annotations

from mr_failover import commands, status


def test_the_deadline_option_default_is_the_status_engine_default() -> None:
    assert commands.DEFAULT_DEADLINE == status.DEFAULT_DEADLINE
