"""What the live view shows: the latest frame (a reference, set in O(1) by the pipeline), recent events,
and a JPEG encoder thread that works only while someone watches.

The pipeline's ``offer()`` only swaps a reference under a lock and never waits for a client.  The
encoder thread renders the newest frame at most ``max_fps`` times a second, and only while a stream
is open or a snapshot is asked for; each viewer then takes the newest JPEG (a slow viewer skips
frames; it never holds up the encoder or the pipeline).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from typing import Callable, Iterator

from edgecam.domain import FrameUpdate

log = logging.getLogger(__name__)


def lower_thread_priority(niceness: int = 10) -> None:
    """Make the calling thread yield the CPU to the pipeline (Linux: nice is per thread, inherited by
    the threads it starts).  The live view then takes only what the detector leaves idle."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):  # not Linux / not permitted: run at normal priority
        pass


class LiveFeed:
    def __init__(self, render: Callable[[FrameUpdate], bytes], max_fps: float, events_kept: int = 50,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._render = render
        self._interval = 1.0 / max_fps
        self._clock = clock
        self._cond = threading.Condition()
        self._latest: FrameUpdate | None = None
        self._latest_seq = 0  # frames offered
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0  # the offered frame the JPEG shows
        self._encoded = 0  # JPEGs made (stream clients wait for this to grow)
        self._last_encode = -1e18
        self._viewers = 0
        self._snapshot_seq = 0  # a snapshot asked for a JPEG of at least this frame
        self._closed = False
        self._events: deque[dict] = deque(maxlen=events_kept)
        self._thread: threading.Thread | None = None
        self.encode_errors = 0

    # -- the pipeline's side (never blocks) ------------------------------------------------------
    def offer(self, update: FrameUpdate) -> None:
        wake = False
        with self._cond:
            if update.events:  # "at": when this message happened (its frame), not when its track started
                at = update.frame.timestamp if update.frame.index >= 0 else time.time()
                self._events.extend({"at": at, **e.to_payload()} for e in update.events)
            if update.frame.index >= 0:  # not the shutdown placeholder
                self._latest = update
                self._latest_seq += 1
                wake = self._viewers > 0
            if wake:
                self._cond.notify_all()

    def events(self) -> list[dict]:
        with self._cond:
            return list(self._events)

    def latest(self) -> FrameUpdate | None:
        with self._cond:
            return self._latest

    @property
    def viewers(self) -> int:
        return self._viewers

    @property
    def encoded(self) -> int:
        """JPEGs made so far (0 while nobody ever watched)."""
        return self._encoded

    # -- the viewers' side --------------------------------------------------------------------------
    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        with self._cond:
            self._viewers += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._viewers -= 1

    def next_jpeg(self, after: int, timeout: float) -> tuple[int, bytes] | None:
        """``(n, jpeg)`` once a JPEG newer than number ``after`` exists; None after ``timeout`` or close."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or (self._encoded > after and self._jpeg), timeout):
                return None
            if self._closed:
                return None
            return self._encoded, self._jpeg  # type: ignore[return-value]

    def snapshot(self, timeout: float) -> bytes | None:
        """A JPEG of the newest frame (cached if it shows it already); None if there is no frame yet."""
        with self._cond:
            if self._latest is None:
                return None
            if self._jpeg is not None and self._jpeg_seq == self._latest_seq:
                return self._jpeg
            wanted = self._latest_seq
            self._snapshot_seq = max(self._snapshot_seq, wanted)  # one-shot demand, met by one encode
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._closed or self._jpeg_seq >= wanted, timeout)
            return self._jpeg

    # -- the encoder thread ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._encode_loop, name="edgecam-web-encoder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)

    def _wanted(self) -> bool:
        return (self._viewers > 0 and self._latest_seq > self._jpeg_seq) or self._snapshot_seq > self._jpeg_seq

    def _encode_loop(self) -> None:
        lower_thread_priority()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._wanted())
                if self._closed:
                    return
                delay = self._last_encode + self._interval - self._clock()
                if delay > 0:  # the rate bound: wait, then look again (newer frame, viewers gone, closed)
                    self._cond.wait(delay)
                    continue
                update, seq = self._latest, self._latest_seq
                self._last_encode = self._clock()
            try:
                jpeg = self._render(update)  # type: ignore[arg-type]
            except Exception:  # a frame that cannot be drawn must not end the live view
                self.encode_errors += 1
                if self.encode_errors == 1:
                    log.exception("live view: cannot render frame %d", update.frame.index)  # type: ignore[union-attr]
                with self._cond:
                    self._jpeg_seq = seq  # do not retry the same frame
                    self._cond.notify_all()
                continue
            with self._cond:
                self._jpeg, self._jpeg_seq = jpeg, seq
                self._encoded += 1
                self._cond.notify_all()
