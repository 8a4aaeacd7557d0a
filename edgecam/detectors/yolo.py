"""YOLOv5 head decoding and NMS, vectorized in numpy; shared by every detector backend.

Outputs are raw logits.  Per head: xy = (σ·2 − 0.5 + grid)·stride, wh = (σ·2)²·anchor,
score = σ(obj)·σ(cls).  Rows are first filtered on objectness in logit space (obj ≥ conf is
necessary for obj·cls ≥ conf), so only a few hundred of the ~25k rows at 640 are decoded.
"""

from __future__ import annotations

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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


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
    """
    obj_thr = _logit(conf)
    all_boxes, all_scores, all_ids = [], [], []
    for out, head in zip(outputs, heads):
        no = _row_length(out, head, in_w, in_h)
        rows = head_rows(out, head, in_w, in_h, no)
        a_idx, cell = np.nonzero(rows[..., 4] > obj_thr)
        if a_idx.size == 0:
            continue
        sel = rows[a_idx, cell].astype(np.float32, copy=False)  # (k, no)
        gw = in_w // head.stride
        anchors = np.asarray(head.anchors, np.float32)[a_idx]
        xy = (_sigmoid(sel[:, 0:2]) * 2.0 - 0.5)
        xy[:, 0] += cell % gw
        xy[:, 1] += cell // gw
        xy *= head.stride
        wh = (_sigmoid(sel[:, 2:4]) * 2.0) ** 2 * anchors
        cls = _sigmoid(sel[:, 5:]) * _sigmoid(sel[:, 4:5])
        if class_mask is not None:
            cls *= class_mask
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
        if multi_label:
            r, c = np.nonzero(cls > conf)
            all_boxes.append(boxes[r])
            all_scores.append(cls[r, c])
            all_ids.append(c)
        else:
            c = cls.argmax(axis=1)
            s = cls[np.arange(c.size), c]
            keep = s > conf
            all_boxes.append(boxes[keep])
            all_scores.append(s[keep])
            all_ids.append(c[keep])
    if not all_boxes:
        return Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))
    return Candidates(
        np.concatenate(all_boxes).astype(np.float32, copy=False),
        np.concatenate(all_scores).astype(np.float32, copy=False),
        np.concatenate(all_ids).astype(np.int32, copy=False),
    )


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

    Boxes of different classes never suppress each other (they are offset apart per class).
    Each iteration keeps one box and drops, in one vectorized step, all that overlap it.
    """
    if scores.size == 0:
        return np.zeros(0, np.intp)
    order = np.argsort(-scores, kind="stable")[:max_candidates]
    span = float(np.max(boxes[order, 2:]) - min(np.min(boxes[order, :2]), 0.0)) + 1.0
    shifted = boxes[order] + (class_ids[order, None].astype(np.float32) * span)
    areas = np.prod(shifted[:, 2:] - shifted[:, :2], axis=1)
    keep: list[int] = []
    rest = np.arange(order.size)
    while rest.size and len(keep) < max_det:
        i = rest[0]
        keep.append(i)
        rest = rest[1:]
        if not rest.size:
            break
        lt = np.maximum(shifted[i, :2], shifted[rest, :2])
        rb = np.minimum(shifted[i, 2:], shifted[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        ovr = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        rest = rest[ovr <= iou]
    return order[np.asarray(keep, np.intp)]
