"""IoU tracker and the object lifecycle (``new`` / ``update`` / ``end`` events).

Lifecycle rules:

* Detections failing the per-label filters (``[filters]``: score, area, ratio; counted per reason
  in :meth:`IouTracker.stats`) are dropped first, then those whose bottom-centre lies in a mask (and,
  with ``only_in_zones``, those in no zone; with ``labels``, those of other labels).
* Tracks and detections of the same label are paired greedily by descending IoU (>= ``iou``).
  Unmatched detections start *tentative* tracks.
* A track is *confirmed* once it has been seen in ``min_hits`` frames and its median score reaches
  the label's ``threshold``; only confirmed tracks emit
  events, are counted and appear in ``tracks``, so a one-frame false positive never reaches a
  subscriber.  A tentative track survives ``tentative_max_missed`` missed frames (so flickering
  detections can still confirm), then disappears silently.
* A confirmed track ends when it has not been seen for more than ``max_missed_s`` seconds (frame
  timestamps), or ``stationary_hold_s`` if it was stationary when last seen: a parked car that is
  not detected for a while keeps its track and its count, and is matched again when it reappears
  in place.  Its ``end`` event carries ``end_time`` = the time it was last seen.  ``flush()`` ends
  them all.
* Stationary: a track seen in this frame whose box overlaps its box ``stationary_s`` ago by at
  least ``stationary_iou``.  A change of that flag is notable (an ``update``).
* Zones: a track counts in a zone once its bottom-centre has been inside for the zone's ``min_s``
  and it passes the zone's filters.  ``entered_zones`` / ``exited_zones`` of an event list the zones
  it started / stopped counting in since its previous event (every zone entered is exited by the
  ``end`` at the latest).
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

import dataclasses
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from edgecam.domain import Detections, Event, TrackView
from edgecam.tracking.filters import FilterSettings, LabelFilters
from edgecam.tracking.matching import greedy_match, iou_matrix
from edgecam.tracking.regions import Regions, bottom_centres
from edgecam.tracking.settings import MaskSettings, TrackerSettings, ZoneSettings
from edgecam.tracking.track import Track

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
    """The tracks live in a list of small :class:`Track` objects, in the order they were started."""

    def __init__(
        self,
        settings: TrackerSettings | None = None,
        zones: Sequence[ZoneSettings] = (),
        masks: Sequence[MaskSettings] = (),
        clock: Callable[[], float] | None = None,
        filters: FilterSettings | None = None,
    ) -> None:
        self.settings = settings or TrackerSettings()
        self.settings.validate()
        self._filters = LabelFilters(filters)
        self._below_threshold = 0
        self._clock = clock or time.time
        self._tracks: list[Track] = []
        self._label_filter = np.asarray(self.settings.labels, dtype=object)
        self._counts: dict[str, int] = {}
        self._zone_counts: dict[tuple[str, str], int] = {}
        self._use_regions(Regions(zones, masks), zones)
        self._live_ids: set[str] = set()
        self._next_regions: tuple[Regions, tuple[ZoneSettings, ...]] | None = None

    @property
    def zone_names(self) -> tuple[str, ...]:
        return self._regions.zone_names

    def set_regions(self, zones: Sequence[ZoneSettings], masks: Sequence[MaskSettings]) -> None:
        """New zone shapes/labels and masks, taken at the next frame (any thread may call this).

        The zone names must stay the same, in the same order (they name topics and Home Assistant
        entities, announced at start): a different set of names needs a restart."""
        regions = Regions(zones, masks)
        if regions.zone_names != self._regions.zone_names:
            raise ValueError(f"zone names changed ({', '.join(self._regions.zone_names) or 'none'} → "
                             f"{', '.join(regions.zone_names) or 'none'}); restart edgecam to apply them")
        self._next_regions = (regions, tuple(zones))

    def _use_regions(self, regions: Regions, zones: Sequence[ZoneSettings]) -> None:
        """The zones' shapes, masks, filters and ``min_s``; every zone × label is counted (0 until seen)."""
        self._regions = regions
        self._zone_filters = [LabelFilters(z.filters, builtin={}) for z in zones]
        self._zone_min_s = np.array([z.min_s for z in zones], np.float64)
        self._zone_thresholds: dict[str, np.ndarray] = {}  # per label, from _zone_filters
        for zone, labels in zip(regions.zone_names, regions.zone_labels):
            for label in labels:
                self._zone_counts.setdefault((zone, label), 0)

    def _apply_regions(self) -> None:
        (regions, zones), self._next_regions = self._next_regions, None  # type: ignore[misc]
        self._use_regions(regions, zones)

    @property
    def has_live_tracks(self) -> bool:
        """True while any track (tentative or confirmed) is alive, e.g. to keep motion gating open."""
        return bool(self._tracks)

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
        if self._next_regions is not None:  # zones/masks edited while running: applied between frames
            self._apply_regions()
        det, labels, det_zones = self._filter(detections, width, height)
        tracks = self._tracks

        # Match existing tracks to detections of the same label.
        iou = iou_matrix(np.array([t.box for t in tracks]).reshape(-1, 4), det.boxes)
        if iou.size:
            iou[np.array([t.label for t in tracks], dtype=object)[:, None] != labels[None, :]] = 0.0
        rows, cols = greedy_match(iou, s.iou)
        track_of: dict[int, Track] = {}  # detection index → its track
        for r, c in zip(rows.tolist(), cols.tolist()):
            t = tracks[r]
            t.observe(det.boxes[c], det.scores[c], now)
            t.place(self._zone_gate(t, det_zones[c]), now, self._zone_min_s)
            t.settle(now, s.stationary_s, s.stationary_iou)
            track_of[c] = t
        seen = set(map(id, track_of.values()))
        for t in tracks:
            if id(t) not in seen:
                t.missed += 1

        # End confirmed tracks unseen too long; drop stale tentative ones silently.
        events: list[Event] = []
        alive: list[Track] = []
        hold_s = max(s.max_missed_s, s.stationary_hold_s)
        for t in tracks:
            if t.confirmed and now - t.last_seen > (hold_s if t.stationary else s.max_missed_s):
                events.append(self._event("end", t, t.median(), end_time=t.last_seen))
                self._live_ids.discard(t.id)
            elif t.confirmed or t.missed <= s.tentative_max_missed:
                alive.append(t)
            elif t.hits >= s.min_hits:
                self._below_threshold += 1  # seen often enough, but its median score stayed below threshold

        # Unmatched detections start tentative tracks.
        for c in range(len(det)):
            if c not in track_of:
                t = Track.start_from(det.boxes[c], det.scores[c], labels[c], det.class_ids[c],
                                     det_zones[c], now, s.score_history, self._zone_min_s)
                t.place(self._zone_gate(t, det_zones[c]), now, self._zone_min_s)
                track_of[c] = t
                alive.append(t)
        self._tracks = alive

        # Confirmation -> 'new'; notable changes of tracks seen in this frame -> 'update'.
        confirmed_now = []
        for t in alive:
            if not t.confirmed and t.hits >= s.min_hits and t.median() >= self._filters.threshold(t.label):
                t.id = self._new_id(t.start)
                confirmed_now.append(t)
        for t in confirmed_now:
            median = t.median()
            events.append(self._event("new", t, median))
            t.mark_event(now, median)
        fresh = set(map(id, confirmed_now))
        for t in alive:
            if t.confirmed and id(t) in seen and id(t) not in fresh:
                median = t.median()
                if t.update_due(now, median, s.update_min_interval_s, s.update_interval_s, s.update_score_delta,
                                s.update_box_iou):
                    events.append(self._event("update", t, median))
                    t.mark_event(now, median)

        if s.publish_detections == "confirmed" and len(det):
            det = det.select(np.array([track_of[c].confirmed for c in range(len(det))], bool))
        return self._output(tuple(events), det)

    def flush(self, timestamp: float | None = None, reason: str | None = None) -> TrackerOutput:
        """End every live confirmed track (``end`` events) and forget all tracks: at shutdown, or with
        ``reason="camera_lost"`` when the camera went away (the ``end`` then names it)."""
        events = tuple(dataclasses.replace(self._event("end", t, t.median(), end_time=t.last_seen), reason=reason)
                       for t in self._tracks if t.confirmed)
        self._tracks = []
        self._live_ids.clear()
        return self._output(events, Detections.empty())

    # -- internals -----------------------------------------------------------------------------
    def stats(self) -> dict:
        """Detections dropped by each filter, and tracks that never reached their label's threshold."""
        return {"filtered": {**self._filters.dropped, "threshold": self._below_threshold}}

    def _zone_gate(self, t: Track, inside: np.ndarray) -> np.ndarray:
        """``inside`` limited to the zones whose ``threshold`` the track's median score reaches."""
        if not self._zone_filters:
            return inside
        thresholds = self._zone_thresholds.get(t.label)
        if thresholds is None:
            thresholds = self._zone_thresholds[t.label] = np.array(
                [f.threshold(t.label) for f in self._zone_filters], np.float64)
        return inside & (float(t.median()) >= thresholds)

    def _filter(self, det: Detections, width: int | None, height: int | None):
        keep = np.ones(len(det), bool)
        if len(det) and self._filters.active:
            keep = self._filters.keep(det.boxes, det.scores, det.class_ids, det.class_names, width, height)
            if not keep.all():
                det, keep = det.select(keep), keep[keep]
        labels = _label_array(det)
        if self._label_filter.size and len(det):
            keep &= np.isin(labels, self._label_filter)
        if self._regions.has_masks or self._regions.zone_names:
            points = bottom_centres(det.boxes)
            if self._regions.has_masks and len(det):
                keep &= ~self._regions.masked(points, labels, width, height)
            zones = self._regions.membership(points, labels, width, height)
            for z, zf in enumerate(self._zone_filters):
                if zf.active and len(det):
                    zones[:, z] &= zf.keep(det.boxes, det.scores, det.class_ids, det.class_names, width, height,
                                           count=False)
        else:  # the common case: nothing to place the detections in
            zones = np.zeros((len(det), 0), bool)
        if self.settings.only_in_zones and self._regions.zone_names:
            keep &= zones.any(axis=1)
        if not keep.all():
            det, labels, zones = det.select(keep), labels[keep], zones[keep]
        return det, labels, zones

    def _new_id(self, start: float) -> str:
        while True:
            track_id = f"{start:.3f}-{secrets.token_hex(4)}"
            if track_id not in self._live_ids:
                self._live_ids.add(track_id)
                return track_id

    def _zones_of(self, t: Track) -> tuple[str, ...]:
        return self._zone_list(t.zones)

    def _zone_list(self, mask: np.ndarray) -> tuple[str, ...]:
        names = self._regions.zone_names
        return tuple(names[z] for z in np.flatnonzero(mask)) if names and mask.size else ()

    def _event(self, kind: str, t: Track, median: np.float32, end_time: float | None = None) -> Event:
        if kind == "new":
            entered, exited = self._zone_list(t.zones), ()
        elif kind == "update":
            entered, exited = self._zone_list(t.zones & ~t.ev_zones), self._zone_list(t.ev_zones & ~t.zones)
        else:  # end: every zone the subscribers were last told about
            entered, exited = (), self._zone_list(t.ev_zones)
        return Event(
            type=kind,  # type: ignore[arg-type]
            id=str(t.id),
            label=str(t.label),
            score=float(median),
            top_score=float(t.top),
            box=tuple(t.box.tolist()),  # type: ignore[arg-type]
            start_time=float(t.start),
            end_time=None if end_time is None else float(end_time),
            zones=self._zones_of(t),
            stationary=t.stationary,
            entered_zones=entered,
            exited_zones=exited,
        )

    def _output(self, events: tuple[Event, ...], det: Detections) -> TrackerOutput:
        confirmed = [t for t in self._tracks if t.confirmed]
        tracks = tuple(
            TrackView(id=str(t.id), label=str(t.label), box=tuple(t.box.tolist()),  # type: ignore[arg-type]
                      score=float(t.median()), zones=self._zones_of(t), stationary=t.stationary,
                      missed=int(t.missed), top_score=float(t.top))
            for t in confirmed
        )
        for label in self._counts:
            self._counts[label] = 0
        for key in self._zone_counts:
            self._zone_counts[key] = 0
        # new labels enter the dicts in sorted order (per zone), so retained counts go out in a stable order
        self._counts.update(sorted(Counter(str(t.label) for t in confirmed).items()))
        for z, zone in enumerate(self._regions.zone_names):
            in_zone = Counter(str(t.label) for t in confirmed if t.zones[z])
            self._zone_counts.update(((zone, label), n) for label, n in sorted(in_zone.items()))
        return TrackerOutput(events, tracks, dict(self._counts), dict(self._zone_counts), det)
