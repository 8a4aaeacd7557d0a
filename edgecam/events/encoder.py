"""Software-encoded clips (``[events] clips = "on"`` for sources without compressed packets: USB, files,
images): frames scaled to ``clip_width`` at ``clip_fps`` are encoded to H.264 (libx264 ``ultrafast``,
``zerolatency``: no B-frames, so each packet leaves with its frame; MPEG-4 part 2 if libx264 is missing)
with a keyframe every second, and handed to the clip recorder's sink exactly like a camera's packets.

The encoder runs continuously while clips are on (pre-roll needs the seconds before an event), in its
own thread.  The inference thread only drops a reference to the frame into a one-frame slot.
"""

from __future__ import annotations

import io
import logging
import threading
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from edgecam.domain import Frame

log = logging.getLogger(__name__)

_TB = Fraction(1, 1000)


def even_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    scale = min(1.0, max_width / max(1, width))
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    return w - w % 2, h - h % 2


class SoftwareEncoder:
    def __init__(self, sink: Callable[[Any, Any, float], None], max_width: int = 640, fps: float = 5.0) -> None:
        self.sink, self.max_width, self.fps = sink, int(max_width), float(fps)
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._last_offered = -1e18
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None
        self._t0 = 0.0
        self._last_pts = -1
        self.encoded = 0
        self.skipped = 0  # frames the encoder was too busy for
        self.codec = ""

    # -- the inference thread ------------------------------------------------------------------------------
    def offer(self, frame: Frame) -> None:
        if frame.timestamp - self._last_offered < 0.999 / self.fps:
            return
        self._last_offered = frame.timestamp
        with self._cond:
            if self._slot is not None:
                self.skipped += 1
            self._slot = frame
            self._cond.notify()

    # -- life ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="edgecam-clip-encoder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._stopping:
                    self._cond.wait()
                frame, self._slot = self._slot, None
                if frame is None:
                    return
            try:
                self._encode(frame)
            except Exception:  # noqa: BLE001 - clips stop being fed; detection goes on
                log.exception("clip encoder: cannot encode a frame; clips may miss it")

    # -- encoding -------------------------------------------------------------------------------------------------
    def _open(self, width: int, height: int, t0: float) -> None:
        import av

        size = even_size(width, height, self.max_width)
        container = av.open(io.BytesIO(), "w", format="mp4")  # only holds the stream's parameters
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=max(1, round(self.fps)))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        ctx = stream.codec_context
        ctx.time_base = _TB
        ctx.gop_size = max(1, round(self.fps))  # a keyframe a second: pre-roll starts at most 1 s early
        if codec == "libx264":
            ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "28"}
        else:
            ctx.bit_rate = 600_000
        container.start_encoding()  # opens the encoder; the stream's parameters (extradata) are final
        self._container, self._stream, self._size, self._t0, self._last_pts = container, stream, size, t0, -1
        self.codec = codec
        log.info("clip encoder: %s %dx%d at up to %.1f fps", codec, size[0], size[1], self.fps)

    def _encode(self, frame: Frame) -> None:
        import av
        import cv2

        image = frame.image
        if self._size is None:  # sized by the first frame; a later frame of another size is scaled to it
            self._open(image.shape[1], image.shape[0], frame.timestamp)
        w, h = self._size  # type: ignore[misc]
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA) if (image.shape[1], image.shape[0]) != (w, h) \
            else image
        code = cv2.COLOR_RGB2YUV_I420 if frame.pixel_format == "RGB" else cv2.COLOR_BGR2YUV_I420
        yuv = np.ascontiguousarray(cv2.cvtColor(np.ascontiguousarray(small), code))
        video = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        pts = max(self._last_pts + 1, round((frame.timestamp - self._t0) / _TB))
        self._last_pts = pts
        video.pts, video.time_base = pts, _TB
        for packet in self._stream.codec_context.encode(video):
            self._emit(packet)
        self.encoded += 1

    def _emit(self, packet: Any) -> None:
        if packet.time_base is None:
            packet.time_base = _TB
        wall = self._t0 + float(packet.pts * packet.time_base) if packet.pts is not None else self._t0
        self.sink(packet, self._stream, wall)
