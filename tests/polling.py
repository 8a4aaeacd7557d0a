"""Waiting for a positive signal in tests (instead of sleeping, then asserting)."""

from __future__ import annotations

import time

WAIT = 10.0  # a generous deadline for things that take well under a second


def wait_until(predicate, timeout: float = WAIT) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def read_frame(source, timeout: float = WAIT):
    """The next frame of an opened source (anything with ``read(timeout)``); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = source.read(0.5)
        if frame is not None:
            return frame
    raise AssertionError("no frame")
