"""The per-camera state directory and its exclusive lock.

Each camera keeps its state (event spool, discovery record, open-track journal, stored controls) in
``<[output] state_dir>/<camera slug>/``, where the slug is the camera id as Home Assistant ids use it
(``Front-Door`` → ``front_door``).  Cameras whose ids differ only in that normalisation would also share
one Home Assistant device, so they share the directory and the lock keeps the second one out.

The daemon holds ``fcntl.flock`` on ``<dir>/lock`` for its whole life (the kernel drops it when the
process dies, however it dies); the file holds the holder's pid.  A second daemon on the same
directory stops at start with one line naming that pid (exit 2).  The lock is opened with
``O_NOFOLLOW``: a symbolic link planted as ``lock`` is refused with one line, never written through.

State left by a version that kept one camera's files directly in ``state_dir`` is moved into the
camera's directory at the first start.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
from pathlib import Path
from typing import Iterator

from edgecam.errors import EdgecamError, UsageError
from edgecam.names import slug
from edgecam.records import read_nofollow

log = logging.getLogger(__name__)

LOCK_NAME = "lock"
_LEGACY_FILES = ("spool.sqlite3", "spool.sqlite3-wal", "spool.sqlite3-shm", "discovery.json")


class StateDirInUse(UsageError):
    """Another daemon holds the camera's state directory (exit 2)."""


class StateDirUnusable(EdgecamError):
    """The state directory cannot be created or locked (exit 1)."""


def camera_state_dir(base: Path, camera_id: str) -> Path:
    """``<base>/<slug(camera id)>``: where one camera's state lives."""
    return Path(base).expanduser() / slug(camera_id)


def _holder(path: Path) -> str:
    try:
        text = read_nofollow(path, 64).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def claim_state_dir(base: Path, camera_id: str) -> Iterator[Path]:
    """Create and lock the camera's state directory for the life of the ``with`` block; yields it."""
    directory = camera_state_dir(base, camera_id)
    lock_path = directory / LOCK_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateDirUnusable(
                f"{lock_path} is a symbolic link; edgecam never writes through one: remove it (the daemon "
                "creates its own lock file)"
            ) from None
        raise StateDirUnusable(
            f"cannot use the state directory {directory} ({exc.strerror or exc}); make [output] state_dir a "
            "writable directory"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateDirUnusable(f"{lock_path} is not a regular file; remove it (the daemon creates its own lock file)")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StateDirUnusable(f"cannot lock {lock_path} ({exc.strerror}); use a local [output] state_dir") from None
            raise StateDirInUse(
                f"camera {camera_id!r}: state directory {directory} is in use by another edgecam (pid "
                f"{_holder(lock_path)}); give each daemon its own [camera] id or [output] state_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _adopt_legacy_state(Path(base).expanduser(), directory)
        yield directory
    finally:
        os.close(fd)  # releases the lock


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _adopt_legacy_state(base: Path, directory: Path) -> None:
    """Move a single camera's files from ``base`` (the old layout) into ``directory``, once."""
    moved = []
    for name in _LEGACY_FILES:
        old, new = base / name, directory / name
        if _regular(old) and not os.path.lexists(new):
            try:
                os.replace(old, new)
            except OSError as exc:
                log.warning("cannot move %s into %s (%s); starting without it", old, directory, exc)
                continue
            moved.append(name)
    if moved:
        log.info("moved %s from %s into the camera's state directory %s", ", ".join(moved), base, directory)
