"""IouTracker on synthetic box sequences: confirmation, flicker, occlusion, crossings, counts, flush."""

from __future__ import annotations

import re
import statistics

import pytest

from edgecam.tracking import IouTracker
from edgecam.tracking.settings import TrackerSettings
from tracking_synth import box_at, make_dets


def run(tracker, frames, t0=1000.0, dt=0.1, **kw):
    """Feed a list of Detections; returns the list of outputs (timestamps t0, t0+dt, ...)."""
    return [tracker.update(d, t0 + i * dt, **kw) for i, d in enumerate(frames)]


def events_of(outputs, kind=None):
    return [e for o in outputs for e in o.events if kind is None or e.type == kind]


def test_one_frame_false_positive_never_reaches_subscribers():
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=0.35))
    frames = [make_dets(("dog", (10, 10, 50, 50), 0.95))] + [make_dets()] * 10
    outs = run(tr, frames)
    assert events_of(outs) == []
    assert all(o.tracks == () for o in outs)
    assert all(o.counts == {} for o in outs)
    assert tr.flush(2000.0).events == ()


def test_confirmed_after_min_hits_with_start_time_of_first_sighting():
    tr = IouTracker(TrackerSettings(min_hits=3))
    frames = [make_dets(("person", box_at(100 + 2 * i, 100), 0.8)) for i in range(5)]
    outs = run(tr, frames, t0=50.0, dt=0.5)
    assert [len(o.events) for o in outs] == [0, 0, 1, 0, 0]
    new = outs[2].events[0]
    assert new.type == "new" and new.label == "person" and new.start_time == 50.0 and new.end_time is None
    assert re.fullmatch(r"50\.000-[0-9a-f]{8}", new.id)
    assert [len(o.tracks) for o in outs] == [0, 0, 1, 1, 1]
    assert outs[2].counts == {"person": 1}


def test_min_hits_one_confirms_immediately():
    tr = IouTracker(TrackerSettings(min_hits=1))
    out = tr.update(make_dets(("car", (0, 0, 100, 50), 0.7)), 1.0)
    assert [e.type for e in out.events] == ["new"]
    assert out.counts == {"car": 1}


def test_flicker_keeps_one_id_and_confirms():
    """Detected every other frame: confirms (tentative tracks survive one miss) and never churns."""
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=0.25, tentative_max_missed=1))
    frames = [make_dets(("person", box_at(200 + i, 150), 0.6)) if i % 2 == 0 else make_dets() for i in range(40)]
    outs = run(tr, frames)
    news = events_of(outs, "new")
    assert len(news) == 1 and events_of(outs, "end") == []
    assert outs[2].events == (news[0],)  # confirmed on the second sighting
    assert {t.id for o in outs[2:] for t in o.tracks} == {news[0].id}
    assert all(o.counts == {"person": 1} for o in outs[2:])


def test_flicker_without_tentative_grace_never_confirms():
    tr = IouTracker(TrackerSettings(min_hits=2, tentative_max_missed=0))
    frames = [make_dets(("person", box_at(200, 150), 0.6)) if i % 2 == 0 else make_dets() for i in range(20)]
    assert events_of(run(tr, frames)) == []


def test_occlusion_shorter_than_max_missed_keeps_id():
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=0.45))
    seen = [make_dets(("car", box_at(300 + 3 * i, 200, 120, 60), 0.8)) for i in range(5)]
    hidden = [make_dets()] * 4  # missed for 0.4 s, within max_missed_s
    after = [make_dets(("car", box_at(300 + 3 * i, 200, 120, 60), 0.8)) for i in range(9, 14)]
    outs = run(tr, seen + hidden + after)
    assert [e.type for e in events_of(outs)] == ["new"]
    ids = {t.id for o in outs[1:] for t in o.tracks}
    assert len(ids) == 1
    assert all(o.counts == {"car": 1} for o in outs[1:])  # counted through the occlusion


def test_occlusion_longer_than_max_missed_ends_track_then_new_id():
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=4.5))
    car = make_dets(("car", box_at(300, 200, 120, 60), 0.8))
    outs = run(tr, [car] * 3 + [make_dets()] * 5 + [car] * 3, t0=0.0, dt=1.0)
    kinds = [(i, e.type) for i, o in enumerate(outs) for e in o.events]
    assert kinds == [(1, "new"), (7, "end"), (9, "new")]
    first, end, second = events_of(outs)
    assert end.id == first.id and end.end_time == 2.0 and end.start_time == 0.0
    assert second.id != first.id and second.start_time == 8.0
    assert outs[7].counts == {"car": 0}


