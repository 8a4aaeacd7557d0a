"""Accuracy and speed of bundles through edgecam's own detector, decode and COCO evaluation.

Nothing is re-implemented here: :class:`edgecam.detectors.ncnn_detector.NcnnDetector` does the
preprocessing/forward/decode exactly as on the Pi, and :func:`edgecam.evaluation.coco.evaluate`
scores it as ``edgecam eval`` does (conf 0.001, IoU 0.6, multi-label, 300 detections).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from edgecam.bundles.resolver import resolve
from edgecam.detectors.ncnn_detector import NcnnDetector
from edgecam.detectors.settings import DetectorSettings

EVAL_CONF, EVAL_IOU, EVAL_MAX_DET = 0.001, 0.6, 300


def open_detector(bundle: Path | str, size: int = 640, threads: int | None = None, fp16: bool = False,
                  conf: float = EVAL_CONF, iou: float = EVAL_IOU) -> NcnnDetector:
    threads = threads or min(4, os.cpu_count() or 1)
    settings = DetectorSettings(path=str(bundle), size=size, threads=threads, conf=conf, iou=iou,
                                fp16=fp16, max_detections=EVAL_MAX_DET)
    return NcnnDetector(resolve(bundle), settings)


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
