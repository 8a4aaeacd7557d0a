"""Motion gating: skip inference while the scene is still and nothing is being tracked.

Each frame is shrunk to a small grey image (``width`` px wide, ``cv2.INTER_AREA`` so sensor noise
averages out) and compared with a slowly updated background (running average, ``background_alpha``
per frame).  Motion = the fraction of pixels whose grey level differs by more than ``threshold``
is at least ``min_area``.  Inference runs when there is motion, when tracks are live, on the first
frame, and at least every ``recheck_s`` seconds anyway (to catch what moved in while skipped).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from edgecam.domain import Frame
from edgecam.runtime.settings import MotionSettings

log = logging.getLogger(__name__)


class MotionGate:
    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self.inferred = 0
        self.skipped = 0
        self.motion = False
        self.motion_area = 0.0
        self._background: np.ndarray | None = None
        self._frame_shape: tuple[int, ...] = ()
        self._last_infer = -math.inf

    def _small_grey(self, frame: Frame) -> np.ndarray:
        width = min(self.settings.width, frame.width)
        height = max(1, round(frame.height * width / frame.width))
        return frame.grey(width, height).astype(np.float32)

    def _detect(self, frame: Frame) -> bool:
        s = self.settings
        grey = self._small_grey(frame)
        bg = self._background
        shape = (frame.height, frame.width)
        if bg is None or shape != self._frame_shape:  # first frame or a new source/size
            self._frame_shape = shape
            self._background = grey
            self.motion_area = 1.0
            return True
        changed = np.count_nonzero(np.abs(grey - bg) > s.threshold)
        self.motion_area = changed / grey.size
        bg += s.background_alpha * (grey - bg)  # in place: slowly absorb what stays
        return bool(changed > 0 and self.motion_area >= s.min_area)

    def should_infer(self, frame: Frame, live_tracks: bool, now: float) -> bool:
        """Decide for this frame (call once per frame, also when it will be skipped)."""
        if not self.settings.enabled:
            self.inferred += 1
            return True
        self.motion = self._detect(frame)
        run = self.motion or bool(live_tracks) or now - self._last_infer >= self.settings.recheck_s
        if run:
            self.inferred += 1
            self._last_infer = now
        else:
            self.skipped += 1
        return run

    def stats(self) -> dict:
        """Keys are short: the pipeline publishes them prefixed (``motion_active``, ...)."""
        return {
            "active": self.motion,
            "area": round(self.motion_area, 4),
            "inferred": self.inferred,
            "skipped": self.skipped,
        }
