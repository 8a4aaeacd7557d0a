"""The live view's picture: the frame scaled to a bounded width, zones, masks and tracks drawn, as JPEG.

Runs on the live view's encoder thread only (never the inference thread).  Box drawing and JPEG
encoding are shared with snapshots and ``edgecam detect --annotate`` (``edgecam.render``).
"""

from __future__ import annotations

import zlib
from typing import Sequence

import cv2
import numpy as np

from edgecam.domain import FrameUpdate
from edgecam.render import draw_boxes, encode_jpeg
from edgecam.tracking.settings import MaskSettings, ZoneSettings

_ZONE_BGR = (0, 200, 255)  # amber outline
_MASK_BGR = (60, 60, 60)  # dark grey, blended


def polygon_pixels(points: Sequence[Sequence[float]], coordinates: str, src_w: int, src_h: int,
                   scale: float) -> np.ndarray:
    """(V,1,2) int32 corners of a configured polygon in pixels of the scaled picture."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if coordinates == "relative":
        pts = pts * np.array([src_w, src_h], np.float64)
    return np.round(pts * scale).astype(np.int32).reshape(-1, 1, 2)


class OverlayRenderer:
    """Draws one ``FrameUpdate`` with the configured ``zones`` and ``masks`` and encodes it."""

    def __init__(self, zones: Sequence[ZoneSettings] = (), masks: Sequence[MaskSettings] = (),
                 max_width: int = 640, quality: int = 75) -> None:
        self.zones = tuple(zones)
        self.masks = tuple(masks)
        self.max_width = max_width
        self.quality = quality

    def render(self, update: FrameUpdate) -> bytes:
        frame = update.frame
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"live view needs an H×W×3 image, got shape {image.shape}")
        bgr = image[:, :, ::-1] if frame.pixel_format == "RGB" else image
        w, h = frame.width, frame.height
        scale = min(1.0, self.max_width / max(w, 1))
        if scale < 1.0:  # scale first: drawing and encoding the small picture is cheaper
            bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        else:
            bgr = np.ascontiguousarray(bgr)
        if bgr is image:
            bgr = bgr.copy()  # never draw on the pipeline's frame
        self._draw_regions(bgr, w, h, scale)
        tracks = update.tracks
        boxes = np.asarray([t.box for t in tracks], np.float32).reshape(-1, 4) * np.float32(scale)
        texts = [f"{t.label} #{t.id[-4:]} {t.score:.2f}" for t in tracks]
        ids = np.asarray([zlib.crc32(t.label.encode()) % 1000 for t in tracks], np.int32)  # colour per label
        drawn = draw_boxes(bgr, boxes, texts, ids)
        return encode_jpeg(drawn, 0, self.quality)

    def _draw_regions(self, bgr: np.ndarray, w: int, h: int, scale: float) -> None:
        thick = max(1, round(max(bgr.shape[:2]) / 400))
        if self.masks:
            shaded = bgr.copy()
            for m in self.masks:
                cv2.fillPoly(shaded, [polygon_pixels(m.points, m.coordinates, w, h, scale)], _MASK_BGR)
            cv2.addWeighted(shaded, 0.6, bgr, 0.4, 0.0, dst=bgr)
        for z in self.zones:
            pts = polygon_pixels(z.points, z.coordinates, w, h, scale)
            cv2.polylines(bgr, [pts], True, _ZONE_BGR, thick, cv2.LINE_AA)
            x, y = pts.reshape(-1, 2).min(axis=0)
            cv2.putText(bgr, z.name, (int(x) + 3, int(y) + 14 * thick), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thick,
                        _ZONE_BGR, thick, cv2.LINE_AA)
