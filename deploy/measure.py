"""Accuracy and speed of bundles through edgecam's own detector, decode and COCO evaluation.

Nothing is re-implemented here: :class:`edgecam.detectors.ncnn_detector.NcnnDetector` does the
preprocessing/forward/decode exactly as on the Pi, and :func:`edgecam.evaluation.coco.evaluate`
scores it as ``edgecam eval`` does (conf 0.001, IoU 0.6, multi-label, 300 detections).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from edgecam.bundles.resolver import resolve
from edgecam.detectors.ncnn_detector import NcnnDetector
from edgecam.detectors.settings import DetectorSettings

EVAL_CONF, EVAL_IOU, EVAL_MAX_DET = 0.001, 0.6, 300


def effective_threads(threads: int | None) -> int:
    """The thread count the detectors actually use (open_detector's default), for the report."""
    return threads or min(4, os.cpu_count() or 1)


def open_detector(bundle: Path | str, size: int = 640, threads: int | None = None, fp16: bool = False,
                  conf: float = EVAL_CONF, iou: float = EVAL_IOU) -> NcnnDetector:
    threads = effective_threads(threads)
    settings = DetectorSettings(path=str(bundle), size=size, threads=threads, conf=conf, iou=iou,
                                fp16=fp16, max_detections=EVAL_MAX_DET)
    return NcnnDetector(resolve(bundle), settings)


def open_fp32_net(param: Path, bin_: Path, threads: int | None = None):
    """A bare ncnn net for measurements on a candidate model: fp32 throughout (no fp16 storage or
    arithmetic), so what is measured is the candidate's own quantization."""
    import ncnn  # noqa: PLC0415

    net = ncnn.Net()
    net.opt.num_threads = threads or 2
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    if net.load_param(str(param)) != 0 or net.load_model(str(bin_)) != 0:
        net.clear()
        raise RuntimeError(f"ncnn could not load the candidate model {param} / {bin_}")
    return net


def evaluate_map(bundle: Path | str, dataset: Path, size: int = 640, threads: int | None = None,
                 fp16: bool = False, progress=None) -> dict[str, float]:
    """COCO mAP of a bundle on DATASET (images/ + labels/), as ``edgecam eval`` computes it."""
    from edgecam.evaluation.coco import evaluate  # noqa: PLC0415

    det = open_detector(bundle, size, threads, fp16)
    try:
        res = evaluate(Path(dataset), lambda img: det.detect(img, "BGR", multi_label=True, max_det=EVAL_MAX_DET).detections,
                       len(det.class_names), progress)
    finally:
        det.close()
    return {"map50_95": res.map50_95, "map50": res.map50, "images": res.images}


@dataclass
class LabelledRun:
    """One bundle's detections on labelled images, in the forms both evaluators take."""

    names: list[str]  # image file names, in order
    truths: list  # edgecam.evaluation.coco.GroundTruth per image
    predictions: dict  # image_id → Detections
    num_classes: int

    def pycocotools_map(self) -> dict[str, float]:
        from edgecam.evaluation.coco import coco_map  # noqa: PLC0415

        res = coco_map(self.truths, self.predictions, self.num_classes)
        return {"map50_95": res.map50_95, "map50": res.map50, "images": res.images}

    def matches(self) -> list:
        from deploy.bootstrap import match_image  # noqa: PLC0415

        return [match_image(gt.boxes, gt.class_ids, d.boxes, d.scores, d.class_ids, self.num_classes)
                for gt, d in zip(self.truths, (self.predictions[gt.image_id] for gt in self.truths))]


def detect_labelled(bundle: Path | str, images: list[Path], labels_dir: Path, size: int = 640,
                    threads: int | None = None, progress=None) -> LabelledRun:
    """Run a bundle on labelled images (YOLO ``labels_dir/<stem>.txt``) as ``edgecam eval`` does."""
    import cv2  # noqa: PLC0415

    from edgecam.evaluation.coco import GroundTruth, read_labels  # noqa: PLC0415

    det = open_detector(bundle, size, threads)
    truths, preds = [], {}
    try:
        for image_id, path in enumerate(progress(images) if progress else images, start=1):
            img = cv2.imread(str(path))
            if img is None:
                raise FileNotFoundError(f"{path}: cannot read the image")
            h, w = img.shape[:2]
            boxes, ids = read_labels(Path(labels_dir) / (path.stem + ".txt"), w, h)
            truths.append(GroundTruth(image_id, path, w, h, boxes, ids))
            preds[image_id] = det.detect(img, "BGR", multi_label=True, max_det=EVAL_MAX_DET).detections
    finally:
        det.close()
    return LabelledRun([p.name for p in images], truths, preds, len(det.class_names))


def time_interleaved(bundles: dict[str, Path], image_bgr: np.ndarray, size: int = 640, threads: int | None = None,
                     rounds: int = 5, loops: int = 4, warmup: int = 2, fp16: bool = False) -> dict[str, dict[str, float]]:
    """Forward-pass latency of several bundles, timed in interleaved rounds (A B C A B C …).

    Interleaving spreads thermal throttling and background load evenly over the models, so their
    ratio is meaningful even on a busy or hot machine.
    """
    dets = {k: open_detector(v, size, threads, fp16) for k, v in bundles.items()}
    mats = {k: d.preprocess(image_bgr, "BGR")[0] for k, d in dets.items()}
    samples: dict[str, list[float]] = {k: [] for k in dets}
    try:
        for k, d in dets.items():
            for _ in range(warmup):
                d.forward(mats[k])
        for _ in range(rounds):
            for k, d in dets.items():
                for _ in range(loops):
                    t0 = time.perf_counter()
                    d.forward(mats[k])
                    samples[k].append((time.perf_counter() - t0) * 1e3)
    finally:
        for d in dets.values():
            d.close()
    return {k: {"min_ms": float(np.min(v)), "median_ms": float(np.median(v)), "avg_ms": float(np.mean(v)),
                "n": len(v)} for k, v in samples.items()}


def progress_bar(label: str):
    """A progress wrapper for evaluate(), using edgecam's stderr progress bar."""
    from edgecam.evaluation.progress import Progress  # noqa: PLC0415

    def wrap(items: Iterable):
        items = list(items)
        bar = Progress(len(items), label)
        for item in items:
            yield item
            bar.update()
        bar.close()

    return wrap
