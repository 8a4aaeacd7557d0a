"""Snapshot JPEG: the frame scaled to a bounded width with the confirmed tracks' boxes drawn.

Runs on the publisher's worker thread, never on the inference thread.  Drawing and encoding are
shared with ``edgecam detect --annotate`` (``edgecam.render``).
"""

from __future__ import annotations

import zlib
from typing import Sequence

import cv2
import numpy as np

from edgecam.domain import Frame, TrackView
from edgecam.render import draw_boxes, encode_jpeg


def render_snapshot(frame: Frame, tracks: Sequence[TrackView], max_width: int = 640, quality: int = 80) -> bytes:
    """JPEG bytes of ``frame`` (at most ``max_width`` wide) with one labelled box per track."""
    image = frame.image
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"snapshot needs an H×W×3 image, got shape {image.shape}")
    bgr = image[:, :, ::-1] if frame.pixel_format == "RGB" else image
    scale = min(1.0, max_width / max(frame.width, 1))
    if scale < 1.0:  # scale first: drawing and encoding the small image is cheaper
        size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    boxes = np.asarray([t.box for t in tracks], np.float32).reshape(-1, 4) * np.float32(scale)
    texts = [f"{t.label} {t.score:.2f}" for t in tracks]
    ids = np.asarray([zlib.crc32(t.label.encode()) % 1000 for t in tracks], np.int32)  # stable colour per label
    drawn = draw_boxes(np.ascontiguousarray(bgr), boxes, texts, ids)  # draws on a copy
    return encode_jpeg(drawn, 0, quality)
