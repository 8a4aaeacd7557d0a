"""The live view's picture: the frame scaled to a bounded width, zones, masks and tracks drawn, as JPEG.

Runs on the live view's encoder thread only (never the inference thread).  Confirmed tracks seen in
this frame are drawn solid; *coasting* tracks (confirmed, not seen for a few frames, kept at their
last box) dashed with a faded label that says for how many frames they have been lost.  Labels are
placed so they do not overlap (``web/labels.py``).  What is drawn follows :class:`OverlayOptions`
(the page's toggles: boxes, coasting tracks, zones, masks, motion).
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from edgecam.domain import FrameUpdate, TrackView
from edgecam.render import encode_jpeg, label_color, line_thickness
from edgecam.tracking.settings import MaskSettings, ZoneSettings
from edgecam.web.labels import place_labels

_ZONE_BGR = (0, 200, 255)  # amber outline
_MASK_BGR = (60, 60, 60)  # dark grey, blended
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class OverlayOptions:
    """What the live view draws on the picture (shared by every viewer of the stream)."""

    boxes: bool = True  # tracked objects
    coasting: bool = True  # tracks not seen in this frame (dashed); off: hidden
    zones: bool = True
    masks: bool = True
    motion: bool = True  # a note on frames whose detection was skipped (motion gating)

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)

    def update(self, body: Any) -> str | None:
        """Apply ``{"boxes": false, ...}``; the problem as one line, or None."""
        names = set(self.as_dict())
        if not isinstance(body, dict) or not body or set(body) - names:
            return f"send an object with some of {', '.join(sorted(names))} set to true or false"
        if not all(isinstance(v, bool) for v in body.values()):
            return "every overlay option is true or false"
        for k, v in body.items():
            setattr(self, k, v)
        return None


def track_state(track: TrackView) -> str:
    """``confirmed`` (seen in this frame) or ``coasting`` (kept at its last box while it is missed)."""
    return "coasting" if track.missed > 0 else "confirmed"


def _dashed_rectangle(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color, thick: int) -> None:
    dash, gap = 6 * thick, 5 * thick
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(bx - ax), abs(by - ay))
        for start in range(0, max(length, 1), dash + gap):
            end = min(start + dash, length)
            t0, t1 = start / max(length, 1), end / max(length, 1)
            cv2.line(img, (round(ax + (bx - ax) * t0), round(ay + (by - ay) * t0)),
                     (round(ax + (bx - ax) * t1), round(ay + (by - ay) * t1)), color, thick)


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
                 max_width: int = 640, quality: int = 75, options: OverlayOptions | None = None) -> None:
        self.zones = tuple(zones)
        self.masks = tuple(masks)
        self.max_width = max_width
        self.quality = quality
        self.options = options or OverlayOptions()
        self._lock = threading.Lock()

    def set_regions(self, zones: Sequence[ZoneSettings], masks: Sequence[MaskSettings]) -> None:
        with self._lock:
            self.zones, self.masks = tuple(zones), tuple(masks)

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
        if bgr is image or not bgr.flags.writeable:
            bgr = bgr.copy()  # never draw on the pipeline's frame
        opts = self.options
        self._draw_regions(bgr, w, h, scale)
        if opts.boxes:
            tracks = [t for t in update.tracks if opts.coasting or t.missed == 0]
            self._draw_tracks(bgr, tracks, scale)
        if opts.motion and update.inference is None:  # motion gating (or the switch) skipped the network
            thick = line_thickness(bgr)
            cv2.putText(bgr, "no detection on this frame (still scene)", (6, bgr.shape[0] - 8), _FONT,
                        0.35 * thick, (220, 220, 220), max(1, thick - 1), cv2.LINE_AA)
        return encode_jpeg(bgr, 0, self.quality)

    def _draw_tracks(self, bgr: np.ndarray, tracks: list[TrackView], scale: float) -> None:
        if not tracks:
            return
        tracks = sorted(tracks, key=lambda t: (t.missed > 0, -t.score))  # live ones get the best label spots
        thick = line_thickness(bgr)
        size = 0.35 * thick
        boxes = np.round(np.asarray([t.box for t in tracks], np.float64).reshape(-1, 4) * scale).astype(np.int64)
        texts = [f"{t.label} #{t.id[-4:]} {t.score:.2f}" + (f" lost {t.missed}" if t.missed else "") for t in tracks]
        metrics = [cv2.getTextSize(text, _FONT, size, thick) for text in texts]
        sizes = np.asarray([(tw + 4, th + base + 2) for (tw, th), base in metrics], np.float64)
        corners = place_labels(boxes, sizes, bgr.shape[1], bgr.shape[0])
        faded = bgr.copy()
        for t, (x0, y0, x1, y1), text, ((tw, th), base), (lx, ly), (sw, sh) in zip(
                tracks, boxes.tolist(), texts, metrics, corners.tolist(), sizes.astype(int).tolist()):
            color = label_color(zlib.crc32(t.label.encode()) % 1000)  # colour per label
            target = faded if t.missed else bgr
            if t.missed:
                _dashed_rectangle(bgr, x0, y0, x1, y1, color, thick)
            else:
                cv2.rectangle(bgr, (x0, y0), (x1, y1), color, thick)
            cv2.rectangle(target, (lx, ly), (lx + sw, ly + sh), color, -1)
            cv2.putText(target, text, (lx + 2, ly + th + 1), _FONT, size, (0, 0, 0), thick, cv2.LINE_AA)
        if any(t.missed for t in tracks):  # coasting labels at 45 %: visibly not live
            cv2.addWeighted(faded, 0.45, bgr, 0.55, 0.0, dst=faded)
            mask = np.zeros(bgr.shape[:2], bool)
            for t, (lx, ly), (sw, sh) in zip(tracks, corners.tolist(), sizes.astype(int).tolist()):
                if t.missed:
                    mask[max(ly, 0):ly + sh + 1, max(lx, 0):lx + sw + 1] = True
            bgr[mask] = faded[mask]

    def _draw_regions(self, bgr: np.ndarray, w: int, h: int, scale: float) -> None:
        thick = line_thickness(bgr)
        with self._lock:
            zones = self.zones if self.options.zones else ()
            masks = self.masks if self.options.masks else ()
        if masks:
            shaded = bgr.copy()
            for m in masks:
                cv2.fillPoly(shaded, [polygon_pixels(m.points, m.coordinates, w, h, scale)], _MASK_BGR)
            cv2.addWeighted(shaded, 0.6, bgr, 0.4, 0.0, dst=bgr)
        for z in zones:
            pts = polygon_pixels(z.points, z.coordinates, w, h, scale)
            cv2.polylines(bgr, [pts], True, _ZONE_BGR, thick, cv2.LINE_AA)
            x, y = pts.reshape(-1, 2).min(axis=0)
            cv2.putText(bgr, z.name, (int(x) + 3, int(y) + 14 * thick), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thick,
                        _ZONE_BGR, thick, cv2.LINE_AA)
