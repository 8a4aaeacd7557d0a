"""Measure per-label score cuts on a labelled dataset and print the table the filter defaults come from.

``python -m deploy.dev.tune_filters [--dataset DIR] [--model M] [--size N] [--labels person,car,...]``

The real detector runs once per image at a low confidence floor; each detection is matched greedily
(by descending score) to an unmatched ground-truth box of its label at IoU >= 0.5.  On a still image
a track's median score is its detection's score, so a cut ``c`` stands for both filters: a *confirmed
track* is a detection scoring >= c.  For every cut the table gives precision (confirmed tracks that
are real objects) and recall (real objects that get a confirmed track).

Chosen per label (printed last, and copied into ``edgecam/tracking/filters.py``):

* ``threshold``: the lowest cut whose confirmed tracks are at least 90 % real objects (at most one
  false alarm in ten), keeping all the recall that allows;
* ``min_score``: the lowest cut whose detections are at least 80 % real (below it, a detection is
  junk more than one time in five and is dropped before it can feed a track).

A cut at the floor (0.25) means "no filter needed" and is left out of the defaults.

Labels with fewer than ``--min-objects`` (40) labelled objects get no default: too few to measure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATASET = REPO.parent / "shared" / "datasets" / "coco128_train2017"
LABELS = ("person", "car", "dog", "cat", "bicycle", "motorcycle", "truck", "bird")
CUTS = np.round(np.arange(0.25, 0.851, 0.05), 2)


def match(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: detection i (in any order) is a true positive, matched greedily by descending score."""
    from edgecam.tracking.matching import iou_matrix

    tp = np.zeros(len(det_scores), bool)
    if len(det_scores) == 0 or len(gt_boxes) == 0:
        return tp
    iou = iou_matrix(det_boxes, gt_boxes)
    used = np.zeros(len(gt_boxes), bool)
    for i in np.argsort(-det_scores, kind="stable"):
        candidates = np.where(used, -1.0, iou[i])
        j = int(np.argmax(candidates))
        if candidates[j] >= 0.5:
            used[j] = tp[i] = True
    return tp


def collect(dataset: Path, model: str, size: int, threads: int, floor: float, labels: tuple[str, ...]):
    """Per label: all detection scores, whether each is a true positive, and the number of labelled objects."""
    from edgecam.detectors.ncnn_detector import NcnnDetector
    from edgecam.detectors.settings import DetectorSettings
    from edgecam.evaluation.coco import list_images, read_labels
    from edgecam.sources.imagefile import read_image

    det = NcnnDetector.from_settings(DetectorSettings(path=model, size=size, threads=threads, conf=floor))
    names = list(det.class_names)
    scores = {label: [] for label in labels}
    hits = {label: [] for label in labels}
    objects = {label: 0 for label in labels}
    try:
        for path in list_images(dataset):
            image = read_image(path, 50_000_000, "dataset image")
            h, w = image.shape[:2]
            gt_boxes, gt_ids = read_labels(dataset / "labels" / (path.stem + ".txt"), w, h)
            found = det.detect(image, "BGR", floor).detections
            for label in labels:
                cid = names.index(label)
                mine = found.class_ids == cid
                truth = gt_boxes[gt_ids == cid]
                objects[label] += len(truth)
                scores[label] += found.scores[mine].tolist()
                hits[label] += match(found.boxes[mine], found.scores[mine], truth).tolist()
    finally:
        det.close()
    return ({k: np.asarray(v) for k, v in scores.items()}, {k: np.asarray(v, bool) for k, v in hits.items()}, objects)


def curve(scores: np.ndarray, hits: np.ndarray, objects: int) -> list[tuple[float, float, float]]:
    """(cut, precision, recall) for every cut."""
    out = []
    for c in CUTS:
        kept = scores >= c
        tp = int((hits & kept).sum())
        n = int(kept.sum())
        out.append((float(c), tp / n if n else 1.0, tp / objects if objects else 0.0))
    return out


def lowest_cut(points: list[tuple[float, float, float]], precision: float) -> float:
    """The lowest cut from which on precision stays >= ``precision``."""
    ok = [c for c, p, _ in points if all(q >= precision for cc, q, _ in points if cc >= c)]
    return float(min(ok)) if ok else float(CUTS[-1])


def choose(points: list[tuple[float, float, float]]) -> tuple[float, float]:
    threshold = lowest_cut(points, 0.9)
    return min(lowest_cut(points, 0.8), threshold), threshold


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--model", default="yolov5ss")
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--floor", type=float, default=0.2, help="detector confidence floor")
    ap.add_argument("--labels", default=",".join(LABELS))
    ap.add_argument("--min-objects", type=int, default=40)
    args = ap.parse_args(argv)
    labels = tuple(x.strip() for x in args.labels.split(",") if x.strip())
    scores, hits, objects = collect(args.dataset, args.model, args.size, args.threads, args.floor, labels)
    print(f"dataset {args.dataset.name}, model {args.model} at {args.size}; precision / recall of confirmed tracks "
          "(detections scoring >= cut, IoU >= 0.5)\n")
    print("| label | objects | " + " | ".join(f"{c:.2f}" for c in CUTS) + " |")
    print("|---|---:|" + "---|" * len(CUTS))
    chosen = {}
    for label in labels:
        points = curve(scores[label], hits[label], objects[label])
        print(f"| {label} | {objects[label]} | " + " | ".join(f"{p:.2f}/{r:.2f}" for _, p, r in points) + " |")
        if objects[label] >= args.min_objects and hits[label].any():
            chosen[label] = choose(points)
    print("\nchosen (min_score, threshold):")
    for label, (m, t) in chosen.items():
        p, r = next((p, r) for c, p, r in curve(scores[label], hits[label], objects[label]) if c == t)
        pm, rm = next((p, r) for c, p, r in curve(scores[label], hits[label], objects[label]) if c == m)
        print(f"  {label:10s} min_score={m:.2f} (P {pm:.2f} R {rm:.2f})  threshold={t:.2f} (P {p:.2f} R {r:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
