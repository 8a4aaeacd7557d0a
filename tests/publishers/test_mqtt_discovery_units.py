"""Home Assistant discovery, pure: the components, the announcer's labels, removals and diagnostics, its record."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from edgecam.confidence import CONF_MAX, CONF_MIN
from edgecam.names import slug_collisions
from edgecam.publishers.mqtt import discovery
from edgecam.publishers.mqtt.announcer import Announcer
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.publishers.mqtt.topics import Topics

T = Topics("edgecam", "front")


def _ha_keys_ok(payload: dict) -> None:
    assert {"dev", "o", "cmps"} <= payload.keys()
    assert payload["dev"]["ids"] and payload["dev"]["name"] and payload["o"]["name"]
    uids = set()
    for cid, cfg in payload["cmps"].items():
        assert "p" in cfg
        if len(cfg) == 1:
            continue  # a removal
        assert cfg["unique_id"] not in uids
        uids.add(cfg["unique_id"])
        assert cfg["p"] in {"binary_sensor", "sensor", "image", "switch", "number"}
        if cfg["p"] == "image":
            assert cfg["image_topic"] == T.snapshot and cfg["content_type"] == "image/jpeg"
        elif cfg["p"] in ("switch", "number"):
            assert cfg["command_topic"].startswith("edgecam/front/set/")
            assert cfg["state_topic"].startswith("edgecam/front/state/")
        else:
            assert cfg["state_topic"].startswith("edgecam/front/")


def test_discovery_components_cover_every_entity():
    cmps = discovery.components(T, "front", ("person", "dog"), ("drive",), discovery.DIAGNOSTIC_KEYS)
    platforms = [c["p"] for c in cmps.values()]
    # per label and per zone x label: occupancy + count
    assert platforms.count("binary_sensor") == 2 + 2 + 1 + 1  # + throttled, camera connectivity
    # + fps, inference, temperature, dropped frames, camera reconnects, camera last error
    assert platforms.count("sensor") == 2 + 2 + 6
    assert platforms.count("image") == platforms.count("switch") == platforms.count("number") == 1
    occ = cmps["edgecam_front_zone_drive_dog_occupancy"]
    assert occ["state_topic"] == "edgecam/front/zone/drive/dog" and occ["device_class"] == "occupancy"
    camera = cmps.pop("edgecam_front_camera")
    assert camera["state_topic"] == T.camera_status == "edgecam/front/camera"
    assert (camera["payload_on"], camera["payload_off"], camera["device_class"]) == ("online", "offline", "connectivity")
    diag = [c for c in cmps.values() if c.get("entity_category") == "diagnostic"]
    assert len(diag) == 7 and all(c["state_topic"] == T.stats and "value_json" in c["value_template"] for c in diag)
    # counts, occupancies and the snapshot read unavailable while the daemon OR the camera is offline
    both = [T.availability, T.camera_status]
    for cid, cfg in cmps.items():
        topics = [a["topic"] for a in cfg["availability"]]
        if cfg["p"] == "image" or cid.endswith(("_count", "_occupancy")):
            assert topics == both and cfg["availability_mode"] == "all", cid
        else:
            assert topics == [T.availability] and "availability_mode" not in cfg, cid
    payload = discovery.device_payload(T, "front", cmps)
    json.loads(json.dumps(payload))
    _ha_keys_ok(payload)


def test_discovery_removes_dropped_labels_across_restarts(tmp_path):
    ha = HomeAssistantSettings()
    first = Announcer(ha, T, "front", tmp_path, labels=("person", "dog"))
    [(topic, payload)] = first.messages()
    assert topic == "homeassistant/device/edgecam_front/config"
    assert "edgecam_front_dog_count" in json.loads(payload)["cmps"]
    first.commit()
    second = Announcer(ha, T, "front", tmp_path, labels=("person",))  # "restart" with dog removed
    cmps = json.loads(second.messages()[0][1])["cmps"]
    assert cmps["edgecam_front_dog_count"] == {"p": "sensor"}
    assert cmps["edgecam_front_dog_occupancy"] == {"p": "binary_sensor"}
    assert "unique_id" in cmps["edgecam_front_person_count"]
    second.commit()
    third = Announcer(ha, T, "front", tmp_path, labels=("person",))
    assert json.loads(third.messages()[0][1])["cmps"]["edgecam_front_dog_count"] == {"p": "sensor"}  # still marked
    third.commit()
    off = Announcer(replace(ha, discovery=False), T, "front", tmp_path, labels=("person",))
    assert off.messages() == [("homeassistant/device/edgecam_front/config", b"")]
    off.commit()
    assert not (tmp_path / "discovery.json").exists()
    assert Announcer(replace(ha, discovery=False), T, "front", tmp_path).messages() == []


def test_discovery_learns_labels_when_none_configured(tmp_path):
    ann = Announcer(HomeAssistantSettings(), T, "front", tmp_path)
    assert ann.observe(["cat"], []) is True and ann.observe(["cat"], []) is False
    ann.messages(); ann.commit()
    again = Announcer(HomeAssistantSettings(), T, "front", tmp_path)
    assert "edgecam_front_cat_count" in json.loads(again.messages()[0][1])["cmps"]


def test_default_labels_are_announced_from_the_start_and_others_learnt(tmp_path):
    ann = Announcer(HomeAssistantSettings(), T, "front", tmp_path, default_labels=("person", "car"))
    cmps = json.loads(ann.messages()[0][1])["cmps"]
    assert {"edgecam_front_person_count", "edgecam_front_car_count"} <= cmps.keys()
    assert ann.observe(["person"], []) is False  # already announced
    assert ann.observe(["horse"], []) is True
    assert "edgecam_front_horse_occupancy" in json.loads(ann.messages()[0][1])["cmps"]
    fixed = Announcer(HomeAssistantSettings(), T, "front", tmp_path, labels=("dog",), default_labels=("person",))
    assert fixed.observe(["horse"], []) is False  # configured labels are exactly what is announced


def test_every_component_carries_qos_and_the_one_confidence_range():
    cmps = discovery.components(T, "front", ("person",), ("drive",), discovery.DIAGNOSTIC_KEYS, qos=1)
    assert cmps and all(c["qos"] == 1 for c in cmps.values())
    number = cmps["edgecam_front_conf"]
    assert (number["min"], number["max"], number["step"]) == (CONF_MIN, CONF_MAX, 0.01)
    assert all(c["qos"] == 2 for c in discovery.components(T, "front", ("person",), qos=2).values())


def test_diagnostic_entities_only_for_stats_keys_sent_and_templates_never_read_a_missing_key():
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # touching a missing key raises

    default = discovery.components(T, "front", ())
    keys = discovery.stats_template_keys(default)
    assert keys == set(discovery.DEFAULT_DIAGNOSTICS)  # thermal off: no temperature / throttled entities
    assert "edgecam_front_temperature" not in default and "edgecam_front_throttled" not in default
    full = discovery.components(T, "front", (), (), discovery.DIAGNOSTIC_KEYS)
    rendered = {}
    for stats in ({"fps": 4.5, "inference_ms": 12.0, "dropped_frames": 3, "temperature_c": 51.2, "throttled": True},
                  {"fps": 4.5, "temperature_c": None, "throttled": None},
                  {"fps": 4.5}):
        for cid, cfg in full.items():
            if "value_template" in cfg and cfg["state_topic"] == T.stats:
                rendered[cid] = env.from_string(cfg["value_template"]).render(value_json=stats, value=json.dumps(stats))
        if "temperature_c" in stats and stats["temperature_c"] is not None:
            assert rendered["edgecam_front_temperature"] == "51.2" and rendered["edgecam_front_throttled"] == "ON"
        else:  # Home Assistant shows "None" as unknown, without a template warning
            assert rendered["edgecam_front_temperature"] == "None" and rendered["edgecam_front_throttled"] == "None"
    assert rendered["edgecam_front_dropped_frames"] == "None" and rendered["edgecam_front_fps"] == "4.5"


def test_slug_collisions_name_both():
    assert slug_collisions(["person", "Person", "dog", "Front Door", "front-door", "person"]) == [
        ("person", "Person"), ("Front Door", "front-door")]
    assert slug_collisions(["Front-Door", "front_door"]) == [("Front-Door", "front_door")]
    assert slug_collisions(["a", "b", "traffic light"]) == []


def test_removal_markers_stay_in_every_announcement(tmp_path):
    """Narrow the labels, restart twice before Home Assistant saw anything: the markers are still sent."""
    ha = HomeAssistantSettings()

    def announce(labels, zones=()):
        ann = Announcer(ha, T, "front", tmp_path, labels=labels, zones=zones)
        cmps = json.loads(ann.messages()[0][1])["cmps"]
        ann.commit()
        return ann, cmps

    announce(("person", "dog", "cat"), ("drive",))
    _, cmps = announce(("person",))
    gone = {"edgecam_front_dog_count", "edgecam_front_cat_occupancy", "edgecam_front_zone_drive_person_count"}
    assert all(cmps[c] == {"p": cmps[c]["p"]} for c in gone)
    for _ in range(2):  # restarts: still marked
        _, cmps = announce(("person",))
        assert all(len(cmps[c]) == 1 for c in gone)
    _, cmps = announce(("person", "dog"))  # dog comes back: a full config again, cat still marked removed
    assert "unique_id" in cmps["edgecam_front_dog_count"] and cmps["edgecam_front_cat_count"] == {"p": "sensor"}


def test_diagnostics_follow_the_stats_and_are_remembered(tmp_path):
    ann = Announcer(HomeAssistantSettings(), T, "front", tmp_path)
    assert "edgecam_front_temperature" not in json.loads(ann.messages()[0][1])["cmps"]
    ann.commit()
    assert ann.observe_stats({"fps", "inference_ms", "dropped_frames", "temperature_c", "throttled", "uptime_s"})
    assert not ann.observe_stats({"fps", "inference_ms", "dropped_frames", "temperature_c", "throttled"})
    assert "edgecam_front_temperature" in json.loads(ann.messages()[0][1])["cmps"]
    ann.commit()
    again = Announcer(HomeAssistantSettings(), T, "front", tmp_path)  # restart: announced from the start
    assert "unique_id" in json.loads(again.messages()[0][1])["cmps"]["edgecam_front_throttled"]
    assert again.observe_stats({"fps", "inference_ms", "dropped_frames"})  # thermal switched off
    assert json.loads(again.messages()[0][1])["cmps"]["edgecam_front_throttled"] == {"p": "binary_sensor"}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_corrupt_discovery_record_is_moved_aside(tmp_path, caplog, content):
    (tmp_path / "discovery.json").write_bytes(content)
    with caplog.at_level(logging.WARNING):
        ann = Announcer(HomeAssistantSettings(), T, "front", tmp_path, labels=("person",))
    assert "edgecam_front_person_count" in json.loads(ann.messages()[0][1])["cmps"]
    aside = list(tmp_path.glob("discovery.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert sum("moved it to" in r.message for r in caplog.records) == 1
    ann.commit()
    assert json.loads((tmp_path / "discovery.json").read_text())["components"]


def test_a_learnt_label_colliding_with_a_known_one_is_not_announced_and_warned_once(tmp_path, caplog):
    ann = Announcer(HomeAssistantSettings(), T, "front", tmp_path, default_labels=("person",))
    with caplog.at_level(logging.WARNING):
        assert ann.observe(["Person"], []) is False
        assert ann.observe(["Person", "dog"], []) is True
    assert ann.labels == {"person", "dog"}
    assert sum("same Home Assistant id" in r.message for r in caplog.records) == 1
