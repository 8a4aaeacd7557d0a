"""An event's picture evidence from its best frame: the clean JPEG and the boxed one at the frame's full
resolution, and a thumbnail cropped around the object.  Runs in the evidence writer's thread."""

from __future__ import annotations

import zlib

import cv2
import numpy as np

from edgecam.domain import Frame
from edgecam.render import draw_boxes, encode_jpeg


def frame_bgr(frame: Frame) -> np.ndarray:
    image = frame.image
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a snapshot needs an H×W×3 image, got shape {image.shape}")
    return np.ascontiguousarray(image[:, :, ::-1] if frame.pixel_format == "RGB" else image)


def thumbnail_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """The object's box grown by half its size on each side (at least a quarter of the frame), clipped."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0, min(width, height) / 4.0) * 1.5
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    ax0, ay0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    ax1, ay1 = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
    return ax0, ay0, max(ax0 + 1, ax1), max(ay0 + 1, ay1)


def render_evidence(frame: Frame, box: tuple[float, float, float, float], label: str, score: float,
                    quality: int = 90, thumb_size: int = 240) -> dict[str, bytes]:
    """``{"snapshot.jpg", "boxed.jpg", "thumbnail.jpg"}`` JPEG bytes of ``frame`` showing the object at ``box``."""
    bgr = frame_bgr(frame)
    clean = encode_jpeg(bgr, 0, quality)
    boxes = np.asarray([box], np.float32)
    colour = np.asarray([zlib.crc32(label.encode()) % 1000], np.int32)
    boxed_image = draw_boxes(bgr, boxes, [f"{label} {score:.2f}"], colour)
    x0, y0, x1, y1 = thumbnail_box(box, frame.width, frame.height)
    crop = boxed_image[y0:y1, x0:x1]
    scale = thumb_size / max(crop.shape[:2])
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    return {"snapshot.jpg": clean, "boxed.jpg": encode_jpeg(boxed_image, 0, quality),
            "thumbnail.jpg": encode_jpeg(np.ascontiguousarray(crop), 0, 80)}
