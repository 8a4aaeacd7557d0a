"""COCO mAP of a detector on a YOLO-format dataset (``images/*.jpg`` + ``labels/*.txt``)."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from edgecam.domain import Detections
from edgecam.errors import UsageError
from edgecam.files import FileProblem, read_text_file
from edgecam.limits import MAX_PIXELS_DEFAULT
from edgecam.sources.imagefile import read_image
from edgecam.sources.images import image_files


@dataclass(frozen=True)
class GroundTruth:
    image_id: int
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # (N,4) x0,y0,x1,y1 pixels
    class_ids: np.ndarray  # (N,)


@dataclass(frozen=True)
class MapResult:
    map50_95: float
    map50: float
    images: int

    def line(self) -> str:
        return f"mAP@.5:.95={self.map50_95:.4f} mAP@.5={self.map50:.4f} images={self.images}"


def require_pycocotools() -> None:
    """Raise a one-line error naming the fix when pycocotools (the ``[eval]`` extra) is not importable."""
    try:
        import pycocotools.coco  # noqa: F401
        import pycocotools.cocoeval  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"eval needs pycocotools, which is not installed ({exc}); "
                         "install it with: pip install 'edgecam[eval]'") from None


def list_images(dataset: Path) -> list[Path]:
    img_dir = dataset / "images"
    try:
        os.stat(img_dir)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:  # a name too long, a symlink loop, no permission
        raise UsageError(f"dataset {str(dataset)[:120]}: {exc.strerror or exc}; fix the dataset path") from None
    if not img_dir.is_dir():
        raise UsageError(f"{dataset}: no images/ directory; a dataset is DATASET/images/*.jpg with DATASET/labels/*.txt")
    images = image_files(img_dir)
    if not images:
        raise UsageError(f"{img_dir}: no images found (.jpg/.png)")
    return images


def read_labels(label_path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """YOLO ``class cx cy w h`` (normalised) → pixel x0,y0,x1,y1 boxes and class ids."""
    if not label_path.is_file():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int32)
    try:
        text = read_text_file(label_path, "label file")
    except FileProblem as exc:
        raise UsageError(str(exc)) from None
    rows = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not rows:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int32)
    try:
        arr = np.asarray(rows, np.float64)
    except ValueError:
        raise UsageError(f"{label_path}: malformed label line; expected 'class cx cy w h' numbers") from None
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise UsageError(f"{label_path}: each line needs exactly 5 numbers 'class cx cy w h'")
    cx, cy, w, h = arr[:, 1] * width, arr[:, 2] * height, arr[:, 3] * width, arr[:, 4] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return boxes, arr[:, 0].astype(np.int32)


def coco_map(truths: list[GroundTruth], predictions: dict[int, Detections], num_classes: int) -> MapResult:
    """COCO mAP@.5:.95 and mAP@.5 with pycocotools (its chatter goes to stderr)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for gt in truths:
        images.append({"id": gt.image_id, "width": gt.width, "height": gt.height, "file_name": gt.path.name})
        for box, cid in zip(gt.boxes.tolist(), gt.class_ids.tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append({"id": len(anns) + 1, "image_id": gt.image_id, "category_id": int(cid) + 1,
                         "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
    for image_id, d in predictions.items():
        for box, cid, s in zip(d.boxes.tolist(), d.class_ids.tolist(), d.scores.tolist()):
            dets.append({"image_id": image_id, "category_id": int(cid) + 1,
                         "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]], "score": float(s)})
    if not anns:
        raise UsageError("the dataset has no labelled objects; mAP is undefined")
    if not dets:
        return MapResult(0.0, 0.0, len(truths))
    with contextlib.redirect_stdout(sys.stderr):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": i + 1, "name": str(i)} for i in range(num_classes)]}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return MapResult(float(ev.stats[0]), float(ev.stats[1]), len(truths))


def evaluate(
    dataset: Path,
    detect: Callable[[np.ndarray], Detections],
    num_classes: int,
    progress: Callable[[Iterable], Iterable] | None = None,
    max_pixels: int = MAX_PIXELS_DEFAULT,
) -> MapResult:
    """Run ``detect`` (BGR image → Detections in image pixels) on every image and score it."""
    images = list_images(dataset)
    truths: list[GroundTruth] = []
    preds: dict[int, Detections] = {}
    it = progress(images) if progress else images
    for image_id, path in enumerate(it, start=1):
        try:
            img = read_image(path, max_pixels, "dataset image")
        except FileProblem as exc:
            raise UsageError(str(exc)) from None
        h, w = img.shape[:2]
        boxes, ids = read_labels(dataset / "labels" / (path.stem + ".txt"), w, h)
        truths.append(GroundTruth(image_id, path, w, h, boxes, ids))
        preds[image_id] = detect(img)
    return coco_map(truths, preds, num_classes)
