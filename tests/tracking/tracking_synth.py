"""Builders for synthetic detection sequences, imported by the tracking tests."""

from __future__ import annotations

import numpy as np
from edgecam.domain import Detections

NAMES = ("person", "car", "dog")


def make_dets(*items: tuple[str, tuple[float, float, float, float], float]) -> Detections:
    """``make_dets(("person", (x0, y0, x1, y1), 0.9), ...)`` → a Detections batch."""
    if not items:
        return Detections.empty(NAMES)
    boxes = np.array([box for _, box, _ in items], np.float32)
    scores = np.array([score for _, _, score in items], np.float32)
    ids = np.array([NAMES.index(label) for label, _, _ in items], np.int32)
    return Detections(boxes, scores, ids, NAMES)


def box_at(cx: float, cy: float, w: float = 40.0, h: float = 80.0) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