def test_crossing_objects_of_same_label_keep_ids():
    """Two people walk past each other in neighbouring lanes; their boxes overlap at the crossing."""
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=0.25, iou=0.3))
    frames = []
    for i in range(41):
        a = ("person", box_at(100 + 10 * i, 200), 0.8)  # left → right
        b = ("person", box_at(500 - 10 * i, 230), 0.7)  # right → left, 30 px lower
        frames.append(make_dets(a, b) if i % 2 else make_dets(b, a))  # detector order varies
    outs = run(tr, frames)
    news = events_of(outs, "new")
    assert len(news) == 2 and events_of(outs, "end") == []
    by_id = {}
    for o in outs[1:]:
        assert len(o.tracks) == 2
        for t in o.tracks:
            by_id.setdefault(t.id, []).append(t.box)
    assert len(by_id) == 2
    for boxes in by_id.values():
        xs = [b[0] for b in boxes]
        steps = {round(b - a) for a, b in zip(xs, xs[1:])}
        assert steps in ({10}, {-10})  # each id followed one person monotonically through the crossing
        assert len({b[1] for b in boxes}) == 1  # ...and stayed in its lane in every frame


def test_tracks_only_match_detections_of_their_own_label():
    """A dog steps into an occluded person's place: it gets its own track, the person's stays put."""
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=3.5))
    person = ("person", (100, 100, 140, 200), 0.8)
    dog = ("dog", (104, 110, 144, 200), 0.8)  # IoU with the person's box ≈ 0.7
    outs = run(tr, [make_dets(person)] * 2 + [make_dets(dog)] * 6, t0=0.0, dt=1.0)
    kinds = [(i, e.type, e.label) for i, o in enumerate(outs) for e in o.events]
    assert kinds == [(1, "new", "person"), (3, "new", "dog"), (5, "end", "person")]
    person_end = outs[5].events[0]
    assert person_end.box == (100.0, 100.0, 140.0, 200.0) and person_end.end_time == 1.0
    assert outs[-1].counts == {"person": 0, "dog": 1}


def test_coincident_objects_of_different_labels_keep_ids():
    tr = IouTracker(TrackerSettings(min_hits=2))
    frames = [
        make_dets(("person", box_at(100 + 10 * i, 200), 0.8), ("dog", box_at(300 - 10 * i, 200), 0.8))
        for i in range(21)
    ]
    outs = run(tr, frames)
    track_xs = {}
    for o in outs[1:]:
        assert sorted(t.label for t in o.tracks) == ["dog", "person"]
        for t in o.tracks:
            track_xs.setdefault((t.id, t.label), []).append(t.box[0])
    assert len(track_xs) == 2 and len(events_of(outs, "new")) == 2
    for (_, label), xs in track_xs.items():
        step = 10 if label == "person" else -10
        assert all(b - a == step for a, b in zip(xs, xs[1:]))


def test_counts_go_back_to_zero_and_report_every_label_seen():
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=0.15))
    crowd = make_dets(
        ("person", (0, 0, 50, 100), 0.9), ("person", (200, 0, 250, 100), 0.9), ("car", (400, 0, 600, 100), 0.9)
    )
    outs = run(tr, [crowd] * 3 + [make_dets()] * 3)
    assert outs[2].counts == {"person": 2, "car": 1}
    assert outs[3].counts == {"person": 2, "car": 1}  # missed once: still live
    assert outs[4].counts == {"person": 0, "car": 0}
    assert sorted(e.label for e in outs[4].events if e.type == "end") == ["car", "person", "person"]
    assert outs[5].counts == {"person": 0, "car": 0} and outs[5].events == ()


def test_flush_ends_every_confirmed_track_only():
    tr = IouTracker(TrackerSettings(min_hits=2))
    both = make_dets(("person", (0, 0, 50, 100), 0.9), ("car", (400, 0, 600, 100), 0.8))
    run(tr, [both] * 2)
    tr.update(make_dets(("person", (0, 0, 50, 100), 0.9), ("car", (400, 0, 600, 100), 0.8),
                        ("dog", (700, 0, 750, 40), 0.9)), 1000.2)  # the dog is still tentative
    out = tr.flush(1001.0)
    assert sorted((e.type, e.label) for e in out.events) == [("end", "car"), ("end", "person")]
    assert all(e.end_time == pytest.approx(1000.2) for e in out.events)
    assert out.tracks == () and out.counts == {"person": 0, "car": 0}
    assert tr.flush(1002.0).events == ()
    # The tracker keeps working after a flush, with fresh ids.
    old_ids = {e.id for e in out.events}
    news = events_of(run(tr, [both] * 2, t0=1003.0), "new")
    assert len(news) == 2 and not ({e.id for e in news} & old_ids)


