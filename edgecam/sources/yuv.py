"""Colour conversion of the Pi camera's YUV420 buffers, shared by the picamera2 source and the
``yuv420:`` bench source (so the bench measures exactly the conversion the camera path runs)."""

from __future__ import annotations

import numpy as np


def yuv420_to_rgb(array: np.ndarray, width: int) -> np.ndarray:
    """A planar I420 buffer of ``height * 3 / 2`` rows (rows may be padded to a stride) → RGB, ``width`` wide."""
    import cv2

    return np.ascontiguousarray(cv2.cvtColor(array, cv2.COLOR_YUV2RGB_I420)[:, :width])
