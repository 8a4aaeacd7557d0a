"""Box overlap and assignment, vectorized with numpy (no per-box Python loops).

Negative extents are floored with ``np.maximum(x, 0.0)`` (a ufunc call; ``np.clip`` goes through
Python-level wrappers and cost more than the arithmetic on these few boxes)."""

from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (M,4) with every box in ``b`` (N,4), x0,y0,x1,y1 → (M,N) float64."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(ix1 - ix0, 0.0) * np.maximum(iy1 - iy0, 0.0)
    area_a = np.maximum(a[:, 2] - a[:, 0], 0.0) * np.maximum(a[:, 3] - a[:, 1], 0.0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0.0, inter / union, 0.0)
    return iou


def iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of ``a[i]`` with ``b[i]`` (both (N,4)) → (N,)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.maximum(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0)
    ih = np.maximum(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0)
    inter = iw * ih
    union = (
        np.maximum(a[:, 2] - a[:, 0], 0.0) * np.maximum(a[:, 3] - a[:, 1], 0.0)
        + np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
        - inter
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0.0, inter / union, 0.0)


def greedy_match(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair rows with columns by descending score, each used at most once, scores >= ``threshold``.

    Returns ``(rows, cols)`` int arrays of equal length.  Candidate pairs are sorted once; the
    single pass over them only visits pairs above the threshold (at most M×N, usually a handful).
    """
    scores = np.asarray(scores, np.float64)
    if scores.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    # A zero-overlap pair is never a match, even with threshold 0.
    cand_r, cand_c = np.nonzero((scores >= threshold) & (scores > 0.0))
    if cand_r.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    order = np.argsort(-scores[cand_r, cand_c], kind="stable")
    cand_r, cand_c = cand_r[order], cand_c[order]
    row_used = np.zeros(scores.shape[0], bool)
    col_used = np.zeros(scores.shape[1], bool)
    rows: list[int] = []
    cols: list[int] = []
    limit = min(scores.shape)
    for r, c in zip(cand_r.tolist(), cand_c.tolist()):
        if row_used[r] or col_used[c]:
            continue
        row_used[r] = True
        col_used[c] = True
        rows.append(r)
        cols.append(c)
        if len(rows) == limit:
            break
    return np.asarray(rows, np.intp), np.asarray(cols, np.intp)
