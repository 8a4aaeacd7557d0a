"""OpenCV ``VideoCapture`` as a camera: ``/dev/videoN``, a device index, an RTSP/HTTP URL or a video file.

Live sources (devices, URLs) are read as fast as they deliver, with a one-frame driver buffer, so
the capture thread always has the freshest frame; video files are paced by the capture thread.
"""

from __future__ import annotations

import logging
import os
import time

from edgecam.domain import Frame
from edgecam.errors import SourceError
from edgecam.limits import pixels_problem
from edgecam.redact import redact_url
from edgecam.sources.settings import OpenCVSettings

log = logging.getLogger(__name__)


def parse_target(path: str, base_dir: str | os.PathLike | None = None) -> tuple[int | str, bool]:
    """``(target for cv2.VideoCapture, is_file)`` for a ``[camera] path`` value."""
    text = path.strip()
    if text.isdigit():
        return int(text), False
    if "://" in text or text.startswith("/dev/"):
        return text, False
    expanded = os.path.expanduser(text)
    if base_dir is not None and not os.path.isabs(expanded):
        expanded = os.path.join(base_dir, expanded)
    return expanded, True


def redact(target: int | str) -> str:
    """The target with the credentials of a URL hidden, for logs and messages (``edgecam.redact``)."""
    return redact_url(target)


class OpenCVSource:
    """Frames from ``cv2.VideoCapture`` (BGR)."""

    kind = "opencv"

    def __init__(self, settings: OpenCVSettings, base_dir: str | os.PathLike | None = None) -> None:
        self._settings = settings
        self._target, self._is_file = parse_target(settings.path, base_dir)
        self._cap = None
        self._index = 0
        self.live = not self._is_file
        self.name = f"opencv:{redact(settings.path)}"

    @classmethod
    def from_settings(cls, settings: OpenCVSettings, base_dir: str | os.PathLike | None = None) -> "OpenCVSource":
        """The source of ``[camera]``; relative paths resolve against ``base_dir`` (the config's directory)."""
        return cls(settings, base_dir=base_dir)

    def open(self) -> None:
        import cv2

        if self._is_file and not os.path.isfile(self._target):
            raise SourceError(f"video file {self._target} does not exist; fix [camera] path")
        cap = cv2.VideoCapture(self._target)
        if not cap.isOpened():
            cap.release()
            if self._is_file:
                hint = "is it a video format OpenCV/FFmpeg can decode?"
            elif isinstance(self._target, int) or self._target.startswith("/dev/"):
                hint = "is the camera plugged in and is this user in the 'video' group?"
            else:
                hint = "check the URL, the network and the credentials"
            raise SourceError(f"cannot open {redact(self._target)!r} with OpenCV; {hint}")
        s = self._settings
        if self.live:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if s.width and s.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
            cap.set(cv2.CAP_PROP_FPS, s.fps)
        self._cap = cap
        log.info(
            "opencv source %s opened: %dx%d @ %.1f fps (%s)",
            redact(self._target),
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            cap.get(cv2.CAP_PROP_FPS),
            "file" if self._is_file else "live",
        )

    def read(self, timeout: float) -> Frame | None:
        import cv2

        cap = self._cap
        if cap is None:
            raise SourceError(f"{self.name} read before open(); call open() first")
        ok, image = cap.read()
        if not ok and self._is_file:
            if not self._settings.loop:
                raise EOFError(f"end of video file {self._target}")
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.name}: reading a frame failed (device unplugged or stream ended)")
        problem = pixels_problem(image.shape[1], image.shape[0], self._settings.max_pixels)
        if problem:  # before any conversion: ncnn and OpenCV overflow on frames of 2^31 bytes
            raise SourceError(f"{self.name}: frame {problem}; lower the stream's resolution ([camera] width/height)")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        frame = Frame(image=image, index=self._index, timestamp=time.time(), pixel_format="BGR", source=self.name)
        self._index += 1
        return frame

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
