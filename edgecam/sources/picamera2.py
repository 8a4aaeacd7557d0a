"""The Raspberry Pi camera through picamera2: a main stream plus a low-resolution stream for detection.

On a Pi 4 the ISP gives the lores stream only as YUV420; it is converted to RGB with OpenCV and the
row padding (stride) is cropped. A Pi 5 can deliver RGB888/BGR888 directly (``[camera] format``).
``picamera2`` (and libcamera) are not pip-installable; they are imported only when the camera opens.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

import numpy as np

from edgecam.domain import Frame
from edgecam.errors import SourceError
from edgecam.sources.settings import CameraSettings
from edgecam.sources.yuv import yuv420_to_rgb

log = logging.getLogger(__name__)

MISSING_PICAMERA2 = (
    "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` and "
    "create the venv with --system-site-packages"
)
DEFAULT_MAIN_SIZE = (1280, 720)

# libcamera names formats by their packed word order: "RGB888" arrays are [B, G, R] per pixel.
_PIXEL_ORDER = {"RGB888": "BGR", "BGR888": "RGB"}


def _import_picamera2() -> Callable[[int], Any]:
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise SourceError(f"{MISSING_PICAMERA2} ({exc})") from None
    return Picamera2


class PiCamera2Source:
    """Frames from the lores stream of a Pi camera (RGB for YUV420)."""

    live = True

    def __init__(
        self,
        settings: CameraSettings,
        base_dir: str | os.PathLike | None = None,
        camera_factory: Callable[[int], Any] | None = None,
    ) -> None:
        self._settings = settings
        self._factory = camera_factory
        self._camera_num = int(settings.path) if settings.path.strip() else 0
        self._cam: Any = None
        self._index = 0
        self.name = f"picamera2:{self._camera_num}"

    def configuration(self, cam: Any) -> Any:
        """The video configuration for ``cam``: main + lores streams at the configured rate."""
        s = self._settings
        main = (s.width, s.height) if s.width and s.height else DEFAULT_MAIN_SIZE
        return cam.create_video_configuration(
            main={"size": main},
            lores={"size": (s.lores_width, s.lores_height), "format": s.format},
            controls={"FrameRate": float(s.fps)},
            queue=False,  # every capture is a frame that started after the request: the freshest
        )

    def open(self) -> None:
        factory = self._factory or _import_picamera2()
        try:
            cam = factory(self._camera_num)
        except (IndexError, RuntimeError) as exc:
            raise SourceError(
                f"cannot open Pi camera {self._camera_num}: {exc}; check the ribbon cable, "
                "`rpicam-hello --list-cameras`, and that no other process uses the camera"
            ) from None
        try:
            cam.configure(self.configuration(cam))
            cam.start()
        except Exception as exc:
            _close_quietly(cam)
            raise SourceError(f"cannot start Pi camera {self._camera_num}: {exc}") from None
        self._cam = cam
        s = self._settings
        log.info(
            "picamera2 camera %d started: lores %dx%d %s @ %.1f fps",
            self._camera_num, s.lores_width, s.lores_height, s.format, s.fps,
        )

    def read(self, timeout: float) -> Frame | None:
        cam = self._cam
        if cam is None:
            raise SourceError(f"{self.name} read before open(); call open() first")
        try:
            array = cam.capture_array("lores")
        except Exception as exc:
            raise SourceError(f"{self.name}: capture failed: {exc}") from None
        s = self._settings
        width, height = s.lores_width, s.lores_height
        if s.format == "YUV420":
            if array.ndim != 2 or array.shape[0] != height * 3 // 2 or array.shape[1] < width:
                raise SourceError(
                    f"{self.name}: unexpected YUV420 buffer shape {array.shape} for {width}x{height}"
                )
            image = yuv420_to_rgb(array, width)
            pixel_format = "RGB"
        else:
            image = np.ascontiguousarray(array[:, :width, :3])
            pixel_format = _PIXEL_ORDER[s.format]
        frame = Frame(
            image=image, index=self._index, timestamp=time.time(), pixel_format=pixel_format, source=self.name
        )
        self._index += 1
        return frame

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            _close_quietly(cam)


def _close_quietly(cam: Any) -> None:
    for method in ("stop", "close"):
        try:
            getattr(cam, method)()
        except Exception as exc:  # a half-broken camera must not stop the reopen
            log.debug("picamera2 %s failed: %s", method, exc)
