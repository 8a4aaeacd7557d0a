"""IoU tracker and the object lifecycle (``new`` / ``update`` / ``end`` events).

Lifecycle rules:

* Detections whose bottom-centre lies in a mask are dropped first (and, with ``only_in_zones``,
  those in no zone; with ``labels``, those of other labels).
* Tracks and detections of the same label are paired greedily by descending IoU (>= ``iou``).
  Unmatched detections start *tentative* tracks.
* A track is *confirmed* once it has been seen in ``min_hits`` frames; only confirmed tracks emit
  events, are counted and appear in ``tracks``, so a one-frame false positive never reaches a
  subscriber.  A tentative track survives ``tentative_max_missed`` missed frames (so flickering
  detections can still confirm), then disappears silently.
* A confirmed track ends when it has been missed in more than ``max_missed`` consecutive frames;
  its ``end`` event carries ``end_time`` = the time it was last seen.  ``flush()`` ends them all.
* ``update`` rule: a confirmed track seen in this frame, whose last event is at least
  ``update_min_interval_s`` old, emits an ``update`` when its zones changed or its top score rose
  by ``update_score_delta`` since the last event; or, once the last event is ``update_interval_s``
  old, when its box moved (IoU with the last event's box below ``update_box_iou``) or its median
  score drifted by ``update_score_delta``.  Changes are measured against the last event sent, so
  rate limiting delays a change but never loses it.
* Event ids are ``"<start time, 3 decimals>-<8 random hex>"``: stable for a track's life, unique
  across restarts.  ``score`` is the median of the track's last ``score_history`` scores.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from edgecam.domain import Detections, Event, TrackView
from edgecam.tracking.matching import greedy_match, iou_matrix, iou_pairs
from edgecam.tracking.regions import Regions, bottom_centres
from edgecam.tracking.settings import MaskSettings, TrackerSettings, ZoneSettings
from edgecam.tracking.table import TrackTable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrackerOutput:
    """What one tracker step produced.

    ``tracks``: confirmed live tracks. ``counts``: confirmed live tracks per label, for every label
    ever confirmed (zeros included). ``zone_counts``: the same per ``(zone, label)``, including every
    label a zone lists. ``detections``: this frame's detections after masks/zone/label filtering
    (only those of confirmed tracks when ``publish_detections = "confirmed"``).
    """

    events: tuple[Event, ...]
    tracks: tuple[TrackView, ...]
    counts: dict[str, int] = field(default_factory=dict)
    zone_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    detections: Detections = field(default_factory=Detections.empty)


def _label_array(det: Detections) -> np.ndarray:
    names = det.class_names
    ids = np.asarray(det.class_ids, np.int64)
    out = np.empty(ids.shape[0], dtype=object)
    if ids.shape[0] == 0:
        return out
    valid = (ids >= 0) & (ids < len(names))
    if names:
        out[valid] = np.asarray(names, dtype=object)[ids[valid]]
    if not valid.all():
        out[~valid] = [str(i) for i in ids[~valid].tolist()]
    return out


class IouTracker:
    def __init__(
        self,
        settings: TrackerSettings | None = None,
        zones: Sequence[ZoneSettings] = (),
        masks: Sequence[MaskSettings] = (),
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings or TrackerSettings()
        self.settings.validate()
        self._regions = Regions(zones, masks)
        self._clock = clock or time.time
        self._table = TrackTable(len(self._regions.zone_names), self.settings.score_history)
        self._label_filter = np.asarray(self.settings.labels, dtype=object)
        self._counts: dict[str, int] = {}
        self._zone_counts: dict[tuple[str, str], int] = {
            (zone, label): 0
            for zone, labels in zip(self._regions.zone_names, self._regions.zone_labels)
            for label in labels
        }
        self._live_ids: set[str] = set()

    @property
    def zone_names(self) -> tuple[str, ...]:
        return self._regions.zone_names

    @property
    def has_live_tracks(self) -> bool:
        """True while any track (tentative or confirmed) is alive, e.g. to keep motion gating open."""
        return len(self._table) > 0

    # -- one frame -----------------------------------------------------------------------------
    def update(
        self,
        detections: Detections,
        timestamp: float | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> TrackerOutput:
        s = self.settings
        now = float(self._clock() if timestamp is None else timestamp)
        det, labels, det_zones = self._filter(detections, width, height)
        t = self._table

        # Match existing tracks to detections of the same label.
        iou = iou_matrix(t.boxes, det.boxes)
        if iou.size:
            iou[t.labels[:, None] != labels[None, :]] = 0.0
        rows, cols = greedy_match(iou, s.iou)
        seen = np.zeros(len(t), bool)
        seen[rows] = True
        t.observe(rows, det.boxes[cols], det.scores[cols], det_zones[cols], now)
        t.missed[~seen] += 1

        # End confirmed tracks missed too long; drop stale tentative ones silently.
        ended = t.confirmed & (t.missed > s.max_missed)
        stale = ~t.confirmed & (t.missed > s.tentative_max_missed)
        medians = t.medians()
        events: list[Event] = [
            self._event("end", t, i, medians, end_time=float(t.last_seen[i])) for i in np.flatnonzero(ended)
        ]
        self._live_ids.difference_update(t.ids[ended].tolist())
        alive = ~(ended | stale)
        t.keep(alive)
        medians = medians[alive]
        matched_det = np.zeros(len(det), bool)
        matched_det[cols] = True
        det_row = np.full(len(det), -1, np.int64)
        det_row[cols] = np.cumsum(alive)[rows] - 1  # rows are never dropped (missed == 0)

        # Unmatched detections start tentative tracks.
        unmatched = np.flatnonzero(~matched_det)
        new_rows = t.add(det.boxes[unmatched], det.scores[unmatched], labels[unmatched],
                         det.class_ids[unmatched], det_zones[unmatched], now)
        det_row[unmatched] = new_rows
        medians = np.concatenate((medians, det.scores[unmatched].astype(np.float32)))

        # Confirmation -> 'new'.
        confirm = ~t.confirmed & (t.hits >= s.min_hits)
        for i in np.flatnonzero(confirm):
            t.ids[i] = self._new_id(float(t.start[i]))
        t.confirmed |= confirm
        events += [self._event("new", t, i, medians) for i in np.flatnonzero(confirm)]
        t.mark_event(confirm, now, medians)

        # Notable changes -> 'update'.
        due = self._updates_due(t, medians, now, seen_rows=det_row[matched_det], confirm=confirm)
        events += [self._event("update", t, i, medians) for i in np.flatnonzero(due)]
        t.mark_event(due, now, medians)

        if s.publish_detections == "confirmed":
            det = det.select(t.confirmed[det_row]) if len(det) else det
        return self._output(tuple(events), medians, det)

    def flush(self, timestamp: float | None = None) -> TrackerOutput:
        """End every live confirmed track (``end`` events) and forget all tracks; for shutdown."""
        t = self._table
        medians = t.medians()
        events = tuple(
            self._event("end", t, i, medians, end_time=float(t.last_seen[i])) for i in np.flatnonzero(t.confirmed)
        )
        t.clear()
        self._live_ids.clear()
        return self._output(events, t.medians(), Detections.empty())

    # -- internals -----------------------------------------------------------------------------
    def _filter(self, det: Detections, width: int | None, height: int | None):
        labels = _label_array(det)
        keep = np.ones(len(det), bool)
        if self._label_filter.size and len(det):
            keep &= np.isin(labels, self._label_filter)
        points = bottom_centres(det.boxes)
        if self._regions.has_masks and len(det):
            keep &= ~self._regions.masked(points, labels, width, height)
        zones = self._regions.membership(points, labels, width, height)
        if self.settings.only_in_zones and self._regions.zone_names:
            keep &= zones.any(axis=1)
        if not keep.all():
            det, labels, zones = det.select(keep), labels[keep], zones[keep]
        return det, labels, zones

    def _updates_due(self, t: TrackTable, medians: np.ndarray, now: float, seen_rows: np.ndarray,
                     confirm: np.ndarray) -> np.ndarray:
        s = self.settings
        seen = np.zeros(len(t), bool)
        seen[seen_rows] = True
        age = now - t.ev_time
        eligible = t.confirmed & seen & ~confirm & (age >= s.update_min_interval_s)
        if not eligible.any():
            return eligible
        delta = s.update_score_delta
        zones_changed = (t.zones != t.ev_zones).any(axis=1)
        top_rose = (t.top - t.ev_top >= delta) & (t.top > t.ev_top)
        drift_due = age >= s.update_interval_s
        moved = iou_pairs(t.boxes, t.ev_box) < s.update_box_iou
        median_drift = (np.abs(medians - t.ev_median) >= delta) & (medians != t.ev_median)
        return eligible & (zones_changed | top_rose | (drift_due & (moved | median_drift)))

    def _new_id(self, start: float) -> str:
        while True:
            track_id = f"{start:.3f}-{secrets.token_hex(4)}"
            if track_id not in self._live_ids:
                self._live_ids.add(track_id)
                return track_id

    def _zones_of(self, t: TrackTable, i: int) -> tuple[str, ...]:
        names = self._regions.zone_names
        return tuple(names[z] for z in np.flatnonzero(t.zones[i]))

    def _event(self, kind: str, t: TrackTable, i: int, medians: np.ndarray, end_time: float | None = None) -> Event:
        return Event(
            type=kind,  # type: ignore[arg-type]
            id=str(t.ids[i]),
            label=str(t.labels[i]),
            score=float(medians[i]),
            top_score=float(t.top[i]),
            box=tuple(float(v) for v in t.boxes[i]),  # type: ignore[arg-type]
            start_time=float(t.start[i]),
            end_time=end_time,
            zones=self._zones_of(t, i),
        )

    def _output(self, events: tuple[Event, ...], medians: np.ndarray, det: Detections) -> TrackerOutput:
        t = self._table
        conf = np.flatnonzero(t.confirmed)
        tracks = tuple(
            TrackView(
                id=str(t.ids[i]),
                label=str(t.labels[i]),
                box=tuple(float(v) for v in t.boxes[i]),  # type: ignore[arg-type]
                score=float(medians[i]),
                zones=self._zones_of(t, i),
            )
            for i in conf
        )
        for label in self._counts:
            self._counts[label] = 0
        if conf.size:
            names, counts = np.unique(t.labels[conf].astype(str), return_counts=True)
            self._counts.update(zip(names.tolist(), counts.tolist()))
        for key in self._zone_counts:
            self._zone_counts[key] = 0
        for z, zone in enumerate(self._regions.zone_names):
            in_zone = t.labels[conf][t.zones[conf, z]]
            if in_zone.size:
                names, counts = np.unique(in_zone.astype(str), return_counts=True)
                self._zone_counts.update(((zone, n), c) for n, c in zip(names.tolist(), counts.tolist()))
        return TrackerOutput(events, tracks, dict(self._counts), dict(self._zone_counts), det)
