"""Letterbox geometry (pure): fit an image into a multiple-of-32 canvas and map boxes back.

A 4:3 frame at size 320 runs as 320×256, not 320×320: only the padding needed to reach the next
multiple of ``stride`` is added, split evenly on both sides (as the seed's ncnn demo does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecam.limits import MAX_PIXELS_LIMIT


@dataclass(frozen=True, slots=True)
class Letterbox:
    src_w: int
    src_h: int
    scale: float
    resized_w: int
    resized_h: int
    pad_left: int
    pad_top: int
    pad_right: int
    pad_bottom: int

    @property
    def input_w(self) -> int:
        return self.resized_w + self.pad_left + self.pad_right

    @property
    def input_h(self) -> int:
        return self.resized_h + self.pad_top + self.pad_bottom


def letterbox(src_w: int, src_h: int, size: int, stride: int = 32) -> Letterbox:
    """Geometry that scales the long side to ``size`` and pads each side to a multiple of ``stride``."""
    if src_w <= 0 or src_h <= 0:
        raise ValueError(f"image has no pixels ({src_w}×{src_h})")
    if src_w * src_h > MAX_PIXELS_LIMIT:  # the last guard before ncnn's int-sized resize (sources check the budget)
        raise ValueError(f"image of {src_w}×{src_h} is above the {MAX_PIXELS_LIMIT}-pixel limit; downscale it")
    if size <= 0 or size % stride:
        raise ValueError(f"size must be a positive multiple of {stride}, got {size}")
    scale = size / max(src_w, src_h)
    rw = max(1, min(size, int(round(src_w * scale))))
    rh = max(1, min(size, int(round(src_h * scale))))
    tw = -(-rw // stride) * stride
    th = -(-rh // stride) * stride
    pw, ph = tw - rw, th - rh
    return Letterbox(src_w, src_h, scale, rw, rh, pw // 2, ph // 2, pw - pw // 2, ph - ph // 2)


def unletterbox(boxes: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Map (N,4) x0,y0,x1,y1 boxes from network-input pixels to source pixels, clipped to the image."""
    sx = lb.resized_w / lb.src_w
    sy = lb.resized_h / lb.src_h
    out = np.empty_like(boxes, dtype=np.float32)
    out[:, 0::2] = (boxes[:, 0::2] - lb.pad_left) / sx
    out[:, 1::2] = (boxes[:, 1::2] - lb.pad_top) / sy
    np.clip(out[:, 0::2], 0, lb.src_w, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, lb.src_h, out=out[:, 1::2])
    return out


def to_letterbox(boxes: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Inverse of :func:`unletterbox` (without clipping): source pixels → network-input pixels."""
    sx = lb.resized_w / lb.src_w
    sy = lb.resized_h / lb.src_h
    out = np.empty_like(boxes, dtype=np.float32)
    out[:, 0::2] = boxes[:, 0::2] * sx + lb.pad_left
    out[:, 1::2] = boxes[:, 1::2] * sy + lb.pad_top
    return out
