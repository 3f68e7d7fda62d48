"""The state directory and the files the tool opens: private, owned, regular.

The state directory (the user's platformdirs state directory, or ``MR_FAILOVER_STATE_DIR``)
holds the run journals (``runs/``), drill reports and the ARC endpoint cache (``arc/``).
What is in it decides what a resume skips and what an undrain scales back, so it is
treated like ``~/.ssh``: every folder is created 0700, and a folder that another user owns
or that the group or others may write to is refused, naming the folder and the fix
(OpenSSH's StrictModes refuses the same way). Files are created 0600 by their writers.

:func:`open_regular` opens a file only if it is a regular file, without blocking: a FIFO
given as ``--config``, as a scenario file or planted among the journals would otherwise
hang the reader forever.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import platformdirs

from mr_failover.errors import RefusedError

ENV_STATE_DIR = "MR_FAILOVER_STATE_DIR"
ENV_CACHE_DIR = "MR_FAILOVER_CACHE_DIR"
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class UnsafeStateError(RefusedError):
    """The state directory (or a file in it) cannot be trusted or written (exit 3)."""


def my_uid() -> int:
    """The uid whose folders and journals are trusted (tests stand in another user)."""
    return os.getuid()


def state_dir() -> Path:
    """Where runs, reports and caches are kept (not created here)."""
    override = os.environ.get(ENV_STATE_DIR)
    return Path(override) if override else Path(platformdirs.user_state_dir("mr-failover"))


def cache_dir() -> Path | None:
    """Where derived data is cached (botocore's parsed models: :mod:`mr_failover.aws`):
    the user's cache directory, or ``MR_FAILOVER_CACHE_DIR``; None when that is ``off``.
    Nothing in it decides anything: deleting it only makes the next run slower."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override == "off":
        return None
    return Path(override) if override else Path(platformdirs.user_cache_dir("mr-failover"))


def private_dir(*parts: str) -> Path:
    """``<state dir>/<parts>``, created 0700 level by level, each level checked.

    Raises UnsafeStateError when a level is not a directory, is owned by another user,
    or may be written by the group or others.
    """
    path = state_dir()
    _ensure(path)
    for part in parts:
        path = path / part
        _ensure(path)
    return path


def _ensure(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeStateError(
            f"cannot create the state folder {path}: {exc.strerror or exc} (set "
            f"{ENV_STATE_DIR} to a folder of yours, or fix the parent's permissions)"
        ) from None
    check_private(path)


def check_private(path: Path) -> None:
    """Refuse ``path`` unless it is a directory owned by this user, writable by no one else."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UnsafeStateError(
            f"cannot use the state folder {path}: {exc.strerror or exc}"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeStateError(f"the state folder {path} is not a folder")
    if info.st_uid != my_uid():
        raise UnsafeStateError(
            f"refusing the state folder {path}: it belongs to uid {info.st_uid}, not to you "
            f"(uid {my_uid()}); use a folder of yours ({ENV_STATE_DIR}) or "
            f"`chown -R {my_uid()} {path}`"
        )
    if info.st_mode & 0o022:
        raise UnsafeStateError(
            f"refusing the state folder {path}: other users may write in it (mode "
            f"{stat.S_IMODE(info.st_mode):03o}), so its journals cannot be trusted; fix: "
            f"`chmod 700 {path}`"
        )


def check_writable(path: Path) -> None:
    """Raise UnsafeStateError unless a file can be created in ``path`` (tried for real)."""
    probe = path / f".write-test.{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UnsafeStateError(
            f"cannot write in the state folder {path}: {exc.strerror or exc}; the run could "
            f"not be journaled, so nothing was started (fix: `chmod 700 {path}`, or set "
            f"{ENV_STATE_DIR})"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()


def kind(mode: int) -> str:
    """``a FIFO (named pipe)``, ``a directory``, ... for a file that is not regular."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: Path, *, follow: bool = True) -> int:
    """A read-only descriptor of ``path`` if it is a regular file.

    Opened with O_NONBLOCK (opening a FIFO for reading blocks until a writer comes; a
    non-blocking open returns at once) and checked with fstat on the descriptor itself,
    so what is checked is what is read. Raises OSError as os.open does, and
    ``IsADirectoryError`` / ``OSError(ENXIO-like)`` with :func:`kind`'s text otherwise.
    ``follow=False`` refuses a symbolic link.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(kind(info.st_mode))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class NotRegularFileError(OSError):
    """The path is a FIFO, a device, a socket or a directory: its ``kind`` says which."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.kind = what


def create_private(path: Path) -> int:
    """A write descriptor on ``path``, truncated, mode 0600: a regular file only.

    Opened without following a symbolic link and without blocking (a FIFO planted at
    ``path`` would otherwise block until a reader comes), then checked on the
    descriptor. Raises UnsafeStateError naming the file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        why = exc.strerror or str(exc)
        with contextlib.suppress(OSError):
            mode = os.lstat(path).st_mode
            if not stat.S_ISREG(mode):
                what = "a symbolic link" if stat.S_ISLNK(mode) else kind(mode)
                why = f"it is {what}, not a regular file"
        raise UnsafeStateError(f"cannot write {path}: {why}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeStateError(f"cannot write {path}: it is {kind(info.st_mode)}")
        os.ftruncate(fd, 0)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
