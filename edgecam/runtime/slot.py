"""The one-frame mailbox between the capture thread and the inference thread (only the newest frame)."""

from __future__ import annotations

import threading

from edgecam.domain import Frame


class LatestFrameSlot:
    """A one-frame mailbox between the capture thread and the inference thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0  # frames replaced before anyone took them
        self.taken = 0

    def put(self, frame: Frame) -> bool:
        """Store ``frame``; True if it replaced an unconsumed one (counted in ``dropped``)."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._frame is not None
            if replaced:
                self.dropped += 1
            self._frame = frame
            self._cond.notify()
            return replaced

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame, waiting up to ``timeout`` s; None on timeout or when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            if frame is not None:
                self.taken += 1
                self._cond.notify_all()  # a file source may be waiting for the slot to empty
            return frame

    def wait_empty(self, timeout: float) -> bool:
        """Wait until the pending frame was taken (back-pressure for file sources); True if empty."""
        with self._cond:
            return self._cond.wait_for(lambda: self._frame is None or self._closed, timeout)

    def close(self) -> None:
        """No more frames: wake waiting consumers. A pending frame can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
