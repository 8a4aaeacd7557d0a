"""A zone's ``labels`` decide its entities and retained counts; labels carry a stationary attribute."""

from __future__ import annotations

import json

from edgecam.domain import TrackView
from edgecam.publishers.mqtt import discovery
from edgecam.publishers.mqtt.announcer import Announcer
from edgecam.publishers.mqtt.counts import RetainedCounts, stationary_counts
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.publishers.mqtt.topics import Topics

T = Topics("edgecam", "front")
LABELS = ("person", "car", "dog", "cat", "bicycle", "horse")


def zone_ids(cmps: dict, zone: str) -> set[str]:
    prefix = f"edgecam_front_zone_{zone}_"
    return {k[len(prefix):] for k, c in cmps.items() if k.startswith(prefix) and "state_topic" in c}


def test_a_zone_with_labels_gets_entities_for_those_only():
    cmps = discovery.components(T, "front", LABELS, ("door", "yard"), zone_labels={"door": ("person",)})
    assert zone_ids(cmps, "door") == {"person_occupancy", "person_count"}
    assert zone_ids(cmps, "yard") == {f"{label}_{kind}" for label in LABELS for kind in ("occupancy", "count")}
    # the case: 6 labels and one zone watching person → 12 + 2 label entities, not 24
    one = discovery.components(T, "front", LABELS, ("door",), zone_labels={"door": ("person",)})
    assert sum(1 for c in one.values() if c["p"] in ("sensor", "binary_sensor")
               and c["state_topic"] not in (T.stats, T.camera_status)) == 14  # (not the camera's connectivity)
    # a zone watching a label the camera does not announce still gets it
    cmps = discovery.components(T, "front", ("person",), ("drive",), zone_labels={"drive": ("car",)})
    assert zone_ids(cmps, "drive") == {"car_occupancy", "car_count"}


def test_narrowing_a_zone_removes_its_other_entities_and_retained_counts(tmp_path):
    ha = HomeAssistantSettings()
    first = Announcer(ha, T, "front", tmp_path, labels=LABELS, zones=("door",))
    first.messages()
    first.commit()
    counts = RetainedCounts(T, tmp_path)
    counts.start(LABELS, ("door",))
    again = Announcer(ha, T, "front", tmp_path, labels=LABELS, zones=("door",), zone_labels={"door": ("person",)})
    [(_, payload)] = again.messages()
    cmps = json.loads(payload)["cmps"]
    assert zone_ids(cmps, "door") == {"person_occupancy", "person_count"}
    assert cmps["edgecam_front_zone_door_car_count"] == {"p": "sensor"}  # removed in Home Assistant
    out = dict(RetainedCounts(T, tmp_path).start(LABELS, ("door",), {"door": ("person",)}))
    assert out["edgecam/front/zone/door/person"] == b"0"
    assert out["edgecam/front/zone/door/car"] == b""  # the retained count is deleted


def test_stationary_attributes_are_retained_per_label(tmp_path):
    counts = RetainedCounts(T, tmp_path)
    start = dict(counts.start(("person", "car"), ()))
    assert start["edgecam/front/car/attributes"] == b'{"stationary":0}'
    tracks = (TrackView("a", "car", (0, 0, 1, 1), 0.9, stationary=True), TrackView("b", "car", (2, 2, 3, 3), 0.9),
              TrackView("c", "person", (0, 0, 1, 1), 0.9))
    assert stationary_counts(tracks) == {"car": 1}
    out = dict(counts.fold({"person": 1, "car": 2}, {}, stationary_counts(tracks)))
    assert out == {"edgecam/front/person": b"1", "edgecam/front/car": b"2", "edgecam/front/car/attributes": b'{"stationary":1}'}
    assert dict(counts.fold({"person": 1, "car": 2}, {}, {})) == {"edgecam/front/car/attributes": b'{"stationary":0}'}
    cmps = discovery.components(T, "front", ("car",))
    assert cmps["edgecam_front_car_count"]["json_attributes_topic"] == "edgecam/front/car/attributes"
    assert cmps["edgecam_front_car_occupancy"]["json_attributes_topic"] == "edgecam/front/car/attributes"
