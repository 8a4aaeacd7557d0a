"""Rate-limited warnings: one line per distinct problem, then at most one every ``every_s`` with a count.

A problem that repeats every frame (a full disk, a directory where a record belongs, a password
guesser) must not flood the journal: the first occurrence is logged at once, repeats are counted and
summarised in the next line logged for the same key.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

WARN_EVERY_S = 60.0


class RateLimitedWarnings:
    """One warning per distinct problem key, repeated at most every ``every_s`` with a count."""

    def __init__(self, every_s: float = WARN_EVERY_S, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 1024) -> None:
        self.every_s = every_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[Any, float] = {}
        self._unlogged: dict[Any, int] = {}
        self.total = 0

    def warn(self, key: Any, logger: logging.Logger, message: str, *args: Any) -> bool:
        """Count one occurrence of ``key``; log ``message`` if it is new or ``every_s`` passed. True if logged."""
        now = self._clock()
        with self._lock:
            self.total += 1
            last = self._last.get(key)
            if last is not None and now - last < self.every_s:
                self._unlogged[key] = self._unlogged.get(key, 0) + 1
                return False
            if last is None and len(self._last) >= self.max_keys:  # many distinct keys (addresses): forget quiet ones
                self._last = {k: t for k, t in self._last.items() if now - t < self.every_s}
                self._unlogged = {k: n for k, n in self._unlogged.items() if k in self._last}
            self._last[key] = now
            repeats = self._unlogged.pop(key, 0)
        more = f" ({repeats} more time(s) since the last such warning)" if repeats else ""
        logger.warning(message + more, *args)
        return True
