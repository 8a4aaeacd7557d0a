"""Struct-of-arrays storage for live tracks, so the tracker updates all of them with numpy ops."""

from __future__ import annotations

import numpy as np

# name -> (dtype, trailing shape key); "Z" is the number of zones, "H" the score history length.
_COLUMNS: dict[str, tuple[object, tuple]] = {
    "ids": (object, ()),  # event id, None until confirmed
    "labels": (object, ()),
    "label_ids": (np.int32, ()),
    "boxes": (np.float64, (4,)),
    "hits": (np.int64, ()),
    "missed": (np.int64, ()),
    "confirmed": (bool, ()),
    "start": (np.float64, ()),
    "last_seen": (np.float64, ()),
    "scores": (np.float32, ("H",)),  # ring buffer, NaN where empty
    "n_scores": (np.int64, ()),
    "top": (np.float32, ()),
    "zones": (bool, ("Z",)),
    # state at the last event sent, to decide when an 'update' is due
    "ev_time": (np.float64, ()),
    "ev_top": (np.float32, ()),
    "ev_median": (np.float32, ()),
    "ev_box": (np.float64, (4,)),
    "ev_zones": (bool, ("Z",)),
}


class TrackTable:
    """Parallel arrays, one row per live track (tentative or confirmed)."""

    ids: np.ndarray
    labels: np.ndarray
    label_ids: np.ndarray
    boxes: np.ndarray
    hits: np.ndarray
    missed: np.ndarray
    confirmed: np.ndarray
    start: np.ndarray
    last_seen: np.ndarray
    scores: np.ndarray
    n_scores: np.ndarray
    top: np.ndarray
    zones: np.ndarray
    ev_time: np.ndarray
    ev_top: np.ndarray
    ev_median: np.ndarray
    ev_box: np.ndarray
    ev_zones: np.ndarray

    def __init__(self, n_zones: int, history: int) -> None:
        self._dims = {"Z": int(n_zones), "H": int(history)}
        self.clear()

    def _shape(self, n: int, tail: tuple) -> tuple:
        return (n, *(self._dims[t] if isinstance(t, str) else t for t in tail))

    def clear(self) -> None:
        for name, (dtype, tail) in _COLUMNS.items():
            setattr(self, name, np.zeros(self._shape(0, tail), dtype))

    def __len__(self) -> int:
        return int(self.hits.shape[0])

    def keep(self, mask: np.ndarray) -> None:
        for name in _COLUMNS:
            setattr(self, name, getattr(self, name)[mask])

    def add(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray,
        label_ids: np.ndarray,
        zones: np.ndarray,
        now: float,
    ) -> np.ndarray:
        """Append one tentative track per detection; returns the new rows' indices."""
        n = int(boxes.shape[0])
        start = len(self)
        if n == 0:
            return np.zeros(0, np.intp)
        new: dict[str, np.ndarray] = {}
        for name, (dtype, tail) in _COLUMNS.items():
            new[name] = np.zeros(self._shape(n, tail), dtype)
        new["ids"][:] = None
        new["labels"][:] = labels
        new["label_ids"][:] = label_ids
        new["boxes"][:] = boxes
        new["hits"][:] = 1
        new["start"][:] = now
        new["last_seen"][:] = now
        new["scores"][:] = np.nan
        new["scores"][:, 0] = scores
        new["n_scores"][:] = 1
        new["top"][:] = scores
        new["zones"][:] = zones
        for name, column in new.items():
            setattr(self, name, np.concatenate((getattr(self, name), column)))
        return np.arange(start, start + n)

    def observe(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, zones: np.ndarray, now: float) -> None:
        """Matched tracks ``rows`` were seen again with these boxes/scores/zone memberships."""
        self.boxes[rows] = boxes
        self.hits[rows] += 1
        self.missed[rows] = 0
        self.last_seen[rows] = now
        self.scores[rows, self.n_scores[rows] % self._dims["H"]] = scores
        self.n_scores[rows] += 1
        self.top[rows] = np.maximum(self.top[rows], scores)
        self.zones[rows] = zones

    def medians(self) -> np.ndarray:
        """Median of each track's kept scores (every track has at least one)."""
        if len(self) == 0:
            return np.zeros(0, np.float32)
        # np.sort puts the NaN (empty) slots last; pick the middle of the k filled ones per row.
        ordered = np.sort(self.scores, axis=1)
        k = np.minimum(self.n_scores, self._dims["H"])[:, None]
        lo = np.take_along_axis(ordered, (k - 1) // 2, axis=1)
        hi = np.take_along_axis(ordered, k // 2, axis=1)
        return ((lo + hi) * 0.5)[:, 0].astype(np.float32)

    def mark_event(self, rows: np.ndarray, now: float, medians: np.ndarray) -> None:
        self.ev_time[rows] = now
        self.ev_top[rows] = self.top[rows]
        self.ev_median[rows] = medians[rows]
        self.ev_box[rows] = self.boxes[rows]
        self.ev_zones[rows] = self.zones[rows]
