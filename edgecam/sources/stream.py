"""Network cameras (RTSP/RTSPS/HTTP(S)) through PyAV: FFmpeg's demuxers and decoders, in-process.

Why PyAV rather than OpenCV's FFmpeg backend (README notes): it gives the transport (``tcp``/``udp``),
open and read timeouts that hold for every protocol (an interrupt callback), FFmpeg's own error text
(``Server returned 404 Not Found``, ``401 Unauthorized``) instead of ``isOpened() == False``, the
packets before decoding (:meth:`StreamSource.set_packet_sink`: event clips remux them, no re-encode)
and each frame's presentation time.

Capture time.  A frame's ``timestamp`` is its PTS mapped to the wall clock: the first PTS is taken to
be captured when ``open()`` started (a live stream cannot have sent it earlier; the camera starts
sending on PLAY), and the offset only ever moves earlier — when a packet arrives "before" its mapped
time (clock drift), the offset follows it.  Frames FFmpeg buffered while probing the stream are thus
stamped with their true, older times, and the capture thread drops those that predate the connect
(``capture_timestamps = True``).  A PTS that jumps (a camera restarting its encoder) re-anchors.

Counters (``stats()``): ``decode_errors`` (packets FFmpeg could not decode) and ``lost_frames``
(frames missing from the PTS sequence at the stream's frame rate).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Any, Callable

from edgecam.domain import Frame
from edgecam.errors import SourceError
from edgecam.limits import pixels_problem
from edgecam.redact import redact_url
from edgecam.sources.settings import StreamSettings

log = logging.getLogger(__name__)

ANALYZE_US = 1_000_000  # FFmpeg's probe: 1 s of stream instead of 5 (every frame probed is stale)
PTS_JUMP_S = 10.0  # a PTS step larger than this (or backwards) re-anchors the wall clock
LOG_EVERY_S = 30.0  # rate limit of repeated warnings (decode errors, a failing packet sink)

PacketSink = Callable[[Any, Any, float], None]


def ffmpeg_cause(exc: BaseException, waited: str = "") -> str:
    """FFmpeg's own one-line text for a failure, with a hint naming the fix; credentials hidden.
    ``waited`` names the timeout that ran out when FFmpeg was interrupted (``open_timeout_s = 20 s``)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    low = text.lower()
    if "immediate exit" in low and waited:  # the interrupt callback: PyAV's open/read timeout ran out
        return redact_url(f"no answer within {waited} (the camera is silent or frozen); check the camera "
                          "and the network, or raise the timeout")
    if "401" in low or "unauthorized" in low:
        hint = "check the user name and password in [camera] path"
    elif "404" in low or "not found" in low:
        hint = "check the stream's path in [camera] path"
    elif "refused" in low:
        hint = "is the camera on and the host/port in [camera] path right?"
    elif "timed out" in low or "timeout" in low or "exit" in low:
        hint = "no answer in time: check the network, or raise [camera] open_timeout_s/read_timeout_s"
    elif "403" in low or "forbidden" in low:
        hint = "the camera refuses this user; check its permissions"
    else:
        hint = "check [camera] path, the network and the credentials"
    return redact_url(f"{text}; {hint}")


class _WallClock:
    """Maps a stream's PTS (seconds) to the wall clock; see the module docstring."""

    def __init__(self, opened_at: float) -> None:
        self.opened_at = opened_at
        self.offset: float | None = None
        self.last_pts: float | None = None

    def wall(self, pts_s: float | None, arrival: float) -> float:
        if pts_s is None:  # no time: as old as the connect until the clock is anchored
            if self.offset is None or self.last_pts is None:
                return self.opened_at
            return min(arrival, self.last_pts + self.offset)
        if self.offset is None:
            self.offset = self.opened_at - pts_s
        elif self.last_pts is not None and abs(pts_s - self.last_pts) > PTS_JUMP_S:
            self.offset = arrival - pts_s  # the camera restarted its clock: re-anchor
        self.offset = min(self.offset, arrival - pts_s)
        self.last_pts = pts_s
        return pts_s + self.offset


