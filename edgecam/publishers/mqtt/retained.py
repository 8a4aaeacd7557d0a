"""The retained state: the latest payload of every retained topic, and what is still to be sent.

Changes made while connected are queued in order; on every (re)connect the whole state is queued
again (:meth:`RetainedState.resync`), so what the broker retains is true after any outage or start,
whatever was lost with the old connection.  Thread-safe.
"""

from __future__ import annotations

import threading


class RetainedState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, bytes] = {}
        self._outbox: list[tuple[str, bytes]] = []

    def set(self, topic: str, payload: bytes, connected: bool) -> None:
        """Record ``payload`` as ``topic``'s state; queue it when connected (else the next resync sends it)."""
        with self._lock:
            self._latest[topic] = payload
            if connected:
                self._outbox.append((topic, payload))

    def get(self, topic: str) -> bytes | None:
        with self._lock:
            return self._latest.get(topic)

    def resync(self) -> None:
        """Queue every topic's latest payload (changes already queued keep their place and order)."""
        with self._lock:
            queued = {t for t, _ in self._outbox}
            self._outbox = [(t, p) for t, p in self._latest.items() if t not in queued] + self._outbox

    def take(self) -> list[tuple[str, bytes]]:
        """Everything queued, oldest first; the queue is emptied."""
        with self._lock:
            items, self._outbox = self._outbox, []
        return items

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._outbox)
