"""Per-label filters: each key drops what it should (and only that), counted per reason; fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from edgecam.tracking import IouTracker
from edgecam.tracking.filters import FilterSettings, LabelFilterSettings, LabelFilters
from edgecam.tracking.settings import TrackerSettings, ZoneSettings
from tracking_synth import make_dets

W, H = 1000, 500  # frame: 500,000 px


def tracker(filters: FilterSettings, **kw) -> IouTracker:
    """Detections after the filters, whether or not their track is confirmed (see the threshold tests)."""
    return IouTracker(TrackerSettings(min_hits=1, publish_detections="all", **kw), filters=filters)


def labels_kept(tr: IouTracker, dets) -> list[tuple[str, float]]:
    out = tr.update(dets, 1.0, W, H)
    return sorted((d["label"], d["box"][0]) for d in out.detections.to_dicts())


CROWD = make_dets(
    ("person", (0, 0, 50, 100), 0.9),        # 5,000 px = 0.01, ratio 0.5
    ("person", (100, 0, 110, 20), 0.9),      # 200 px = 0.0004, ratio 0.5
    ("person", (200, 0, 260, 120), 0.4),     # low score
    ("car", (300, 0, 700, 100), 0.9),        # 40,000 px = 0.08, ratio 4
    ("car", (800, 0, 810, 100), 0.9),        # ratio 0.1
    ("dog", (900, 0, 910, 10), 0.5),         # tiny dog
)


def test_no_filters_keep_everything():
    assert len(labels_kept(tracker(FilterSettings()), CROWD)) == 6


def test_min_score_per_label_and_default():
    tr = tracker(FilterSettings(labels={"person": LabelFilterSettings(min_score=0.5)}))
    assert ("person", 200.0) not in labels_kept(tr, CROWD)
    assert ("dog", 900.0) in labels_kept(tr, CROWD)  # another label: untouched
    tr = tracker(FilterSettings(min_score=0.6))
    assert labels_kept(tr, CROWD) == [("car", 300.0), ("car", 800.0), ("person", 0.0), ("person", 100.0)]
    assert tr.stats()["filtered"]["min_score"] == 2  # the low person and the dog


def test_area_is_a_fraction_of_the_frame():
    tr = tracker(FilterSettings(labels={"person": LabelFilterSettings(min_area=0.001)}))
    assert ("person", 100.0) not in labels_kept(tr, CROWD)
    assert tr.stats()["filtered"]["min_area"] == 1
    tr = tracker(FilterSettings(max_area=0.05))
    kept = labels_kept(tr, CROWD)
    assert ("car", 300.0) not in kept and len(kept) == 5
    assert tr.stats()["filtered"] == {"min_score": 0, "min_area": 0, "max_area": 1, "min_ratio": 0, "max_ratio": 0,
                                      "threshold": 0}
    with pytest.raises(ValueError, match="frame size"):
        tr.update(CROWD, 2.0)


def test_ratio_is_width_over_height():
    tr = tracker(FilterSettings(labels={"car": LabelFilterSettings(min_ratio=1.0, max_ratio=3.0)}))
    kept = labels_kept(tr, CROWD)
    assert [k for k in kept if k[0] == "car"] == []  # 4.0 too wide, 0.1 too narrow
    assert tr.stats()["filtered"]["min_ratio"] == 1 and tr.stats()["filtered"]["max_ratio"] == 1


def test_label_value_beats_default_beats_builtin():
    f = LabelFilters(FilterSettings(min_score=0.3, labels={"car": LabelFilterSettings(min_score=0.8)}),
                     builtin={"car": {"min_score": 0.5}, "dog": {"min_score": 0.6, "threshold": 0.7}})
    table = f.table(("person", "car", "dog"))
    assert table[:, 0].tolist() == [0.3, 0.8, 0.3, 0.3]  # the [filters] default beats dog's built-in
    assert f.threshold("dog") == 0.7 and f.threshold("person") == 0.0
    assert LabelFilters(FilterSettings(), builtin={"dog": {"min_score": 0.6}}).table(("dog",))[0, 0] == 0.6


def test_threshold_holds_confirmation_until_the_median_reaches_it():
    f = FilterSettings(labels={"dog": LabelFilterSettings(threshold=0.6)})
    tr = IouTracker(TrackerSettings(min_hits=2, tentative_max_missed=0), filters=f)
    scores = [0.5, 0.55, 0.7, 0.8, 0.9]  # medians: .5 .525 .55 .625 .7
    outs = [tr.update(make_dets(("dog", (10, 10, 60, 60), s)), 1.0 + i * 0.1, W, H) for i, s in enumerate(scores)]
    assert [len(o.events) for o in outs] == [0, 0, 0, 1, 0]
    low = [tr.update(make_dets(("car", (300, 300, 400, 400), 0.5)), 2.0 + i * 0.1, W, H) for i in range(3)]
    assert [e.type for o in low for e in o.events] == ["new"]  # no threshold for cars: min_hits only
    tr2 = IouTracker(TrackerSettings(min_hits=2, tentative_max_missed=0), filters=f)
    for i in range(5):
        assert not tr2.update(make_dets(("dog", (10, 10, 60, 60), 0.5)), 1.0 + i * 0.1, W, H).events
    tr2.update(make_dets(), 2.0, W, H)  # it goes away unconfirmed
    assert tr2.stats()["filtered"]["threshold"] == 1


def test_filtering_is_vectorized_over_a_large_batch():
    rng = np.random.default_rng(1)
    n = 5000
    x0, y0 = rng.uniform(0, 900, n), rng.uniform(0, 400, n)
    w, h = rng.uniform(1, 100, n), rng.uniform(1, 100, n)
    boxes = np.stack([x0, y0, x0 + w, y0 + h], axis=1)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    ids = rng.integers(0, 3, n)
    f = LabelFilters(FilterSettings(min_score=0.3, min_area=0.001, max_ratio=2.0,
                                    labels={"car": LabelFilterSettings(min_ratio=0.5)}), builtin={})
    keep = f.keep(boxes, scores, ids, ("person", "car", "dog"), W, H)
    ratio, area = w / h, w * h / (W * H)
    want = (scores >= 0.3) & (area >= 0.001) & (ratio <= 2.0) & ((ids != 1) | (ratio >= 0.5))
    assert np.array_equal(keep, want)
    assert sum(f.dropped.values()) == int((~want).sum())


def test_zone_filters_decide_what_counts_in_the_zone_only():
    zone = ZoneSettings(name="door", points=((0, 0), (500, 0), (500, 500), (0, 500)), coordinates="pixels",
                        filters=FilterSettings(labels={"person": LabelFilterSettings(min_area=0.005)}))
    tr = IouTracker(TrackerSettings(min_hits=1), zones=[zone])
    out = tr.update(make_dets(("person", (0, 0, 50, 100), 0.9), ("person", (100, 0, 110, 20), 0.9)), 1.0, W, H)
    assert out.counts == {"person": 2}  # both tracked
    assert out.zone_counts == {("door", "person"): 1}  # only the big one counts at the door


def test_the_measured_label_defaults_apply_when_nothing_is_configured():
    """With conf lowered to 0.25, a person scoring 0.35 is dropped (built-in min_score 0.30 passes it, but
    threshold 0.45 never confirms it); a dog is not filtered; [filters.person] overrides the default."""
    frames = [make_dets(("person", (10, 10, 60, 160), 0.35), ("dog", (300, 300, 380, 360), 0.35))] * 4
    tr = IouTracker(TrackerSettings(min_hits=2))
    labels = {e.label for i, d in enumerate(frames) for e in tr.update(d, 1.0 + i * 0.1, W, H).events}
    assert labels == {"dog"}
    tr = IouTracker(TrackerSettings(min_hits=2), filters=FilterSettings(labels={"person": LabelFilterSettings(threshold=0.3)}))
    labels = {e.label for i, d in enumerate(frames) for e in tr.update(d, 1.0 + i * 0.1, W, H).events}
    assert labels == {"dog", "person"}
    tr = IouTracker(TrackerSettings(min_hits=1))
    low = make_dets(("person", (10, 10, 60, 160), 0.28), ("car", (300, 300, 380, 360), 0.38))
    assert len(tr.update(low, 1.0, W, H).detections) == 0 and tr.stats()["filtered"]["min_score"] == 2


def test_a_zone_threshold_edited_live_applies_at_the_next_frame():
    """set_regions (the live zone editor) replaces the zone filters; no threshold of the old ones lingers."""
    def door(threshold: float) -> ZoneSettings:
        return ZoneSettings(name="door", points=((0, 0), (500, 0), (500, 500), (0, 500)), coordinates="pixels",
                            filters=FilterSettings(labels={"person": LabelFilterSettings(threshold=threshold)}))

    tr = IouTracker(TrackerSettings(min_hits=1), zones=[door(0.95)])
    person = make_dets(("person", (0, 0, 50, 100), 0.9))
    assert tr.update(person, 1.0, W, H).zone_counts.get(("door", "person"), 0) == 0  # below the zone's threshold
    tr.set_regions([door(0.5)], [])
    assert tr.update(person, 1.1, W, H).zone_counts == {("door", "person"): 1}
