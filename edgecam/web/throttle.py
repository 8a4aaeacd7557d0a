"""Failed logins: logged (rate-limited, with the address) and throttled per address.

A client address with ``burst`` failed logins within ``window_s`` is answered 429 with ``Retry-After``
for ``block_s`` — also with the right password, so guessing cannot go on during the block.  A
request without credentials (a browser's first request, before it shows the password prompt) is not
a failed login.  Memory is bounded: at most ``max_addresses`` addresses are remembered (the
quietest are forgotten first).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from typing import Callable

from edgecam.warnlimit import RateLimitedWarnings

log = logging.getLogger(__name__)

BURST = 10
WINDOW_S = 60.0
BLOCK_S = 60.0


class LoginThrottle:
    def __init__(self, burst: int = BURST, window_s: float = WINDOW_S, block_s: float = BLOCK_S,
                 clock: Callable[[], float] = time.monotonic, max_addresses: int = 4096) -> None:
        self.burst, self.window_s, self.block_s = burst, window_s, block_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}  # address → blocked until
        self._warnings = RateLimitedWarnings(window_s, clock)
        self.failed = 0  # failed logins since start
        self.refused = 0  # requests answered 429

    def retry_after(self, address: str) -> int | None:
        """Seconds the address must wait (the request gets 429), or None when it may try to log in."""
        now = self._clock()
        with self._lock:
            until = self._blocked.get(address)
            if until is None:
                return None
            if now >= until:
                del self._blocked[address]
                return None
            self.refused += 1
            return max(1, math.ceil(until - now))

    def failure(self, address: str, user: str) -> None:
        """Count one failed login from ``address`` (logged, rate-limited per address)."""
        now = self._clock()
        with self._lock:
            self.failed += 1
            if address not in self._failures and len(self._failures) >= self.max_addresses:
                self._forget(now)
            times = self._failures.setdefault(address, deque(maxlen=self.burst))
            times.append(now)
            blocked = len(times) >= self.burst and now - times[0] <= self.window_s
            if blocked:
                self._blocked[address] = now + self.block_s
                times.clear()
        if blocked:
            log.warning("live view: %d failed logins from %s within %.0f s; refusing it for %.0f s (429)",
                        self.burst, address, self.window_s, self.block_s)
        else:
            self._warnings.warn(address, log, "live view: failed login from %s (user %r)", address, user[:64])

    def _forget(self, now: float) -> None:
        self._failures = {a: t for a, t in self._failures.items() if t and now - t[-1] <= self.window_s}
        if len(self._failures) >= self.max_addresses:
            self._failures.clear()
        self._blocked = {a: u for a, u in self._blocked.items() if u > now}
