"""Stationary objects, lifetimes in seconds, zone dwell time (``min_s``) and zone enter/exit fields."""

from __future__ import annotations

from edgecam.tracking import IouTracker
from edgecam.tracking.settings import TrackerSettings, ZoneSettings
from tracking_synth import box_at, make_dets

CAR = ("car", (300, 200, 420, 260), 0.8)


def run(tr, frames, t0=0.0, dt=0.5):
    return [tr.update(d, t0 + i * dt) for i, d in enumerate(frames)]


def events(outs, kind=None):
    return [e for o in outs for e in o.events if kind is None or e.type == kind]


def test_a_parked_car_turns_stationary_and_survives_a_gap_as_one_object():
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=1.0, stationary_s=10.0, stationary_hold_s=60.0))
    outs = run(tr, [make_dets(CAR)] * 40 + [make_dets()] * 40 + [make_dets(CAR)] * 40)  # 20 s gap
    assert [e.type for e in events(outs)] == ["new", "update"]  # the update says: stationary
    new, up = events(outs)
    assert not new.stationary and up.stationary
    at = next(i for i, o in enumerate(outs) if up in o.events) * 0.5
    assert up.id == new.id and 10.0 <= at <= 11.25  # after stationary_s (+ 1/8 for the position sampling)
    assert all(o.counts == {"car": 1} for o in outs[1:])  # counted through the gap
    assert all(t.stationary for o in outs[40:] for t in o.tracks)
    end = tr.flush(100.0).events[0]
    assert end.id == new.id and end.stationary


def test_a_stationary_car_gone_longer_than_the_hold_ends():
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=1.0, stationary_s=5.0, stationary_hold_s=8.0))
    outs = run(tr, [make_dets(CAR)] * 20 + [make_dets()] * 30)  # seen until 9.5 s
    ends = events(outs, "end")
    assert len(ends) == 1 and ends[0].stationary and ends[0].end_time == 9.5
    assert [i for i, o in enumerate(outs) if o.events and o.events[0].type == "end"] == [36]  # 18.0 s > 9.5 + 8


def test_a_moving_car_is_not_stationary_and_ends_after_max_missed_s():
    tr = IouTracker(TrackerSettings(min_hits=2, max_missed_s=1.0, stationary_s=5.0))
    drive = [make_dets(("car", box_at(100 + 15 * i, 200, 120, 60), 0.8)) for i in range(40)]
    outs = run(tr, drive + [make_dets()] * 10)
    assert not any(e.stationary for e in events(outs))
    assert not any(t.stationary for o in outs for t in o.tracks)
    end = events(outs, "end")[0]
    assert end.end_time == 19.5 and outs.index(next(o for o in outs if end in o.events)) == 42  # 21 s > 19.5 + 1


def test_lifetimes_are_seconds_whatever_the_frame_rate():
    for dt in (0.05, 0.2, 1.0):
        tr = IouTracker(TrackerSettings(min_hits=1, max_missed_s=1.5, stationary_s=1000.0))
        n_seen, n_gap = round(3 / dt), round(1.0 / dt)  # a 1 s gap: shorter than max_missed_s
        outs = run(tr, [make_dets(CAR)] * n_seen + [make_dets()] * n_gap + [make_dets(CAR)] * n_seen, dt=dt)
        assert [e.type for e in events(outs)] == ["new"], dt
        tr = IouTracker(TrackerSettings(min_hits=1, max_missed_s=1.5, stationary_s=1000.0))
        n_gap = round(2.0 / dt) + 1  # longer than max_missed_s
        outs = run(tr, [make_dets(CAR)] * n_seen + [make_dets()] * n_gap + [make_dets(CAR)] * n_seen, dt=dt)
        assert [e.type for e in events(outs)] == ["new", "end", "new"], dt


DOOR = ZoneSettings(name="door", points=((0, 0), (200, 0), (200, 400), (0, 400)), coordinates="pixels", min_s=2.0)


def test_an_object_counts_in_a_zone_only_after_min_s_and_events_say_when_it_entered_and_left():
    s = TrackerSettings(min_hits=1, update_min_interval_s=0.0, stationary_s=1000.0)
    tr = IouTracker(s, zones=[DOOR])
    walk = [make_dets(("person", box_at(x, 200, 200), 0.8)) for x in [260] * 2 + [180] * 8 + [260] * 2]
    outs = run(tr, walk)  # outside 0-0.5 s, at the door 1.0-4.5 s, outside from 5 s
    door = [o.zone_counts.get(("door", "person"), 0) for o in outs]
    assert door == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]  # counts from 3.0 s (entered at 1.0 + min_s 2)
    zoned = [e for e in events(outs) if e.entered_zones or e.exited_zones]
    assert [(e.type, e.entered_zones, e.exited_zones) for e in zoned] == [
        ("update", ("door",), ()), ("update", (), ("door",))]
    assert zoned[0].zones == ("door",) and zoned[1].zones == ()


def test_a_short_visit_never_counts_and_the_end_exits_every_zone():
    tr = IouTracker(TrackerSettings(min_hits=1, update_min_interval_s=0.0), zones=[DOOR])
    outs = run(tr, [make_dets(("person", box_at(100, 200), 0.8))] * 3 + [make_dets(("person", box_at(300, 200), 0.8))])
    assert all(o.zone_counts.get(("door", "person"), 0) == 0 for o in outs)  # 1 s at the door < min_s
    tr = IouTracker(TrackerSettings(min_hits=1, update_min_interval_s=0.0), zones=[DOOR])
    run(tr, [make_dets(("person", box_at(100, 200), 0.8))] * 6)
    end = tr.flush(10.0).events[0]
    assert end.exited_zones == ("door",)
