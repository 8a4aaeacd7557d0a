"""The ``yuv420:IMAGES`` bench source: image files replayed the way the Pi camera delivers frames.

picamera2 hands the lores stream over as planar YUV420 (I420) buffers of ``height * 3 / 2`` rows,
each row ``stride`` bytes (the width, padded for the ISP).  This source decodes the images once,
crops each to the lores aspect ratio, scales it to the lores size and stores it as such a buffer.
``read()`` hands over a copy of the next buffer (picamera2's ``capture_array`` copies too) as a
:class:`~edgecam.sources.yuv.YuvFrame`, as the picamera2 source does — so the pipeline pays exactly
the camera path's conversion, and only for the frames it takes.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from edgecam.errors import SourceError
from edgecam.files import FileProblem
from edgecam.limits import MAX_PIXELS_DEFAULT
from edgecam.sources.imagefile import read_image
from edgecam.sources.yuv import YuvFrame

log = logging.getLogger(__name__)

PREFIX = "yuv420:"
DEFAULT_LORES = (640, 360)  # [camera] lores_width × lores_height default


def i420_buffer(bgr: np.ndarray, width: int, height: int, stride: int | None = None) -> np.ndarray:
    """``bgr`` centre-cropped to ``width:height``, scaled, as an I420 buffer ``(height*3/2, stride)``.

    With ``stride > width`` the right columns are padding, as in a picamera2 buffer whose rows
    are aligned: the three planes keep their layout (U and V rows are ``stride / 2`` wide)."""
    import cv2

    stride = width if stride is None else stride
    if width % 2 or height % 2 or stride % 2 or stride < width:
        raise ValueError(f"YUV420 needs even sizes and stride >= width, got {width}x{height} stride {stride}")
    h, w = bgr.shape[:2]
    if w * height > h * width:  # too wide: crop the sides
        cw = h * width // height
        bgr = bgr[:, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = w * height // width
        bgr = bgr[(h - ch) // 2:(h - ch) // 2 + ch]
    scaled = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    padded = np.zeros((height, stride, 3), np.uint8)
    padded[:, :width] = scaled
    return cv2.cvtColor(padded, cv2.COLOR_BGR2YUV_I420)


class Yuv420ReplaySource:
    """Replays image files as picamera2-like YUV420 lores buffers (see the module docstring)."""

    live = False

    def __init__(self, files: list[str], width: int = DEFAULT_LORES[0], height: int = DEFAULT_LORES[1],
                 stride: int | None = None, loop: bool = True, max_pixels: int = MAX_PIXELS_DEFAULT) -> None:
        self._files = list(files)
        self._max_pixels = max_pixels
        self.width, self.height, self.stride = width, height, stride or width
        self._loop = loop
        self._buffers: list[np.ndarray] = []
        self._next = 0
        self._index = 0
        self.name = f"yuv420:{len(self._files)} images {width}x{height} stride {self.stride}"
        self.lossless = not loop

    def open(self) -> None:
        if not self._buffers:
            problems = []
            for path in self._files:
                try:  # the header is checked against max_pixels before anything is decoded
                    bgr = read_image(path, self._max_pixels, "yuv420 bench image")
                except FileProblem as exc:
                    problems.append(str(exc))
                    continue
                self._buffers.append(i420_buffer(bgr, self.width, self.height, self.stride))
            if not self._buffers:
                first = f" (first: {problems[0]})" if problems else ""
                raise SourceError(f"{self.name}: none of the files is a usable image{first}; give a directory of photos")
            if problems:
                log.warning("%s: skipped %d file(s); first: %s", self.name, len(problems), problems[0])
        self._next = 0

    def read(self, timeout: float) -> YuvFrame | None:
        if not self._buffers:
            raise SourceError(f"{self.name} read before open(); call open() first")
        if self._next >= len(self._buffers):
            if not self._loop:
                raise EOFError(f"all {len(self._buffers)} buffer(s) of {self.name} played")
            self._next = 0
        buffer = self._buffers[self._next].copy()
        self._next += 1
        frame = YuvFrame(buffer, self.width, self._index, time.time(), self.name)
        self._index += 1
        return frame

    def close(self) -> None:
        self._next = 0
