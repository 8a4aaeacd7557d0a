"""Where the live view puts each box's label so labels do not pile on top of each other.

Greedy, in the order given (the caller puts the most important first): each label tries above its
box, inside its box's top edge, below its box, then steps further down its box until it overlaps no
label placed before it; a label that fits nowhere takes its first spot.  A crowd of a few dozen boxes
costs one small (placed × candidates) array test per label on the encoder thread, never the pipeline.
"""

from __future__ import annotations

import numpy as np


def place_labels(boxes: np.ndarray, sizes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,2) int top-left corners for labels of ``sizes`` (N,2: w,h) at ``boxes`` (N,4 x0,y0,x1,y1),
    each inside the ``width`` × ``height`` picture and, where possible, overlapping no earlier label."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    sizes = np.asarray(sizes, np.float64).reshape(-1, 2)
    placed = np.zeros((0, 4), np.float64)  # x0, y0, x1, y1 of the labels placed so far
    out = np.zeros((len(boxes), 2), np.int64)
    for i, ((x0, y0, x1, y1), (w, h)) in enumerate(zip(boxes, sizes)):
        x = min(max(0.0, x0), max(0.0, width - w))
        steps = np.arange(0.0, max(y1 - y0, 0.0), h)  # down the box, one label height at a time
        ys = np.concatenate(([y0 - h, y0, y1], y0 + h + steps))
        ys = np.clip(ys, 0.0, max(0.0, height - h))
        cand = np.stack((np.full_like(ys, x), ys, np.full_like(ys, x + w), ys + h), axis=1)
        if len(placed):
            overlap = ((cand[:, None, 0] < placed[None, :, 2]) & (placed[None, :, 0] < cand[:, None, 2])
                       & (cand[:, None, 1] < placed[None, :, 3]) & (placed[None, :, 1] < cand[:, None, 3]))
            free = np.flatnonzero(~overlap.any(axis=1))
            k = int(free[0]) if free.size else 0
        else:
            k = 0
        placed = np.vstack((placed, cand[k]))
        out[i] = np.round(cand[k, :2])
    return out
