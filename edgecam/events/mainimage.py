"""Snapshots at the best resolution the source offers: a hand-off between the inference thread, which knows
when an event's object scored its best, and a source whose detection frame is smaller than what the camera
sees (picamera2: detection on the lores stream, the main stream is larger).

The recorder calls :meth:`want` when an event has a new best frame; the source (capture thread) asks
:meth:`wanted` per capture, copies the main-stream image of the *next* capture only when it is wanted, and
hands it over with :meth:`deliver`; the recorder collects it with :meth:`take` at its next frame.  The main
image is therefore one to a few frames (the detection latency) later than the best lores frame; at most one
copy per ``min_interval_s``.  Sources without a larger stream never see this object.
"""

from __future__ import annotations

import threading
import time

from edgecam.domain import Frame

MIN_INTERVAL_S = 0.2


class MainImageRequests:
    def __init__(self, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.min_interval_s = float(min_interval_s)
        self._lock = threading.Lock()
        self._wanted = False
        self._image: Frame | None = None
        self._last = -1e18
        self.delivered = 0

    # -- the inference thread ---------------------------------------------------------------------------
    def want(self) -> None:
        self._wanted = True

    def take(self) -> Frame | None:
        """The main-stream image delivered since the last call (captured after the last :meth:`want`), or None."""
        with self._lock:
            image, self._image = self._image, None
        return image

    # -- the source (capture thread) -----------------------------------------------------------------------
    def wanted(self) -> bool:
        return self._wanted and time.monotonic() - self._last >= self.min_interval_s

    def deliver(self, frame: Frame) -> None:
        with self._lock:
            self._wanted = False
            self._image = frame
            self._last = time.monotonic()
            self.delivered += 1
