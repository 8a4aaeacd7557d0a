"""The open-track journal: which tracks got a ``new`` and no ``end`` yet, kept in the state directory.

It follows only the event stream (``new`` / ``update`` / ``end`` :class:`~edgecam.domain.Event`\\ s)
and the confirmed tracks of each frame (for the last-seen time), never the tracker's internals.
After an unclean exit (power cut, OOM kill, SIGKILL, watchdog restart) the next start reads it back
and :meth:`TrackJournal.orphan_ends` gives one ``end`` per track left open, with
``"reason": "restart"`` and the last time the track was known alive as ``end_time`` — so every
``new`` gets exactly one ``end`` however often the daemon dies.

The owner decides when to :meth:`save`: the MQTT publisher saves right after the events are in its
spool, and folds the spool's undelivered events back in at start (:meth:`apply_payload`), so the
journal and what subscribers are owed never disagree.  Membership changes are saved at once; a mere
last-seen refresh at most every ``refresh_s`` seconds (an SD card is not written every frame), so
``end_time`` after a crash may be up to that much earlier than the last sighting.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from edgecam.domain import Event, TrackView
from edgecam.records import load_record, move_aside, save_record

log = logging.getLogger(__name__)

FILENAME = "open_tracks.json"
REFRESH_S = 5.0
RETRY_S = 1.0  # after a failed save (disk full, a directory in the way), wait this long before the next


@dataclass(frozen=True, slots=True)
class OpenTrack:
    id: str
    label: str
    start_time: float
    last_seen: float
    box: tuple[float, float, float, float]
    score: float
    top_score: float
    zones: tuple[str, ...] = ()
    stationary: bool = False

    def end_event(self, reason: str) -> Event:
        return Event("end", self.id, self.label, self.score, self.top_score, self.box, self.start_time,
                     end_time=self.last_seen, zones=self.zones, reason=reason,
                     stationary=self.stationary, exited_zones=self.zones)


_MALFORMED = (KeyError, TypeError, ValueError, OverflowError, AttributeError, RecursionError)


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"not a number: {type(value).__name__}")
    f = float(value)  # OverflowError for an int beyond a float's range
    if not math.isfinite(f):
        raise ValueError(f"not a finite number: {value!r}")
    return f


def _track_from(data: dict[str, Any], last_seen: float | None = None) -> OpenTrack:
    """An OpenTrack from a journal entry or an event payload; ValueError/TypeError/KeyError when malformed."""
    box = tuple(_finite(v) for v in data["box"])
    if len(box) != 4:
        raise ValueError("box needs 4 numbers")
    start = _finite(data["start_time"])
    seen = _finite(data["last_seen"]) if last_seen is None else last_seen
    ident, label = data["id"], data["label"]
    if not isinstance(ident, str) or not isinstance(label, str):
        raise TypeError("id and label must be strings")
    zones = data.get("zones", ())
    if not isinstance(zones, (list, tuple)) or not all(isinstance(z, str) for z in zones):
        raise TypeError("zones must be a list of strings")
    zones = tuple(zones)
    return OpenTrack(ident, label, start, max(seen, start), box, _finite(data["score"]),  # type: ignore[arg-type]
                     _finite(data["top_score"]), zones, data.get("stationary") is True)


class TrackJournal:
    def __init__(self, path: Path, refresh_s: float = REFRESH_S) -> None:
        self.path = Path(path)
        self.refresh_s = refresh_s
        self._open: dict[str, OpenTrack] = {}
        self._changed = False  # membership changed since the last save
        self._refreshed = False  # only last-seen times changed since the last save
        self._saved_at = -math.inf
        self._retry_at = -math.inf
        # latest sighting per open track, folded into ``_open`` only when it is read or saved (a
        # sighting arrives every frame; rebuilding the record each time cost ~60 µs per frame)
        self._sightings: dict[str, tuple[float, tuple[float, ...], tuple[str, ...], bool]] = {}

    @classmethod
    def load(cls, path: Path, refresh_s: float = REFRESH_S) -> "TrackJournal":
        journal = cls(path, refresh_s)
        record = load_record(journal.path)
        entries = record.get("open", [])
        if not isinstance(entries, list):
            move_aside(journal.path, f'"open" is a JSON {type(entries).__name__}, not a list')
            return journal
        bad = 0
        for entry in entries:
            try:
                if not isinstance(entry, dict):
                    raise TypeError(f"an entry is a JSON {type(entry).__name__}, not an object")
                track = _track_from(entry)
            except _MALFORMED:
                bad += 1
                continue
            journal._open[track.id] = track
        if bad:  # keep the readable entries; the bad copy is kept aside for inspection, the next save is clean
            move_aside(journal.path, f"skipped {bad} malformed entr{'y' if bad == 1 else 'ies'}",
                       f"keeping the other {len(journal._open)}")
        return journal

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._open

    @property
    def open_tracks(self) -> tuple[OpenTrack, ...]:
        self._settle()
        return tuple(self._open.values())

    # -- following the stream ----------------------------------------------------------------------
    def apply(self, events: Iterable[Event]) -> None:
        """Fold events in: ``new`` opens a track, ``update`` refreshes it, ``end`` closes it."""
        for e in events:
            self.apply_payload(e.to_payload())

    def apply_payload(self, payload: dict[str, Any]) -> bool:
        """Fold one event given as its JSON payload (as spooled); False if it is not a usable event."""
        self._settle()
        if not isinstance(payload, dict):
            return False
        try:
            kind = payload["type"]
            if kind == "end":
                if self._open.pop(str(payload["id"]), None) is not None:
                    self._changed = True
                return True
            if kind not in ("new", "update"):
                return False
            old = self._open.get(str(payload["id"]))
            if kind == "update" and old is None:
                return True  # an update for a track this journal never saw open: nothing owed
            track = _track_from(payload, last_seen=_finite(payload["start_time"]))
        except _MALFORMED:
            return False
        if old is not None:
            track = replace(track, last_seen=max(old.last_seen, track.last_seen))
        else:
            self._changed = True
        self._open[track.id] = track
        return True

    def seen(self, tracks: Iterable[TrackView], timestamp: float) -> None:
        """The confirmed tracks alive in a frame at ``timestamp``: refresh their last-seen time and box."""
        for t in tracks:
            old = self._open.get(t.id)
            if old is None or timestamp <= old.last_seen:
                continue
            pending = self._sightings.get(t.id)
            if pending is None or timestamp > pending[0]:
                self._sightings[t.id] = (timestamp, t.box, t.zones, t.stationary)
                self._refreshed = True

    def _settle(self) -> None:
        """Fold the pending sightings into the open tracks."""
        for track_id, (timestamp, box, zones, stationary) in self._sightings.items():
            old = self._open.get(track_id)
            if old is not None and timestamp > old.last_seen:
                self._open[track_id] = replace(old, last_seen=float(timestamp), box=tuple(float(v) for v in box),
                                               zones=tuple(zones), stationary=bool(stationary))
        self._sightings.clear()

    def orphan_ends(self, reason: str = "restart") -> list[Event]:
        """One ``end`` for every open track (oldest first), and forget them all."""
        self._settle()
        ends = [t.end_event(reason) for t in sorted(self._open.values(), key=lambda t: (t.start_time, t.id))]
        if self._open:
            self._open.clear()
            self._changed = True
        return ends

    # -- persistence -------------------------------------------------------------------------------
    def due(self, now: float) -> bool:
        """Should the owner :meth:`save` now? (membership changed, or last-seen times are ``refresh_s`` old)"""
        if now < self._retry_at:  # the last save failed (disk full?): not again every frame
            return False
        return self._changed or (self._refreshed and now - self._saved_at >= self.refresh_s)

    def save(self, now: float) -> bool:
        self._settle()
        entries = [asdict(t) for t in self._open.values()]
        ok = save_record(self.path, {"v": 1, "open": entries})
        if ok:
            self._changed = self._refreshed = False
            self._saved_at = now
        else:
            self._retry_at = now + RETRY_S
        return ok
