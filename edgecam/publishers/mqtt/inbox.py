"""The MQTT publisher's hand-off: what other threads leave for its worker, under one lock.

The inference thread (:meth:`Inbox.put`) and the stats thread (:meth:`Inbox.put_stats`) only append
to memory and return; paho's callbacks only raise flags.  The worker waits here for work
(:meth:`Inbox.take`), then takes everything at once, and takes the connection's flags
(:meth:`Inbox.take_flags`) only while the connection they belong to is current.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from edgecam.domain import Event, FrameUpdate, TrackView
from edgecam.publishers.mqtt.counts import stationary_counts
from edgecam.publishers.mqtt.messages import FeedGate

# one change of the counts: per label, per (zone, label), stationary per label
CountUpdate = tuple[dict[str, int], dict[tuple[str, str], int], dict[str, int]]


@dataclass(frozen=True)
class Batch:
    """Everything the worker took in one round."""

    events: list[Event]
    frames: list[FrameUpdate]
    count_updates: list[CountUpdate]
    sighting: tuple[float, tuple[TrackView, ...]] | None  # the latest frame with tracks or events
    stats_keys: frozenset[str] | None  # the stats' keys, when stats were published since
    readings: frozenset[str]  # the stats' keys that had a value
    snapshot: FrameUpdate | None  # the frame to render, when a snapshot is due
    closing: bool


class Inbox:
    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size  # feed frames held for the worker; more are dropped
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.dropped = 0  # feed frames dropped: the queue was full or the link was down
        self.closing = False
        self.close_deadline = 0.0
        self.next_snapshot = 0.0  # monotonic time before which no snapshot is rendered (worker-side)
        self._events: list[Event] = []
        self._frames: deque[FrameUpdate] = deque()
        self._counts: dict[str, int] = {}
        self._zone_counts: dict[tuple[str, str], int] = {}
        self._stationary: dict[str, int] = {}
        self._count_updates: list[CountUpdate] = []
        self._sighting: tuple[float, tuple[TrackView, ...]] | None = None
        self._snapshot_src: FrameUpdate | None = None
        self._stats_keys: frozenset[str] | None = None
        self._stats_readings: frozenset[str] = frozenset()
        self._gate = FeedGate()
        self._best_top: dict[str, float] = {}  # top score per live track at its last snapshot
        # the connection's flags
        self._resync = False
        self._announce = False
        self._birth = False  # Home Assistant (re)started: removals it missed are sent again

    # ------------------------------------------------------------------ other threads
    def put(self, update: FrameUpdate) -> None:
        """One frame's results (inference thread); ignored once closing."""
        with self.lock:
            if self.closing:
                return
            if update.events:
                self._events.extend(update.events)
            stationary = stationary_counts(update.tracks)
            if update.counts != self._counts or update.zone_counts != self._zone_counts or stationary != self._stationary:
                self._counts = dict(update.counts)
                self._zone_counts = dict(update.zone_counts)
                self._stationary = stationary
                self._count_updates.append((self._counts, self._zone_counts, stationary))
            if update.tracks or update.events:
                self._sighting = (update.frame.timestamp, update.tracks)
            if self._snapshot_worthy(update):
                self._snapshot_src = update
            if self._gate.wants(update):
                if len(self._frames) < self.queue_size:
                    self._frames.append(update)
                    self._gate.admit(update)
                else:
                    self.dropped += 1
            self.wake.notify()

    def put_stats(self, stats: Mapping[str, Any]) -> None:
        with self.lock:
            self._stats_keys = frozenset(stats)
            self._stats_readings = frozenset(k for k, v in stats.items() if v is not None)

    def _snapshot_worthy(self, update: FrameUpdate) -> bool:
        """A new object, or a better top score for one (under the lock)."""
        worthy = False
        for e in update.events:
            if e.type == "end":
                self._best_top.pop(e.id, None)
            elif e.top_score > self._best_top.get(e.id, -1.0):
                self._best_top[e.id] = e.top_score
                worthy = True
        return worthy and bool(update.tracks)

    def poke(self) -> None:
        with self.lock:
            self.wake.notify()

    def connected(self) -> None:
        """A new connection: resend all retained state and discovery."""
        with self.lock:
            self._resync = True
            self._announce = True

    def reannounce(self, birth: bool = False, wake: bool = False) -> None:
        """Send discovery again (``birth``: Home Assistant restarted, so also the removals it missed)."""
        with self.lock:
            self._announce = True
            self._birth = self._birth or birth
            if wake:
                self.wake.notify()

    def close(self, deadline: float) -> None:
        with self.lock:
            self.closing = True
            self.close_deadline = deadline
            self.wake.notify()

    # ------------------------------------------------------------------ the worker
    def _waiting(self) -> bool:
        return bool(self._events or self._frames or self._count_updates or self._stats_keys is not None
                    or (self._snapshot_src is not None and time.monotonic() >= self.next_snapshot))

    def take(self, other_work: Callable[[bool, bool], bool], busy: Callable[[], bool]) -> Batch:
        """Wait unless work is waiting (up to 1 s; 50 ms while ``busy()`` or closing; until the next
        snapshot is due), then take it all.  ``other_work(announce, resync)`` is the worker's own."""
        with self.lock:
            if not (self._waiting() or other_work(self._announce, self._resync)):
                timeout = 1.0
                if busy() or self.closing:
                    timeout = 0.05
                elif self._snapshot_src is not None:
                    timeout = max(0.01, min(timeout, self.next_snapshot - time.monotonic()))
                self.wake.wait(timeout)
            events, self._events = self._events, []
            frames = list(self._frames)
            self._frames.clear()
            count_updates, self._count_updates = self._count_updates, []
            sighting, self._sighting = self._sighting, None
            stats_keys, self._stats_keys = self._stats_keys, None
            snapshot = None
            if self._snapshot_src is not None and time.monotonic() >= self.next_snapshot:
                snapshot, self._snapshot_src = self._snapshot_src, None
            return Batch(events, frames, count_updates, sighting, stats_keys, self._stats_readings, snapshot,
                         self.closing)

    def take_flags(self, current: Callable[[], bool]) -> tuple[bool, bool, bool] | None:
        """(announce, birth, resync), taken only if ``current()`` (the connection they were raised for
        is still the link's): else None, and they wait for the next round."""
        with self.lock:
            if not current():
                return None
            announce, self._announce = self._announce, False
            birth, self._birth = self._birth and announce, False
            resync, self._resync = self._resync, False
            return announce, birth, resync

    def drop(self) -> None:
        with self.lock:
            self.dropped += 1

    def drained(self) -> bool:
        """No event or feed frame is waiting for the worker."""
        with self.lock:
            return not (self._events or self._frames)
