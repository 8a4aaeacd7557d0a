"""Reading files a user names (config, secrets, models, images, CA files) without hanging or crashing.

Every such path must be a regular file: a FIFO or ``/dev/zero`` would block or never end, a directory
or a symlink loop would raise an ``OSError`` whose text names neither the setting nor the fix. Each
check here runs before any blocking ``open`` and every read is bounded in size.
"""

from __future__ import annotations

import errno
import os
import stat

MiB = 1024 * 1024


class FileProblem(ValueError):
    """A user-named path is unusable; the message names the path, the problem and the fix."""


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular_file(path: str | os.PathLike, what: str) -> os.stat_result:
    """``os.stat`` of ``path`` if it is an existing regular file, else :class:`FileProblem`.

    ``what`` names the setting in the message (``"config file"``, ``"[mqtt] password_file"``).
    """
    text = os.fspath(path)
    if "\x00" in str(text):
        raise FileProblem(f"{what} {text!r}: the path contains a NUL byte; fix the path")
    try:
        st = os.stat(text)
    except FileNotFoundError:
        raise FileProblem(f"{what} {text}: no such file; check the path") from None
    except PermissionError:
        raise FileProblem(f"{what} {text}: permission denied; make it readable by this user") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileProblem(f"{what} {text}: symbolic link loop; point it at a real file") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise FileProblem(f"{what}: the path is too long ({len(str(text))} characters); shorten it") from None
        reason = exc.strerror or exc.__class__.__name__
        raise FileProblem(f"{what} {text}: {reason}; fix the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(f"{what} {text}: is {_describe(st.st_mode)}, not a regular file; give a file path")
    return st


def read_regular_file(path: str | os.PathLike, what: str, max_bytes: int = 16 * MiB) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; otherwise one-line :class:`FileProblem`.

    The file is opened with ``O_NONBLOCK`` and checked again on the open descriptor, so a path swapped for a
    FIFO between the check and the open cannot block either.
    """
    check_regular_file(path, what)
    text = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(text, flags)
    except PermissionError:
        raise FileProblem(f"{what} {text}: permission denied; make it readable by this user") from None
    except OSError as exc:
        raise FileProblem(f"{what} {text}: {exc.strerror or exc}; fix the path") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(f"{what} {text}: is {_describe(st.st_mode)}, not a regular file; give a file path")
        if st.st_size > max_bytes:
            raise FileProblem(
                f"{what} {text}: {st.st_size} bytes is larger than the {max_bytes} allowed; is it the right file?"
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 * MiB, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # a file that grows while we read it (or lies about its size, e.g. /proc)
                raise FileProblem(f"{what} {text}: more than {max_bytes} bytes; is it the right file?")
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(f"{what} {text}: cannot read: {exc.strerror or exc}; check the file") from None
    finally:
        os.close(fd)


def read_text_file(path: str | os.PathLike, what: str, max_bytes: int = 16 * MiB) -> str:
    """:func:`read_regular_file` decoded as UTF-8 (a leading BOM is dropped), else :class:`FileProblem`."""
    data = read_regular_file(path, what, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            f"{what} {os.fspath(path)}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
