"""One tracked object: its box, label, score history, and the state of the last event it sent."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edgecam.tracking.matching import iou_pairs


@dataclass(slots=True, eq=False)
class Track:
    """A live track, tentative until it has an ``id`` (given when it is confirmed).

    Scores are kept as float32, as the detector produces them, so medians and deltas are computed
    at the precision the events report."""

    label: str
    label_id: int
    box: np.ndarray  # (4,) float64 x0, y0, x1, y1
    zones: np.ndarray  # (Z,) bool: inside each zone
    start: float
    scores: deque  # the last ``history`` scores (float32)
    id: str | None = None
    hits: int = 1
    missed: int = 0
    last_seen: float = 0.0
    top: np.float32 = field(default_factory=lambda: np.float32(0.0))
    # state at the last event sent, to decide when an 'update' is due
    ev_time: float = 0.0
    ev_top: np.float32 = field(default_factory=lambda: np.float32(0.0))
    ev_median: np.float32 = field(default_factory=lambda: np.float32(0.0))
    ev_box: np.ndarray = field(default_factory=lambda: np.zeros(4))
    ev_zones: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    _median: np.float32 | None = field(default=None, repr=False)  # of ``scores``; None when it changed

    @classmethod
    def start_from(cls, box, score, label: str, label_id: int, zones: np.ndarray, now: float,
                   history: int) -> "Track":
        score = np.float32(score)
        return cls(label, int(label_id), np.asarray(box, np.float64).copy(), zones.copy(), now,
                   deque([score], maxlen=history), last_seen=now, top=score)

    @property
    def confirmed(self) -> bool:
        return self.id is not None

    def observe(self, box, score, zones: np.ndarray, now: float) -> None:
        """Seen again in this frame."""
        score = np.float32(score)
        self.box = np.asarray(box, np.float64).copy()
        self.hits += 1
        self.missed = 0
        self.last_seen = now
        self.scores.append(score)
        self._median = None
        self.top = max(self.top, score)
        self.zones = zones.copy()

    def median(self) -> np.float32:
        """Median of the kept scores (float32 arithmetic); computed once per change of the scores."""
        if self._median is None:
            ordered = sorted(self.scores)
            k = len(ordered)
            self._median = np.float32((ordered[(k - 1) // 2] + ordered[k // 2]) * np.float32(0.5))
        return self._median

    def mark_event(self, now: float, median: np.float32) -> None:
        self.ev_time, self.ev_top, self.ev_median = now, self.top, median
        self.ev_box, self.ev_zones = self.box.copy(), self.zones.copy()

    def update_due(self, now: float, median: np.float32, min_interval_s: float, interval_s: float,
                   score_delta: float, box_iou: float) -> bool:
        """A confirmed track seen in this frame: has it changed enough since its last event?"""
        age = now - self.ev_time
        if age < min_interval_s:
            return False
        if (self.zones != self.ev_zones).any():
            return True
        if self.top - self.ev_top >= score_delta and self.top > self.ev_top:
            return True
        if age < interval_s:
            return False
        moved = iou_pairs(self.box[None], self.ev_box[None])[0] < box_iou
        return bool(moved or (abs(median - self.ev_median) >= score_delta and median != self.ev_median))
