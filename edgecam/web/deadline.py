"""A socket reader with a deadline: the whole request head must arrive within ``head_timeout_s``.

A socket timeout bounds one ``recv``; a client that sends one byte every few seconds (slowloris)
never trips it and holds its connection for as long as it likes.  :class:`DeadlineReader` sets each
``recv``'s timeout to the smaller of the idle timeout and the time left until the deadline, so the
head is bounded as a whole.  No thread, no timer: the bound lives in the reads themselves.
"""

from __future__ import annotations

import io
import socket
import time


class HeadTimeout(TimeoutError):
    """The request head did not arrive before its deadline."""


class DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, idle_s: float) -> None:
        self.sock = sock
        self.idle_s = idle_s
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - io's signature
        timeout = self.idle_s
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise HeadTimeout("the request head did not arrive in time")
            timeout = min(timeout, left)
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv_into(buffer)
        except TimeoutError:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise HeadTimeout("the request head did not arrive in time") from None
            raise
