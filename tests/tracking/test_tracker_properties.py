"""Lifecycle invariants of IouTracker over random detection sequences (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecam.domain import Detections
from edgecam.tracking import IouTracker
from edgecam.tracking.settings import TrackerSettings, ZoneSettings
from tracking_synth import NAMES

# A frame: a list of (slot, jitter) — objects live on a coarse grid so they overlap sometimes.
frame_strategy = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2), st.integers(-8, 8), st.floats(0.3, 1.0)), max_size=6
)


def to_dets(frame):
    if not frame:
        return Detections.empty(NAMES)
    boxes = np.array([[40 * slot + dx, 50, 40 * slot + dx + 60, 150] for slot, _, dx, _ in frame], np.float32)
    scores = np.array([s for *_, s in frame], np.float32)
    ids = np.array([c for _, c, _, _ in frame], np.int32)
    return Detections(boxes, scores, ids, NAMES)


@settings(max_examples=120, deadline=None)
@given(
    frames=st.lists(frame_strategy, max_size=40),
    min_hits=st.integers(1, 3),
    max_missed=st.integers(0, 3),
    tentative=st.integers(0, 2),
)
def test_every_new_gets_exactly_one_end_and_counts_match_tracks(frames, min_hits, max_missed, tentative):
    s = TrackerSettings(min_hits=min_hits, max_missed_s=max_missed + 0.5, tentative_max_missed=tentative,
                        update_min_interval_s=0.0, update_interval_s=0.0)
    zone = ZoneSettings(name="left", points=((0, 0), (150, 0), (150, 400), (0, 400)), coordinates="pixels")
    dwell = ZoneSettings(name="dwell", points=((0, 0), (400, 0), (400, 400), (0, 400)), coordinates="pixels",
                         min_s=2.0)
    tr = IouTracker(s, zones=[zone, dwell])
    history = []
    for i, frame in enumerate(frames):
        out = tr.update(to_dets(frame), 100.0 + i)
        history += out.events
        live = {}
        for t in out.tracks:
            live[t.label] = live.get(t.label, 0) + 1
        assert {k: v for k, v in out.counts.items() if v} == live
        assert all(v >= 0 for v in out.counts.values())
        in_left = sum(1 for t in out.tracks if "left" in t.zones)
        assert sum(v for (z, _), v in out.zone_counts.items() if z == "left") == in_left
        assert len(out.detections) <= len(frame)
    final = tr.flush(1000.0)
    history += final.events
    assert all(v == 0 for v in final.counts.values()) and final.tracks == ()

    news = [e.id for e in history if e.type == "new"]
    ends = [e.id for e in history if e.type == "end"]
    assert len(set(news)) == len(news)  # ids unique
    assert sorted(news) == sorted(ends)  # every new ends exactly once
    inside: dict[str, set] = {}
    for e in history:  # zones entered and exited add up: an object's end leaves it in no zone
        now = inside.setdefault(e.id, set())
        assert not (set(e.entered_zones) & now) and set(e.exited_zones) <= now
        now |= set(e.entered_zones)
        now -= set(e.exited_zones)
        assert now == set(e.zones) or e.type == "end"
        if e.type == "end":
            assert now == set()
    opened = set()
    for e in history:  # no update/end before its new, nothing after its end
        if e.type == "new":
            opened.add(e.id)
        else:
            assert e.id in opened
            if e.type == "end":
                opened.discard(e.id)
                assert e.end_time is not None and e.end_time >= e.start_time
            assert e.top_score >= e.score - 1e-6
