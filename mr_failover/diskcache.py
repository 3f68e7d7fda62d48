"""Derived data kept on disk between runs, in a folder only this user may write.

Two things are cached, each worth tens of milliseconds of a ``status`` run
(docs/PERFORMANCE.md): botocore's parsed service models (:mod:`mr_failover.aws`, with
:mod:`marshal`) and validated topology files (:mod:`mr_failover.topology`, with
:mod:`pickle`). Both formats must only be read back from data this user wrote, so the
folder is used only when it is this user's and no one else may write in it (the state
folder's rule, :func:`statedir.check_private`), and an entry is read only when it is a
regular file, not a link, owned by this user. A folder that cannot be created or trusted
turns the cache off for the run; ``MR_FAILOVER_CACHE_DIR=off`` turns it off altogether.

Nothing in it decides anything: an entry's name is a hash of everything its content
depends on, so a changed input is a new entry, and deleting the folder only makes the
next run slower. The folder is not pruned (an upgraded botocore leaves about 12 MB of
old model entries behind).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

from mr_failover import statedir
from mr_failover.errors import MrFailoverError


class DiskCache:
    """Entries ``<folder>/<hash of key><suffix>``, written whole or not at all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._usable: bool | None = None

    def _ready(self) -> bool:
        if self._usable is None:
            try:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                statedir.check_private(self.folder)
                self._usable = True
            except (OSError, MrFailoverError):
                self._usable = False
        return self._usable

    def path(self, key: str, suffix: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}{suffix}"

    def read(self, key: str, suffix: str) -> bytes | None:
        """The entry's bytes; None when there is none, or it cannot be trusted or read."""
        if not self._ready():
            return None
        try:
            with os.fdopen(statedir.open_regular(self.path(key, suffix), follow=False), "rb") as fp:
                if os.fstat(fp.fileno()).st_uid == statedir.my_uid():
                    return fp.read()
        except OSError:
            pass
        return None

    def write(self, key: str, suffix: str, data: bytes) -> None:
        """Store ``data`` (0600, renamed into place: whoever writes last wins, whole)."""
        if not self._ready():
            return
        path = self.path(key, suffix)
        part = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fp:
                fp.write(data)
            os.replace(part, path)
        except OSError:
            with contextlib.suppress(OSError):
                part.unlink()


def default() -> DiskCache | None:
    """A cache in :func:`statedir.cache_dir` (None when turned off)."""
    folder = statedir.cache_dir()
    return None if folder is None else DiskCache(folder)
