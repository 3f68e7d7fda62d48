"""Checkpoints of a sandbox: moto's state and the simulations', restored in milliseconds.

Seeding the example topology takes about a second (a hundred-odd AWS calls, waits for
replicas and tasks); copying what it built takes ~20 ms. Tests that need a freshly seeded
sandbox take a :func:`checkpoint` after seeding once, then :func:`restore` it before each
test instead of reseeding: every moto backend, the call log, health check assignments and
the simulations' state (``Sandbox.state``, with the ARC endpoints' modes: their listeners
follow) come back exactly as they were. Faults and
settings are left alone (``reset()`` first for defaults, as a reseed would). The sandbox
clock's advances since the checkpoint are taken back (its offset from real time is the
checkpoint's; real time still passed): the restored state then stands where it stood
against real time, as after a fresh seeding. Without it, a metric datapoint or a lease
of the restored state could lie hours away from "now" for a caller reading real time,
after a test that advanced the clock an hour.

This reaches into moto's ``BackendDict`` registry, so it is tied to the pinned moto
version like the rest of the sandbox. A checkpoint belongs to the sandbox (and process)
that took it: moto's state is process-wide.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState


@dataclass(frozen=True)
class Checkpoint:
    """A deep copy of what a sandbox holds; only :func:`restore` reads it."""

    sandbox_id: int
    # (BackendDict, {account_id: AccountSpecificBackend}, its attributes) for each backend
    # in use, and the sandbox's _State, copied together so that references between them
    # stay consistent.
    saved: tuple[list[tuple[Any, dict[str, Any], dict[str, Any]]], Any]
    # How far the sandbox clock had been advanced (SandboxClock.offset).
    clock_offset: float = 0.0


def _copy_defaultdict(self: defaultdict[Any, Any], memo: dict[int, Any]) -> Any:
    """deepcopy for defaultdict subclasses whose __init__ takes other arguments."""
    new = type(self).__new__(type(self))
    memo[id(self)] = new
    defaultdict.__init__(new, self.default_factory)
    new.__dict__.update(copy.deepcopy(self.__dict__, memo))
    for key, value in self.items():
        new[copy.deepcopy(key, memo)] = copy.deepcopy(value, memo)
    return new


def _install_copiers() -> None:
    # SSM's per-region parameter store: copy.deepcopy would call ParameterDict(list).
    from moto.ssm.models import ParameterDict

    ParameterDict.__deepcopy__ = _copy_defaultdict  # type: ignore[attr-defined]


def _untrack(copies: set[int]) -> None:
    """Drop the objects with these ids from moto's per-class lists of model instances.

    ``BaseModel.__new__`` records every instance, copies included, and a backend's
    reset() disposes of what is recorded (S3 closes every key's buffer): a checkpoint's
    copies must not be, or the first reset after it empties the checkpoint's objects.
    """
    from moto.core.common_models import BaseModel

    pending: list[type] = [BaseModel]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        tracked = cls.__dict__.get("instances_tracked")
        if tracked:
            tracked[:] = [obj for obj in tracked if id(obj) not in copies]


def checkpoint(sandbox: SandboxState) -> Checkpoint:
    """Copy moto's state and the sandbox's simulation state, as they are now."""
    from moto.core.base_backend import BackendDict, backend_lock

    _install_copiers()
    with sandbox.lock, backend_lock:
        live = list(BackendDict._instances)  # type: ignore[misc]
        # The BackendDicts themselves stay the live ones (moto's modules hold them), but
        # their own attributes are state too (S3's bucket name -> account index).
        memo: dict[int, Any] = {id(bd): bd for bd in live}
        entries = [(bd, dict(bd), dict(vars(bd))) for bd in live]
        saved = copy.deepcopy((entries, sandbox._state), memo)
        keep_alive = memo.pop(id(memo), None)
        _untrack({id(obj) for obj in memo.values()})
        del keep_alive
        offset = sandbox.clock.offset
    return Checkpoint(id(sandbox), saved, offset)


def restore(sandbox: SandboxState, saved: Checkpoint) -> None:
    """Replace moto's state and the simulations' by a fresh copy of ``saved``."""
    from moto.core.base_backend import BackendDict, backend_lock
    from moto.moto_api._internal.models import moto_api_backend

    if saved.sandbox_id != id(sandbox):
        raise ValueError("a checkpoint can only be restored into the sandbox that took it")
    with sandbox.lock, backend_lock:
        moto_api_backend.reset()  # every backend in use emptied, as Sandbox.reset() does
        entries, state = saved.saved
        memo: dict[int, Any] = {id(bd): bd for bd, _, _ in entries}
        # The copies are live from now on: moto tracks them, and its next reset disposes
        # of them as of anything it created.
        entries, state = copy.deepcopy((entries, state), memo)
        for bd, accounts, attributes in entries:
            vars(bd).update(attributes)
            dict.update(bd, accounts)
        BackendDict._instances[:] = [bd for bd, _, _ in entries]  # type: ignore[misc]
        sandbox._state = state
        sandbox.restore_clock(saved.clock_offset)
        sandbox.state_replaced()  # e.g. ARC endpoint listeners follow the restored modes
