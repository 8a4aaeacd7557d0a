"""The open-track journal: every track with a ``new`` and no ``end`` is ended once after a restart."""

from __future__ import annotations

import json

from edgecam.domain import Event, TrackView
from edgecam.tracking.journal import TrackJournal


def _ev(kind, i, t=1000.0, top=0.9, **kw):
    return Event(kind, f"id{i}", "person", 0.8, top, (1.0, 2.0, 3.0, 4.0), t, **kw)


def test_open_tracks_survive_a_restart_and_end_once_with_reason_and_last_seen(tmp_path):
    path = tmp_path / "open_tracks.json"
    j = TrackJournal(path)
    j.apply([_ev("new", 1), _ev("new", 2, t=1001.0), _ev("new", 3, t=1002.0)])
    j.apply([_ev("end", 2, end_time=1003.0)])
    j.seen([TrackView("id1", "person", (5.0, 6.0, 7.0, 8.0), 0.8, ("drive",), stationary=True)], 1010.0)
    assert j.due(0.0)
    assert j.save(0.0) and not j.due(1.0)

    again = TrackJournal.load(path)  # the process died here
    assert sorted(t.id for t in again.open_tracks) == ["id1", "id3"]
    ends = again.orphan_ends("restart")
    assert [e.to_payload() for e in ends] == [
        {"v": 1, "type": "end", "id": "id1", "label": "person", "score": 0.8, "top_score": 0.9,
         "box": [5.0, 6.0, 7.0, 8.0], "start_time": 1000.0, "end_time": 1010.0, "zones": ["drive"],
         "stationary": True, "exited_zones": ["drive"], "snapshot": None, "clip": None, "reason": "restart"},
        {"v": 1, "type": "end", "id": "id3", "label": "person", "score": 0.8, "top_score": 0.9,
         "box": [1.0, 2.0, 3.0, 4.0], "start_time": 1002.0, "end_time": 1002.0, "zones": [],
         "stationary": False, "snapshot": None, "clip": None, "reason": "restart"},
    ]
    assert len(again) == 0 and again.due(0.0)
    again.save(0.0)
    assert TrackJournal.load(path).orphan_ends() == []  # never twice


def test_last_seen_refresh_is_saved_at_most_every_refresh_s(tmp_path):
    j = TrackJournal(tmp_path / "j.json", refresh_s=5.0)
    j.apply([_ev("new", 1)])
    j.save(100.0)
    j.seen([TrackView("id1", "person", (1.0, 2.0, 3.0, 4.0), 0.8)], 1001.0)
    assert not j.due(101.0) and j.due(105.0)
    j.seen([TrackView("other", "dog", (1.0, 2.0, 3.0, 4.0), 0.8)], 1002.0)  # not open: ignored
    assert [t.id for t in j.open_tracks] == ["id1"]


def test_each_track_keeps_its_own_latest_sighting_until_saved(tmp_path):
    """Sightings are folded in lazily: a track missing from later frames keeps the time it was last seen,
    an older or repeated frame never moves a time back, and an ended track is not revived."""
    j = TrackJournal(tmp_path / "j.json")
    j.apply([_ev("new", 1), _ev("new", 2)])
    a, b = (TrackView(f"id{i}", "person", (float(i), 2.0, 3.0, 4.0), 0.8) for i in (1, 2))
    j.seen([a, b], 1001.0)
    j.seen([a], 1002.0)
    j.seen([a, b], 1000.5)  # late: older than what is known
    j.apply([_ev("end", 2, end_time=1001.0)])
    j.seen([b], 1003.0)  # ended: not revived
    j.save(0.0)
    seen = {t.id: t.last_seen for t in TrackJournal.load(j.path).open_tracks}
    assert seen == {"id1": 1002.0}


def test_folding_the_spools_undelivered_events_again_is_idempotent(tmp_path):
    j = TrackJournal(tmp_path / "j.json")
    stream = [_ev("new", 1), _ev("new", 2), _ev("update", 1, top=0.95), _ev("end", 1, end_time=1005.0)]
    j.apply(stream)
    for e in stream[1:]:  # the spool still holds a suffix the journal already saw
        assert j.apply_payload(json.loads(json.dumps(e.to_payload())))
    assert [t.id for t in j.open_tracks] == ["id2"]
    assert not j.apply_payload({"type": "new", "id": "x"})  # malformed: ignored, not a crash
    assert not j.apply_payload({"type": "bogus"})
    assert [t.id for t in j.open_tracks] == ["id2"]


def test_corrupt_or_malformed_journal_starts_empty_and_is_kept_aside(tmp_path, caplog):
    path = tmp_path / "open_tracks.json"
    path.write_text("{truncated")
    assert len(TrackJournal.load(path)) == 0
    assert len(list(tmp_path.glob("open_tracks.json.corrupt-*"))) == 1
    path.write_text(json.dumps({"v": 1, "open": [{"id": "a"}, {"id": "b", "label": "cat", "start_time": 1.0,
                                                  "last_seen": 2.0, "box": [0, 0, 1, 1], "score": 0.5,
                                                  "top_score": 0.6, "zones": []}]}))
    j = TrackJournal.load(path)
    assert [t.id for t in j.open_tracks] == ["b"] and "skipped 1 malformed" in caplog.text
