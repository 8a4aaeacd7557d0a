"""Zones (bottom-centre rule, per-zone counts) and masks (detections dropped)."""

from __future__ import annotations

import pytest

from edgecam.tracking import IouTracker
from edgecam.tracking.settings import MaskSettings, TrackerSettings, ZoneSettings
from tracking_synth import make_dets

W, H = 640, 480
LEFT = ZoneSettings(name="left", points=((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)))
DRIVEWAY_PX = ZoneSettings(name="driveway", points=((320, 240), (640, 240), (640, 480), (320, 480)),
                           labels=("car",), coordinates="pixels")


def step(tr, t, *items):
    return tr.update(make_dets(*items), float(t), width=W, height=H)


def test_zone_membership_uses_bottom_centre_and_counts_per_zone():
    tr = IouTracker(TrackerSettings(min_hits=1, update_min_interval_s=0.0), zones=[LEFT, DRIVEWAY_PX])
    # Box mostly on the right, but its bottom-centre (300, 200) is in the left half.
    person = ("person", (200, 50, 400, 200), 0.9)
    car = ("car", (400, 300, 600, 400), 0.9)  # bottom-centre (500, 400): driveway, not left
    out = step(tr, 0, person, car)
    zones = {e.label: e.zones for e in out.events}
    assert zones == {"person": ("left",), "car": ("driveway",)}
    assert out.zone_counts == {("driveway", "car"): 1, ("left", "person"): 1}
    # A person in the driveway is not counted there (the zone lists only cars).
    out = step(tr, 1, ("person", (400, 50, 600, 200), 0.9), car)  # person moved right: overlap 0 → new track
    assert out.zone_counts[("driveway", "car")] == 1
    assert ("driveway", "person") not in out.zone_counts


def test_zone_change_emits_update_and_counts_return_to_zero():
    settings = TrackerSettings(min_hits=2, update_min_interval_s=0.0, update_interval_s=100.0, iou=0.1)
    tr = IouTracker(settings, zones=[LEFT])
    outs = []
    for i in range(12):  # walk right across the middle line (x = 320), 20 px per frame
        x0 = 260 + 20 * i
        outs.append(step(tr, i, ("person", (x0, 100, x0 + 40, 300), 0.8)))
    kinds = [(i, e.type, e.zones) for i, o in enumerate(outs) for e in o.events]
    # centre = x0 + 20 crosses 320 at i = 2
    assert kinds == [(1, "new", ("left",)), (2, "update", ())]
    assert outs[1].zone_counts == {("left", "person"): 1}
    assert all(o.zone_counts == {("left", "person"): 0} for o in outs[2:])
    assert outs[-1].counts == {"person": 1}
    assert outs[-1].tracks[0].zones == ()


def test_zone_labels_are_reported_with_zero_before_anything_is_seen():
    tr = IouTracker(TrackerSettings(), zones=[DRIVEWAY_PX])
    assert step(tr, 0).zone_counts == {("driveway", "car"): 0}


def test_mask_drops_detections_by_bottom_centre():
    mask = MaskSettings(points=((0.0, 0.8), (1.0, 0.8), (1.0, 1.0), (0.0, 1.0)))  # bottom strip
    tr = IouTracker(TrackerSettings(min_hits=1), masks=[mask])
    inside = ("dog", (100, 300, 140, 470), 0.9)  # bottom-centre y=470 > 384: masked
    overlapping = ("person", (300, 100, 340, 380), 0.9)  # box does not reach the mask's top: kept
    out = step(tr, 0, inside, overlapping)
    assert [out.detections.label(i) for i in range(len(out.detections))] == ["person"]
    assert out.counts == {"person": 1}
    for t in range(1, 5):
        out = step(tr, t, inside)
        assert len(out.detections) == 0 and "dog" not in out.counts


def test_mask_with_labels_only_drops_those_labels():
    mask = MaskSettings(points=((0, 0), (640, 0), (640, 480), (0, 480)), coordinates="pixels", labels=("car",))
    tr = IouTracker(TrackerSettings(min_hits=1), masks=[mask])
    out = step(tr, 0, ("car", (0, 0, 100, 100), 0.9), ("person", (200, 0, 240, 100), 0.9))
    assert out.counts == {"person": 1}


def test_only_in_zones_drops_detections_outside_every_zone():
    tr = IouTracker(TrackerSettings(min_hits=1, only_in_zones=True), zones=[LEFT])
    out = step(tr, 0, ("person", (10, 10, 50, 100), 0.9), ("person", (500, 10, 540, 100), 0.9))
    assert len(out.detections) == 1 and out.detections.boxes[0][0] == 10
    assert out.counts == {"person": 1}


def test_relative_regions_need_the_frame_size():
    tr = IouTracker(TrackerSettings(), zones=[LEFT])
    with pytest.raises(ValueError, match="width= and height="):
        tr.update(make_dets(("person", (0, 0, 10, 10), 0.9)), 0.0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ZoneSettings(name="z", points=((0, 0), (1, 1))), "at least 3 points"),
        (lambda: ZoneSettings(name="z", points=((0, 0), (2, 0), (1, 1))), "outside 0..1"),
        (lambda: ZoneSettings(name="z", points=((0, 0), (2, 0, 3), (1, 1))), r"must be \[x, y\]"),
        (lambda: ZoneSettings(points=((0, 0), (1, 0), (1, 1))), "needs a name"),
        (lambda: MaskSettings(points=((-5, 0), (10, 0), (1, 1)), coordinates="pixels"), "negative"),
    ],
)
def test_invalid_regions_are_rejected_with_a_clear_message(make, message):
    with pytest.raises(ValueError, match=message):
        make().validate()
    with pytest.raises(ValueError, match=message):
        region = make()
        IouTracker(TrackerSettings(), **({"masks": [region]} if isinstance(region, MaskSettings) else {"zones": [region]}))


def test_duplicate_zone_names_are_rejected():
    with pytest.raises(ValueError, match="unique.*left"):
        IouTracker(TrackerSettings(), zones=[LEFT, LEFT])