def test_event_score_is_median_and_top_score_is_max():
    tr = IouTracker(TrackerSettings(min_hits=1, update_min_interval_s=0.0, update_interval_s=0.0))
    scores = [0.5, 0.9, 0.6, 0.55, 0.7]
    outs = run(tr, [make_dets(("dog", (10, 10, 60, 60), s)) for s in scores])
    last_event = events_of(outs)[-1]
    assert last_event.top_score == pytest.approx(0.9, abs=1e-6)
    assert outs[-1].tracks[0].score == pytest.approx(statistics.median(scores), abs=1e-6)
    end = tr.flush(2000.0).events[0]
    assert end.score == pytest.approx(statistics.median(scores), abs=1e-6)
    assert end.top_score == pytest.approx(0.9, abs=1e-6)


def test_update_events_follow_the_documented_rule():
    s = TrackerSettings(min_hits=2, update_min_interval_s=1.0, update_interval_s=5.0, update_score_delta=0.05,
                        stationary_s=1000.0)  # standing still is not reported here (see the stationary tests)
    tr = IouTracker(s)
    still = [make_dets(("person", box_at(200, 200), 0.6))] * 30  # 3 s, nothing changes
    outs = run(tr, still, t0=0.0, dt=0.1)
    assert [e.type for e in events_of(outs)] == ["new"]
    # A higher score is notable, but rate limited to 1 s after the 'new' (sent at t=0.1).
    outs = run(tr, [make_dets(("person", box_at(200, 200), 0.8))] * 3, t0=3.0, dt=0.1)
    ups = events_of(outs, "update")
    assert len(ups) == 1 and ups[0].top_score == pytest.approx(0.8, abs=1e-6)
    # A tiny rise below update_score_delta is not.
    outs = run(tr, [make_dets(("person", box_at(200, 200), 0.82))] * 20, t0=5.0, dt=0.1)
    assert events_of(outs) == []
    # Movement: reported, but at most every update_interval_s.
    walk = [make_dets(("person", box_at(200 + 4 * i, 200), 0.6)) for i in range(1, 151)]
    outs = run(tr, walk, t0=10.0, dt=0.1)  # 15 s of walking
    ups = events_of(outs, "update")
    times = [10.0 + 0.1 * i for i, o in enumerate(outs) if o.events]
    assert 2 <= len(ups) <= 3
    assert all(b - a >= 5.0 - 1e-9 for a, b in zip(times, times[1:]))


def test_publish_confirmed_only_filters_unconfirmed_detections():
    tr = IouTracker(TrackerSettings(min_hits=2, publish_detections="confirmed"))
    person = ("person", box_at(100, 100), 0.9)
    outs = run(tr, [make_dets(person), make_dets(person, ("dog", (500, 500, 540, 540), 0.9))])
    assert len(outs[0].detections) == 0
    assert len(outs[1].detections) == 1 and outs[1].detections.label(0) == "person"
    tr_all = IouTracker(TrackerSettings(min_hits=2, publish_detections="all"))
    assert len(tr_all.update(make_dets(person), 0.0).detections) == 1


def test_label_filter_ignores_other_labels():
    tr = IouTracker(TrackerSettings(min_hits=1, labels=("car",)))
    out = tr.update(make_dets(("person", (0, 0, 10, 10), 0.9), ("car", (50, 50, 90, 90), 0.9)), 0.0)
    assert out.counts == {"car": 1}
    assert [out.detections.label(i) for i in range(len(out.detections))] == ["car"]


def test_clock_used_when_no_timestamp():
    tr = IouTracker(TrackerSettings(min_hits=1), clock=lambda: 1234.5)
    out = tr.update(make_dets(("car", (0, 0, 10, 10), 0.9)))
    assert out.events[0].start_time == 1234.5 and out.events[0].id.startswith("1234.500-")


def test_settings_reject_update_interval_below_min_interval():
    with pytest.raises(ValueError, match="update_interval_s"):
        IouTracker(TrackerSettings(update_interval_s=0.5, update_min_interval_s=1.0))


def test_median_covers_the_last_score_history_scores():
    tr = IouTracker(TrackerSettings(min_hits=1, score_history=3))
    outs = run(tr, [make_dets(("dog", (10, 10, 60, 60), s)) for s in (0.9, 0.9, 0.9, 0.3, 0.4, 0.5)])
    assert outs[-1].tracks[0].score == pytest.approx(0.4, abs=1e-6)  # median of 0.3, 0.4, 0.5
    end = tr.flush(2000.0).events[0]
    assert end.score == pytest.approx(0.4, abs=1e-6) and end.top_score == pytest.approx(0.9, abs=1e-6)
    tr = IouTracker(TrackerSettings(min_hits=1, score_history=4))
    outs = run(tr, [make_dets(("dog", (10, 10, 60, 60), s)) for s in (0.5, 0.7)])
    assert outs[-1].tracks[0].score == pytest.approx(0.6, abs=1e-6)  # even count: mean of the middle two
