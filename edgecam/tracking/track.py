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
    ev_stationary: bool = False
    stationary: bool = False
    positions: deque = field(default_factory=deque)  # (time, box) samples for the stationary test
    zone_since: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (Z,) entered each zone at; NaN: outside
    _median: np.float32 | None = field(default=None, repr=False)  # of ``scores``; None when it changed

    @classmethod
    def start_from(cls, box, score, label: str, label_id: int, zones: np.ndarray, now: float,
                   history: int, min_s: np.ndarray | None = None) -> "Track":
        score = np.float32(score)
        box = np.asarray(box, np.float64).copy()
        track = cls(label, int(label_id), box, zones.copy(), now, deque([score], maxlen=history), last_seen=now,
                    top=score, zone_since=np.full(zones.shape[0], np.nan), positions=deque([(now, box)]))
        track.place(zones, now, min_s)
        return track

    @property
    def confirmed(self) -> bool:
        return self.id is not None

    def observe(self, box, score, now: float) -> None:
        """Seen again in this frame."""
        score = np.float32(score)
        self.box = np.asarray(box, np.float64).copy()
        self.hits += 1
        self.missed = 0
        self.last_seen = now
        self.scores.append(score)
        self._median = None
        self.top = max(self.top, score)

    def place(self, inside: np.ndarray, now: float, min_s: np.ndarray | None) -> None:
        """Its box is ``inside`` each zone now; it counts in a zone once it has been inside for ``min_s``."""
        if inside.size == 0:  # no zones configured
            self.zones = inside
            return
        since = np.where(inside, np.where(np.isnan(self.zone_since), now, self.zone_since), np.nan)
        self.zone_since = since
        if min_s is None or not min_s.any():
            self.zones = inside.copy()
        else:
            with np.errstate(invalid="ignore"):
                self.zones = inside & (now - since >= min_s)

    def settle(self, now: float, window_s: float, min_iou: float) -> None:
        """Seen at ``now``: stationary when its box overlaps its box ``window_s`` ago by ``min_iou``.

        Positions are sampled (and the test made) every ``window_s / 8``, so the box compared is 1 to
        1.125 windows old and the flag follows within an eighth of the window."""
        positions = self.positions
        if positions and now - positions[-1][0] < window_s / 8:
            return
        positions.append((now, self.box))
        cutoff = now - window_s
        while len(positions) >= 2 and positions[1][0] <= cutoff:
            positions.popleft()
        then, box = positions[0]
        self.stationary = bool(then <= cutoff and iou_pairs(self.box[None], box[None])[0] >= min_iou)

    def median(self) -> np.float32:
        """Median of the kept scores (float32 arithmetic); computed once per change of the scores."""
        if self._median is None:
            ordered = sorted(self.scores)
            k = len(ordered)
            self._median = np.float32((ordered[(k - 1) // 2] + ordered[k // 2]) * np.float32(0.5))
        return self._median

    def mark_event(self, now: float, median: np.float32) -> None:
        self.ev_time, self.ev_top, self.ev_median = now, self.top, median
        self.ev_box, self.ev_zones, self.ev_stationary = self.box.copy(), self.zones.copy(), self.stationary

    def update_due(self, now: float, median: np.float32, min_interval_s: float, interval_s: float,
                   score_delta: float, box_iou: float) -> bool:
        """A confirmed track seen in this frame: has it changed enough since its last event?"""
        age = now - self.ev_time
        if age < min_interval_s:
            return False
        if (self.zones != self.ev_zones).any() or self.stationary != self.ev_stationary:
            return True
        if self.top - self.ev_top >= score_delta and self.top > self.ev_top:
            return True
        if age < interval_s:
            return False
        moved = iou_pairs(self.box[None], self.ev_box[None])[0] < box_iou
        return bool(moved or (abs(median - self.ev_median) >= score_delta and median != self.ev_median))
