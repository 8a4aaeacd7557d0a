"""Draw boxes and labels on an image (annotated JPEGs, MQTT snapshots)."""

from __future__ import annotations

import cv2
import numpy as np

from edgecam.domain import Detections


def _color(class_id: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(class_id * 7919 + 17)
    return tuple(int(v) for v in rng.integers(64, 256, 3))


label_color = _color  # the colour of a class id (or any small int), shared by every drawing


def line_thickness(image: np.ndarray) -> int:
    """Pixels per line for drawing on ``image``: 1, plus 1 per 400 pixels of its longer side."""
    return max(1, round(max(image.shape[:2]) / 400))


def draw_boxes(
    image: np.ndarray, boxes: np.ndarray, texts: list[str], class_ids: np.ndarray | None = None
) -> np.ndarray:
    """Return a copy of ``image`` with each box and its text drawn (any 3-channel order)."""
    out = image.copy()
    thick = line_thickness(out)
    ids = class_ids if class_ids is not None else np.zeros(len(boxes), np.int32)
    for box, text, cid in zip(np.round(boxes).astype(int).tolist(), texts, ids.tolist()):
        x0, y0, x1, y1 = box
        color = _color(int(cid))
        cv2.rectangle(out, (x0, y0), (x1, y1), color, thick)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, thick)
        ty = max(y0, th + base)
        cv2.rectangle(out, (x0, ty - th - base), (x0 + tw, ty), color, -1)
        cv2.putText(out, text, (x0, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (0, 0, 0), thick, cv2.LINE_AA)
    return out


def draw_detections(image: np.ndarray, dets: Detections) -> np.ndarray:
    texts = [f"{dets.label(i)} {float(dets.scores[i]):.2f}" for i in range(len(dets))]
    return draw_boxes(image, dets.boxes, texts, dets.class_ids)


def encode_jpeg(image_bgr: np.ndarray, max_width: int = 0, quality: int = 80) -> bytes:
    """JPEG bytes of a BGR image, downscaled to ``max_width`` if it is wider (0 = keep)."""
    h, w = image_bgr.shape[:2]
    if max_width and w > max_width:
        image_bgr = cv2.resize(image_bgr, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
