"""YOLOv5 head decoding and NMS, vectorized in numpy; shared by every detector backend.

Outputs are raw logits.  Per head: xy = (σ·2 − 0.5 + grid)·stride, wh = (σ·2)²·anchor,
score = σ(obj)·σ(cls).  Rows are first filtered on objectness in logit space (obj ≥ conf is
necessary for obj·cls ≥ conf), so only a few hundred of the ~25k rows at 640 are decoded.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgecam.bundles.manifest import HeadSpec
from edgecam.errors import ModelError


@dataclass(frozen=True, slots=True)
class Candidates:
    boxes: np.ndarray  # (N,4) x0,y0,x1,y1 in network-input pixels
    scores: np.ndarray  # (N,)
    class_ids: np.ndarray  # (N,) int32


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def _row_length(output: np.ndarray, head: HeadSpec, in_w: int, in_h: int) -> int:
    """Values per anchor row (5 + classes); ModelError when the output cannot be a YOLOv5 head at this size."""
    gh, gw = in_h // head.stride, in_w // head.stride
    cells = len(head.anchors) * gh * gw
    no = output.size // cells if cells else 0
    if no < 6 or no * cells != output.size:
        raise ModelError(
            f"output {head.blob!r} holds {output.size} values, not {len(head.anchors)} anchors × {gh}×{gw} cells × "
            f"(5 + classes) at input {in_w}×{in_h}; the model's head does not match its manifest — re-export the model"
        )
    return no


def head_rows(output: np.ndarray, head: HeadSpec, in_w: int, in_h: int, no: int) -> np.ndarray:
    """View one head's output as (na, gh*gw, no) rows whatever its layout."""
    na = len(head.anchors)
    gh, gw = in_h // head.stride, in_w // head.stride
    if head.layout == "chw":
        return output.reshape(na, no, gh * gw).transpose(0, 2, 1)
    return output.reshape(na, gh * gw, no)


@functools.lru_cache(maxsize=32)
def _cell_table(heads: tuple[HeadSpec, ...], in_w: int, in_h: int) -> np.ndarray:
    """Per anchor row of every head, in decode order: grid x, grid y, stride, anchor w, anchor h.

    Built once per input geometry, so decoding looks the few candidates up instead of deriving
    them per head and per frame."""
    tables = []
    for head in heads:
        gh, gw = in_h // head.stride, in_w // head.stride
        cell = np.arange(gh * gw)
        for aw, ah in head.anchors:
            t = np.empty((gh * gw, 5), np.float32)
            t[:, 0], t[:, 1], t[:, 2], t[:, 3], t[:, 4] = cell % gw, cell // gw, head.stride, aw, ah
            tables.append(t)
    return np.concatenate(tables)


def decode(
    outputs: Sequence[np.ndarray],
    heads: Sequence[HeadSpec],
    in_w: int,
    in_h: int,
    conf: float,
    class_mask: np.ndarray | None = None,
    multi_label: bool = False,
) -> Candidates:
    """Decode all heads into candidate boxes with score ≥ ``conf`` (before NMS).

    ``class_mask`` (num_classes,) bool keeps only those classes.  ``multi_label`` emits one
    candidate per class above ``conf`` (used for mAP evaluation) instead of the best class only.
    The rows that pass the objectness test are gathered from every head first and decoded together
    (a frame costs the same few numpy calls however many heads and candidates it has).
    """
    obj_thr = _logit(conf)
    picked, where, base = [], [], 0
    for out, head in zip(outputs, heads):
        no = _row_length(out, head, in_w, in_h)
        rows = head_rows(out, head, in_w, in_h, no)  # (na, cells, no)
        a_idx, cell = np.nonzero(rows[..., 4] > obj_thr)
        if a_idx.size:
            picked.append(rows[a_idx, cell])
            where.append(base + a_idx * rows.shape[1] + cell)
        base += rows.shape[0] * rows.shape[1]
    if not picked:
        return Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))
    sel = np.concatenate(picked) if len(picked) > 1 else picked[0]
    tab = _cell_table(tuple(heads), in_w, in_h)[np.concatenate(where) if len(where) > 1 else where[0]]
    sig = 1.0 / (1.0 + np.exp(-sel.astype(np.float32, copy=False)))
    xy = (sig[:, 0:2] * 2.0 - 0.5 + tab[:, 0:2]) * tab[:, 2:3]
    half_wh = (sig[:, 2:4] * 2.0) ** 2 * tab[:, 3:5] * 0.5
    cls = sig[:, 5:] * sig[:, 4:5]
    if class_mask is not None:
        cls *= class_mask
    boxes = np.concatenate([xy - half_wh, xy + half_wh], axis=1)
    if multi_label:
        r, c = np.nonzero(cls > conf)
        return Candidates(boxes[r], cls[r, c], c.astype(np.int32))
    c = cls.argmax(axis=1)
    s = np.take_along_axis(cls, c[:, None], axis=1)[:, 0]
    keep = s > conf
    return Candidates(boxes[keep], s[keep], c[keep].astype(np.int32))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) x0,y0,x1,y1 boxes → (N,M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou: float,
    max_det: int = 300,
    max_candidates: int = 30000,
) -> np.ndarray:
    """Class-aware greedy NMS; returns indices of kept boxes, best score first.

    Boxes of different classes never suppress each other.  OpenCV's ``NMSBoxesBatched`` does the
    greedy loop in C++ (the same rule: best score first, ties in input order, drop a box whose IoU
    with a kept box of its class is above ``iou``); a numpy loop cost 15 µs per kept box.
    """
    import cv2

    if scores.size == 0:
        return np.zeros(0, np.intp)
    xywh = np.empty((scores.size, 4), np.float64)
    xywh[:, :2] = boxes[:, :2]
    xywh[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    keep = cv2.dnn.NMSBoxesBatched(xywh, scores.astype(np.float32, copy=False),
                                   class_ids.astype(np.int32, copy=False), -np.inf, iou, top_k=max_candidates)
    return np.asarray(keep, np.intp).reshape(-1)[:max_det]