class StreamSource:
    """Frames from an RTSP/HTTP camera (BGR), decoded by FFmpeg through PyAV."""

    kind = "stream"
    live = True
    capture_timestamps = True

    @classmethod
    def from_settings(cls, settings: StreamSettings, base_dir: str | os.PathLike | None = None) -> "StreamSource":
        return cls(settings, base_dir=base_dir)

    def __init__(self, settings: StreamSettings, base_dir: str | os.PathLike | None = None) -> None:
        self._settings = settings
        self._url = settings.path.strip()
        self.name = f"stream:{redact_url(self._url)}"
        self._container: Any = None
        self._stream: Any = None
        self._packets: Any = None
        self._pending: deque = deque()
        self._clock: _WallClock | None = None
        self._sink: PacketSink | None = None
        self._index = 0
        self._frame_s: float | None = None
        self._last_frame_pts: float | None = None
        self._last_warned: dict[str, float] = {}
        self.decode_errors = 0
        self.lost_frames = 0
        self.sink_errors = 0
        self.info: dict[str, Any] = {}

    # -- packet tap (event clips) ----------------------------------------------------------------
    def set_packet_sink(self, sink: PacketSink | None) -> None:
        """``sink(packet, stream, wall_time)`` for every demuxed video packet, before decoding, in the
        capture thread; kept across reopen (a new source gets it from the capture thread).  The sink
        must be cheap; what it raises is counted and logged (rate-limited), never raised here.

        ``stream`` (and ``packet.stream``) belong to the open container: read what a remux needs
        (codec parameters, time base) while the sink runs; touching them after the source closed (a
        reconnect) crashes the process in FFmpeg.  The packet's own data stays valid."""
        self._sink = sink

    # -- FrameSource -----------------------------------------------------------------------------
    def open(self) -> None:
        import av

        s = self._settings
        options = {"analyzeduration": str(ANALYZE_US)}
        scheme = self._url.split("://", 1)[0].lower()
        if scheme.startswith("rtsp"):
            options["rtsp_transport"] = s.transport
        # socket I/O (µs): a backstop; PyAV's open/read timeouts below interrupt FFmpeg first
        options["timeout" if scheme.startswith("rtsp") else "rw_timeout"] = str(
            int(max(s.open_timeout_s, s.read_timeout_s) * 1e6) + 1_000_000)
        started = time.time()
        try:
            container = av.open(self._url, options=options, timeout=(s.open_timeout_s, s.read_timeout_s))
        except Exception as exc:  # noqa: BLE001 - every failure is one line naming the fix
            waited = f"open_timeout_s = {s.open_timeout_s:g} s"
            if time.time() - started >= 0.95 * s.open_timeout_s:  # interrupted: FFmpeg's text varies
                exc = TimeoutError("Immediate exit requested")
            raise SourceError(f"{self.name}: {ffmpeg_cause(exc, waited)}") from None
        if not container.streams.video:
            found = ", ".join(f"{st.type} {getattr(st.codec_context, 'name', '?')}" for st in container.streams) or "nothing"
            container.close()
            raise SourceError(f"{self.name}: no video stream (the stream has: {found}); "
                              "point [camera] path at a camera's video stream")
        stream = container.streams.video[0]
        self._container, self._stream = container, stream
        self._packets = container.demux(stream)
        self._clock = _WallClock(started)
        rate = stream.average_rate or stream.guessed_rate
        self._frame_s = 1.0 / float(rate) if rate else None
        self.info = {
            "codec": stream.codec_context.name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "fps": round(float(rate), 2) if rate else None,
        }
        log.info("%s opened in %.2f s: %s %dx%d @ %s fps (%s)", self.name, time.time() - started,
                 self.info["codec"], self.info["width"], self.info["height"], self.info["fps"], s.transport)

    def describe(self) -> dict[str, Any]:
        """What ``check --probe`` reports: codec, width, height, fps."""
        return dict(self.info)

    def read(self, timeout: float) -> Frame | None:
        if self._packets is None:
            raise SourceError(f"{self.name} read before open(); call open() first")
        while not self._pending:
            try:
                packet = next(self._packets)
            except StopIteration:
                raise SourceError(f"{self.name}: the stream ended (camera restarted or gone)") from None
            except Exception as exc:  # noqa: BLE001
                waited = f"read_timeout_s = {self._settings.read_timeout_s:g} s"
                raise SourceError(f"{self.name}: {ffmpeg_cause(exc, waited)}") from None
            self._handle(packet)
        return self._pending.popleft()

    def close(self) -> None:
        container, self._container, self._packets = self._container, None, None
        self._pending.clear()
        if container is not None:
            container.close()

    def stats(self) -> dict[str, Any]:
        return {"decode_errors": self.decode_errors, "lost_frames": self.lost_frames}

    # -- internals -------------------------------------------------------------------------------
    def _handle(self, packet: Any) -> None:
        import av

        arrival = time.time()
        stream = self._stream
        tb = packet.time_base or stream.time_base
        ts = packet.pts if packet.pts is not None else packet.dts
        assert self._clock is not None
        wall = self._clock.wall(float(ts * tb) if ts is not None and tb else None, arrival)
        if self._sink is not None and packet.size:
            try:
                self._sink(packet, stream, wall)
            except Exception as exc:  # noqa: BLE001 - a sink never breaks capture
                self.sink_errors += 1
                self._warn("sink", "%s: the packet sink failed (%d so far): %s", self.name, self.sink_errors, exc)
        try:
            frames = packet.decode()
        except (av.error.InvalidDataError, av.error.ValueError, ValueError) as exc:
            self.decode_errors += 1
            self._warn("decode", "%s: a packet could not be decoded (%d so far): %s", self.name, self.decode_errors,
                       getattr(exc, "strerror", None) or exc)
            return
        for f in frames:
            pts_s = float(f.pts * f.time_base) if f.pts is not None and f.time_base else None
            self._count_lost(pts_s)
            stamp = self._clock.wall(pts_s, arrival) if pts_s is not None else wall
            problem = pixels_problem(f.width, f.height, self._settings.max_pixels)
            if problem:
                raise SourceError(f"{self.name}: frame {problem}; lower the camera's resolution")
            image = f.to_ndarray(format="bgr24")
            self._pending.append(Frame(image=image, index=self._index, timestamp=stamp, pixel_format="BGR",
                                       source=self.name))
            self._index += 1

    def _count_lost(self, pts_s: float | None) -> None:
        if pts_s is None or self._frame_s is None:
            return
        last, self._last_frame_pts = self._last_frame_pts, pts_s
        if last is None or not 0.0 < pts_s - last <= PTS_JUMP_S:
            return
        missing = round((pts_s - last) / self._frame_s) - 1
        if missing > 0:
            self.lost_frames += missing

    def _warn(self, key: str, fmt: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_warned.get(key, -1e9) >= LOG_EVERY_S:
            self._last_warned[key] = now
            log.warning(fmt, *args)
