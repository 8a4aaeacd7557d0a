"""COCO mAP from per-image matches, so subsets and bootstrap resamples cost no new inference.

pycocotools matches detections to ground truth *within one image and one category* (greedy, by
score, at ten IoU thresholds), then accumulates precision/recall over all images of a category.
Only the accumulation depends on which images are in the set.  :func:`match_image` does the
per-image part once (as ``COCOeval.evaluateImg``: detections sorted by score, top 100 per category,
each takes the best still-unmatched ground truth with IoU ≥ t); :func:`coco_map` does the
accumulation for any integer *weight* per image (``COCOeval.accumulate`` + ``summarize``: 101 recall
points, precision envelope, mean over the categories that have ground truth).  Weight 1 on every
image reproduces pycocotools; weight k counts an image k times, which is what a bootstrap resample
(images drawn with replacement) needs.

:func:`paired_interval` compares two models on the *same* resamples (:func:`resample_weights`,
:func:`bootstrap_maps`), so the spread of their mAP difference reflects which images were drawn, not
the (much larger) spread of either mAP alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100  # pycocotools' maxDets for mAP@.5:.95 (per image and category)


@dataclass(frozen=True)
class ImageMatches:
    """One image's detections after per-category matching, and its ground-truth count per category."""

    class_ids: np.ndarray  # (D,) int
    scores: np.ndarray  # (D,) float
    tp: np.ndarray  # (D, 10) bool: matched at each IoU threshold
    gt_counts: np.ndarray  # (num_classes,) int


def _iou(dt: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of x0,y0,x1,y1 boxes, (D, G), as pycocotools' bbox iou (no +1, 0 without overlap)."""
    dt, gt = dt.astype(np.float64), gt.astype(np.float64)
    iw = np.minimum(dt[:, None, 2], gt[None, :, 2]) - np.maximum(dt[:, None, 0], gt[None, :, 0])
    ih = np.minimum(dt[:, None, 3], gt[None, :, 3]) - np.maximum(dt[:, None, 1], gt[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    da = (dt[:, 2] - dt[:, 0]) * (dt[:, 3] - dt[:, 1])
    ga = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    union = da[:, None] + ga[None, :] - inter
    return np.where(inter > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_image(gt_boxes: np.ndarray, gt_classes: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                class_ids: np.ndarray, num_classes: int) -> ImageMatches:
    thr = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)
    out_c, out_s, out_tp = [], [], []
    gt_classes = np.asarray(gt_classes, np.int64)
    class_ids = np.asarray(class_ids, np.int64)
    for c in np.unique(class_ids):
        sel = np.flatnonzero(class_ids == c)
        order = sel[np.argsort(-np.asarray(scores, np.float64)[sel], kind="mergesort")][:MAX_DETS]
        g = np.asarray(gt_boxes)[gt_classes == c]
        tp = np.zeros((len(order), len(thr)), bool)
        if len(g):
            ious = _iou(np.asarray(boxes)[order], g)
            taken = np.zeros((len(thr), len(g)), bool)
            for d in range(len(order)):
                cand = np.where(taken, -1.0, ious[d][None, :])  # (T, G)
                best = len(g) - 1 - np.argmax(cand[:, ::-1], axis=1)  # pycocotools keeps the last of equal IoUs
                ok = cand[np.arange(len(thr)), best] >= thr
                tp[d] = ok
                taken[np.flatnonzero(ok), best[ok]] = True
        out_c.append(np.full(len(order), c))
        out_s.append(np.asarray(scores, np.float64)[order])
        out_tp.append(tp)
    counts = (np.bincount(gt_classes, minlength=num_classes)[:num_classes] if len(gt_classes)
              else np.zeros(num_classes, np.int64))
    if not out_c:
        return ImageMatches(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, len(thr)), bool), counts)
    return ImageMatches(np.concatenate(out_c), np.concatenate(out_s), np.concatenate(out_tp), counts)


class MatchSet:
    """Matches of one model on a list of images, concatenated once for fast re-weighting."""

    def __init__(self, images: list[ImageMatches]) -> None:
        if not images:
            raise ValueError("no images to score")
        self.n = len(images)
        self.gt_counts = np.stack([m.gt_counts for m in images]).astype(np.float64)  # (N, C)
        img = np.concatenate([np.full(len(m.scores), i) for i, m in enumerate(images)])
        cls = np.concatenate([m.class_ids for m in images])
        scores = np.concatenate([m.scores for m in images])
        tp = np.concatenate([m.tp for m in images])
        self.per_class: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for c in np.unique(cls):
            sel = np.flatnonzero(cls == c)  # image order, then score order within an image (as accumulate)
            order = sel[np.argsort(-scores[sel], kind="mergesort")]
            self.per_class[int(c)] = (img[order], tp[order])

    def coco_map(self, weights: np.ndarray | None = None) -> tuple[float, float]:
        """(mAP@.5:.95, mAP@.5) with image i counted ``weights[i]`` times (default: once)."""
        w = np.ones(self.n) if weights is None else np.asarray(weights, np.float64)
        npig = w @ self.gt_counts
        aps, aps50 = [], []
        for c in np.flatnonzero(npig > 0):
            q = np.zeros((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
            if int(c) in self.per_class:
                img, tp = self.per_class[int(c)]
                wd = w[img][:, None]
                tps = np.cumsum(wd * tp, axis=0)
                fps = np.cumsum(wd * ~tp, axis=0)
                rc = tps / npig[c]
                pr = tps / (tps + fps + np.spacing(1))
                pr = np.maximum.accumulate(pr[::-1], axis=0)[::-1]  # precision envelope
                nd = len(img)
                for t in range(len(IOU_THRESHOLDS)):
                    idx = np.searchsorted(rc[:, t], RECALL_POINTS, side="left")
                    ok = idx < nd
                    q[t, ok] = pr[idx[ok], t]
            aps.append(q.mean())
            aps50.append(q[0].mean())
        if not aps:
            raise ValueError("the images have no labelled objects; mAP is undefined")
        return float(np.mean(aps)), float(np.mean(aps50))


@dataclass(frozen=True)
class Interval:
    """A paired-bootstrap estimate of Δ = mAP(b) − mAP(a) on one image set."""

    delta: float  # on the images as they are
    low: float  # the (1−level)/2 quantile of the resampled Δ
    high: float
    lcb: float  # one-sided lower bound: the (1−level) quantile
    level: float
    samples: int
    images: int

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def resample_weights(n: int, samples: int, seed: int = 0) -> np.ndarray:
    """(samples, n) counts: each row draws n images with replacement."""
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(samples)]).astype(np.float64)


def bootstrap_maps(matches: MatchSet, weights: np.ndarray) -> np.ndarray:
    """mAP@.5:.95 on every resample (a row of ``weights``); compute once per model and reuse."""
    if weights.shape[1] != matches.n:
        raise ValueError(f"resample weights are for {weights.shape[1]} images, the matches for {matches.n}")
    return np.array([matches.coco_map(w)[0] for w in weights])


def paired_interval(base: float, base_samples: np.ndarray, cand: float, cand_samples: np.ndarray,
                    level: float, images: int) -> Interval:
    """Δ = cand − base with its bootstrap quantiles; both sample arrays come from the same resamples."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    deltas = np.asarray(cand_samples) - np.asarray(base_samples)
    lo, hi, lcb = np.quantile(deltas, [(1 - level) / 2, (1 + level) / 2, 1 - level])
    return Interval(float(cand - base), float(lo), float(hi), float(lcb), level, len(deltas), images)
