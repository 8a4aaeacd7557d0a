"""The capture thread: source → one latest-frame slot, surviving failures and stalls.

A supervisor thread opens a fresh source (from ``source_factory``) in a reader thread per session.
The reader reads frames and puts each into a :class:`LatestFrameSlot`, which keeps only the newest
(replaced, unconsumed frames are counted as dropped). When the source raises, the supervisor waits
(the first retry at once, then ``reconnect_initial_s`` doubling up to ``reconnect_max_s``) and opens
a new one; when no frame arrives for the stall timeout
(a read that blocks forever included), the session is abandoned and a new one is opened once the
abandoned reader has returned (never more than one reader per camera: it may still hold the device) —
the process never restarts. A finite source's ``EOFError`` sets :attr:`CaptureThread.exhausted`.

Camera state: :attr:`CaptureThread.camera` is ``"online"`` from the first frame of a session and
``"offline"`` once a session fails or stalls (or the camera cannot be opened); every loss bumps
:attr:`CaptureThread.losses`, so a consumer that polls never misses a loss followed by a quick
reconnect.  Frames of a source stamping device capture times (``capture_timestamps = True``) taken before the
session's source finished opening predate the (re)connect — a stream's probe buffer — and are
dropped (``stale_frames``).  The supervisor calls
``heartbeat`` while it is in control (watching a session, waiting to retry), never while it waits on a
reader that does not return, so a watchdog sees a hung read or a dead thread, not a camera outage.

Live sources (cameras) are read as fast as they deliver and thinned to ``fps``; files are paced:
the reader waits until the next frame is due.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, Callable, Iterator

from edgecam.domain import Frame
from edgecam.errors import EdgecamError, UsageError
from edgecam.redact import redact_url
from edgecam.runtime.slot import LatestFrameSlot
from edgecam.sources.base import FrameSource
from edgecam.sources.settings import CameraSettings

log = logging.getLogger(__name__)

MIN_BACKOFF_S = 0.05
READ_POLL_S = 0.5


class CaptureThread:
    """Keeps a source open and feeds :attr:`slot` with its freshest frames."""

    def __init__(
        self,
        source_factory: Callable[[], FrameSource],
        settings: CameraSettings,
        clock: Callable[[], float] = time.monotonic,
        slot: LatestFrameSlot | None = None,
        heartbeat: Callable[[], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._factory = source_factory
        self._settings = settings
        self._clock = clock
        self._wall = wall_clock
        self.heartbeat = heartbeat
        self.slot = slot if slot is not None else LatestFrameSlot()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._exhausted = threading.Event()
        self._period = 1.0 / settings.fps
        self._gen = 0
        self._outcome: dict[int, tuple[str, BaseException | None]] = {}
        self._session_progress = 0.0
        self._session_frames = 0
        self._session_opened = False
        self._thread: threading.Thread | None = None
        self._readers: list[threading.Thread] = []
        self._emitted = 0
        self.captured = 0  # frames read from sources
        self.skipped = 0  # live frames thinned out to keep to fps (not stale, not dropped)
        self.reconnects = 0
        self.attempts = 0  # consecutive failed opens/sessions since the last frame
        self.stale = 0  # frames captured before their session's source had opened (probe buffers)
        self.losses = 0  # times the camera went offline
        self.camera: str | None = None  # "online" / "offline"; None until the first session decides
        self.source: FrameSource | None = None  # the current session's source
        self._packet_sink: Callable[..., None] | None = None
        self.last_progress = clock()  # monotonic time of the last frame (or of start())
        self.last_frame_time: float | None = None
        self.last_error: str | None = None
        self.error: BaseException | None = None  # a fatal (usage) error that stopped capture
        self.state = "idle"

    # -- public --------------------------------------------------------------------------------
    @property
    def exhausted(self) -> bool:
        """True once a finite source (images played once, a video file) has ended."""
        return self._exhausted.is_set()

    @property
    def done(self) -> bool:
        """No more frames will come: exhausted, failed fatally, or stopped."""
        return self.state in ("exhausted", "failed", "stopped")

    @property
    def stall_timeout_s(self) -> float:
        # a very low frame rate must not look like a stall
        return max(self._settings.stall_timeout_s, 2.5 * self._period)

    def set_packet_sink(self, sink: Callable[..., None] | None) -> None:
        """Hand ``sink`` to every source that has ``set_packet_sink`` (stream sources), now and on
        every reopen: ``sink(packet, stream, wall_time)`` per demuxed video packet."""
        self._packet_sink = sink
        source = self.source
        if source is not None and hasattr(source, "set_packet_sink"):
            source.set_packet_sink(sink)

    def set_fps(self, fps: float) -> None:
        """Change the capture rate at run time (e.g. thermal throttling)."""
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self._period = 1.0 / fps

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("CaptureThread.start() called twice")
        self.last_progress = self._clock()
        self.state = "starting"
        self._thread = threading.Thread(target=self._supervise, name="edgecam-capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop capturing, join the threads (up to ``timeout`` s in all) and close the source."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        for reader in list(self._readers):
            reader.join(max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                log.warning("camera %s: a source read did not return within %.1fs; abandoning it", self._settings.id, timeout)
        self.slot.close()
        if self.state not in ("exhausted", "failed"):
            self.state = "stopped"

    def get(self, timeout: float | None = None) -> Frame | None:
        """Shortcut for ``slot.get(timeout)``."""
        return self.slot.get(timeout)

    def frames(self, timeout: float = READ_POLL_S) -> Iterator[Frame]:
        """Yield frames as they come until capture is done (and the slot is empty)."""
        while True:
            frame = self.slot.get(timeout)
            if frame is not None:
                yield frame
            elif self.done or self.slot.closed:
                return

    def stats(self) -> dict[str, Any]:
        now = self._clock()
        out = {
            "captured": self.captured,
            "dropped_frames": self.slot.dropped,
            "skipped_frames": self.skipped,
            "reconnects": self.reconnects,
            "reconnect_attempts": self.attempts,
            "stale_frames": self.stale,
            "camera": self.camera,
            "last_frame_age_s": None if self.last_frame_time is None else round(now - self.last_frame_time, 3),
            "state": self.state,
            "last_error": self.last_error,
        }
        source = self.source
        source_stats = getattr(source, "stats", None)
        if callable(source_stats):
            try:
                out.update(source_stats())
            except Exception as exc:  # noqa: BLE001 - stats must never break the pipeline
                log.debug("camera %s: source stats failed: %s", self._settings.id, exc)
        return out

    # -- supervisor ----------------------------------------------------------------------------
    def _supervise(self) -> None:
        s = self._settings
        while not self._stop.is_set():
            if not self._await_abandoned_reader():
                break
            with self._cond:
                self._gen += 1
                gen = self._gen
                self._session_progress = self._clock()
                self._session_frames = 0
                self._session_opened = False
            self.state = "opening"
            self._beat()
            try:
                source = self._factory()
            except BaseException as exc:  # noqa: BLE001 - every failure is retried or reported
                kind, error = "error", exc
            else:
                if self._packet_sink is not None and hasattr(source, "set_packet_sink"):
                    source.set_packet_sink(self._packet_sink)
                self.source = source
                reader = threading.Thread(
                    target=self._read_session, args=(gen, source), name=f"edgecam-capture-read-{gen}", daemon=True
                )
                self._readers.append(reader)
                reader.start()
                kind, error = self._watch(gen)
            if kind == "stop" or self._stop.is_set():
                break
            if kind == "eof":
                log.info("camera %s: source finished (%s)", s.id, error)
                self.state = "exhausted"
                self._exhausted.set()
                break
            if isinstance(error, UsageError):
                self.error = error
                self.last_error = redact_url(error)
                self.state = "failed"
                log.error("camera %s: %s", s.id, error)
                break
            with self._cond:
                self._gen += 1  # abandon the session: a late frame from it is ignored
                if self._session_frames > 0:
                    self.attempts = 0
                self.attempts += 1
            delay = reconnect_delay(self.attempts, s.reconnect_initial_s, s.reconnect_max_s)
            reason = f"no frame for {self.stall_timeout_s:.1f}s (stalled)" if kind == "stall" else _describe(error)
            self.last_error = reason
            self.reconnects += 1
            self.state = "reconnecting"
            if self.camera != "offline":
                self.camera = "offline"
                self.losses += 1
            log.warning("camera %s: %s; reopening in %.2fs", s.id, reason, delay)
            if self._wait_beating(delay):
                break
        if self.state in ("exhausted", "failed"):
            self.slot.close()  # on stop(), the slot closes after the readers have finished

    def _await_abandoned_reader(self) -> bool:
        """At most one reader per camera: a session abandoned while blocked in open/read is abandoned
        once, and the next session starts only after it has returned (a camera is released by the
        reader's ``close()``; a stream that never answers would otherwise cost a thread per retry).
        False if capture was stopped meanwhile."""
        self._readers = [r for r in self._readers if r.is_alive()]
        if not self._readers:
            return True
        reader = self._readers[-1]
        reader.join(READ_POLL_S)  # a reader that noticed the abandonment is closing its source
        if reader.is_alive():
            self.state = "waiting for the abandoned reader"
            log.warning(
                "camera %s: the abandoned source is still blocked in open/read; reopening once it returns",
                self._settings.id,
            )
            while reader.is_alive() and not self._stop.is_set():
                reader.join(READ_POLL_S)
        self._readers = [r for r in self._readers if r.is_alive()]
        return not self._stop.is_set()

    def _beat(self) -> None:
        if self.heartbeat is not None:
            try:
                self.heartbeat()
            except Exception as exc:  # noqa: BLE001 - a broken heartbeat must not stop capture
                log.debug("camera %s: heartbeat failed: %s", self._settings.id, exc)

    def _wait_beating(self, delay: float) -> bool:
        """Wait ``delay`` s (stamping the heartbeat); True if capture was stopped meanwhile."""
        deadline = self._clock() + delay
        while True:
            self._beat()
            left = deadline - self._clock()
            if left <= 0:
                return self._stop.is_set()
            if self._stop.wait(min(left, READ_POLL_S)):
                return True

    def _watch(self, gen: int) -> tuple[str, BaseException | None]:
        """Wait until session ``gen`` ends, stalls, or capture stops."""
        with self._cond:
            while True:
                self._beat()
                if self._stop.is_set():
                    return "stop", None
                if gen in self._outcome:
                    return self._outcome.pop(gen)
                idle = self._clock() - self._session_progress
                limit = self.stall_timeout_s
                if not self._session_opened:  # opening (probing a stream, RTSP) may take longer
                    limit = max(limit, self._settings.open_timeout_s)
                if idle >= limit:
                    return "stall", None
                self._cond.wait(min(limit - idle, READ_POLL_S))

    # -- reader --------------------------------------------------------------------------------
    def _read_session(self, gen: int, source: FrameSource) -> None:
        outcome: tuple[str, BaseException | None] | None = None
        try:
            source.open()
            opened_at = self._wall()
            with self._cond:
                if gen == self._gen:
                    self._session_opened = True
                    self._session_progress = self._clock()
            live = bool(getattr(source, "live", True))
            lossless = bool(getattr(source, "lossless", False))
            # sources whose frames carry the device's capture time (not the read time) can deliver
            # frames older than the connect: a stream's probe buffer
            drop_stale = live and bool(getattr(source, "capture_timestamps", False))
            next_due = self._clock()
            read_timeout = min(READ_POLL_S, self._settings.stall_timeout_s)
            while not self._stop.is_set() and gen == self._gen:
                if not live:
                    wait = next_due - self._clock()
                    if wait > 0 and self._stop.wait(wait):
                        break
                frame = source.read(read_timeout)
                if frame is None:
                    continue
                now = self._clock()
                with self._cond:
                    if gen != self._gen or self._stop.is_set():
                        break
                    self._session_progress = now
                    if drop_stale and frame.timestamp < opened_at:  # predates the (re)connect
                        self.stale += 1
                        continue
                    self._session_frames += 1
                    self.last_progress = now
                    self.last_frame_time = now
                    self.captured += 1
                    self.attempts = 0
                    self.state = "running"
                    self.camera = "online"
                period = self._period
                if live and now < next_due - 0.25 * period:
                    self.skipped += 1
                    continue
                next_due = next_due + period if now - next_due < period else now + period
                if lossless:
                    # A finite file source (images played once) is a batch, not a camera: nothing is
                    # lost, a slower consumer sets the pace.  Waiting on the consumer is not a stall.
                    while not self.slot.wait_empty(READ_POLL_S) and not self._stop.is_set() and gen == self._gen:
                        with self._cond:
                            self._session_progress = self.last_progress = self._clock()
                self.slot.put(dataclasses.replace(frame, index=self._emitted))
                self._emitted += 1
        except EOFError as exc:
            outcome = ("eof", exc)
        except BaseException as exc:  # noqa: BLE001 - reported to the supervisor, which reopens
            outcome = ("error", exc)
        finally:
            try:
                source.close()
            except Exception as exc:  # noqa: BLE001
                log.debug("camera %s: closing the source failed: %s", self._settings.id, exc)
            if outcome is not None:
                with self._cond:
                    if gen == self._gen:
                        self._outcome[gen] = outcome
                        self._cond.notify_all()


def reconnect_delay(attempt: int, initial_s: float, max_s: float) -> float:
    """The wait before reopen number ``attempt`` (1-based) since the last frame: the first at once,
    then ``initial_s`` doubling up to ``max_s``."""
    if attempt <= 1:
        return 0.0
    return min((initial_s if initial_s > 0 else MIN_BACKOFF_S) * 2 ** (attempt - 2), max_s)


def _describe(error: BaseException | None) -> str:
    """One line naming the failure, credentials hidden (it goes to the log and the stats)."""
    if error is None:
        return "source failed"
    text = str(error) or type(error).__name__
    text = text if isinstance(error, EdgecamError) else f"{type(error).__name__}: {text}"
    return redact_url(" ".join(text.split()))
