"""Small JSON records in the state directory: written atomically, read back forgivingly.

A record that cannot be used — not JSON, nested too deep, numbers too large, the wrong shape, a
directory or a symbolic link where the file should be, a torn write, a hand edit — is moved aside to
``<name>.corrupt-<UTC time>`` with one warning and treated as absent, so the daemon starts; the bad
copy is kept for inspection.  Files are opened with ``O_NOFOLLOW``: a symbolic link planted in the
state directory is never followed (so a daemon run as root cannot be made to overwrite its target).

A write that fails (disk full, read-only, a directory in the way) is logged once per distinct
problem and then at most once a minute (``edgecam/warnlimit.py``) with the number of failures since; every failure is
counted (:func:`write_errors`, in the daemon's stats as ``state_write_errors``).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any

from edgecam.jsonlimits import JsonLimitError, loads_bounded
from edgecam.warnlimit import RateLimitedWarnings

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 16 * 1024 * 1024  # a journal of every possible open track is far smaller
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


_write_warnings = RateLimitedWarnings()


def write_errors() -> int:
    """State-record writes that failed since the process started."""
    return _write_warnings.total


def move_aside(path: Path, why: str, then: str = "starting without it") -> Path | None:
    """Rename ``path`` to ``<path>.corrupt-<time>`` (warning once); the new path, or None if that failed."""
    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    n = 1
    while os.path.lexists(target):
        target = target.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{n}")
        n += 1
    try:
        os.replace(path, target)
    except OSError as exc:
        log.warning("state record %s is unusable (%s) and cannot be moved aside (%s); ignoring it", path, why, exc)
        return None
    log.warning("state record %s is unusable (%s); moved it to %s, %s", path, why, target.name, then)
    return target


def read_nofollow(path: Path, limit: int = MAX_RECORD_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (never through a symbolic link); OSError otherwise.

    ``ELOOP`` for a link, ``EISDIR`` for a directory, ``EFBIG`` past ``limit`` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | _NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL, "not a regular file")
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)



def load_record(path: Path) -> dict[str, Any]:
    """The JSON object stored at ``path``; ``{}`` when missing, or when unusable (then moved aside)."""
    path = Path(path)
    try:
        raw = read_nofollow(path)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.EINVAL, errno.EFBIG, errno.ENXIO):
            what = {errno.ELOOP: "a symbolic link", errno.EISDIR: "a directory",
                    errno.EFBIG: "too large"}.get(exc.errno, "not a regular file")
            move_aside(path, what)
        else:
            log.warning("cannot read state record %s (%s); starting without it", path, exc.strerror or exc)
        return {}
    try:
        data = loads_bounded(raw)
    except JsonLimitError as exc:
        move_aside(path, str(exc))
        return {}
    if not isinstance(data, dict):
        move_aside(path, f"a JSON {type(data).__name__}, not an object")
        return {}
    return data


def save_record(path: Path, data: dict[str, Any], durable: bool = True) -> bool:
    """Replace ``path`` with ``data`` as JSON atomically (temp file + rename); False (counted, logged
    rate-limited) on failure.  ``durable`` fsyncs the file before the rename, so a power cut leaves the
    old or the new record.  The temp file is opened with ``O_NOFOLLOW`` and a link there is removed."""
    import json

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        text = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(tmp):
            os.unlink(tmp)  # a planted link: remove the link itself, never write through it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | _NOFOLLOW, 0o644)
        try:
            view = memoryview(text)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        key = (str(path), getattr(exc, "errno", None) or type(exc).__name__)
        _write_warnings.warn(key, log, "cannot write state record %s (%s); free space or fix %s",
                             path, reason, path.parent)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True
