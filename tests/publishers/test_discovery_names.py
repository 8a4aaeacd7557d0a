"""Entities that read well (issue #24): one naming style, units for counts, icons for every control, no
entity that can only be unknown.  The discovery payload's names and units are pinned here."""

from __future__ import annotations

import json

from edgecam.publishers.mqtt import discovery
from edgecam.publishers.mqtt.announcer import Announcer
from edgecam.publishers.mqtt.publisher import MqttPublisher
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.publishers.mqtt.topics import Topics
from edgecam.controls import Controls

from mqttkit import CAM, _settings

T = Topics("edgecam", "yard")

# unique id → (platform, name, unit) for labels person / hot dog in zone "front_drive"
PINNED = {
    "edgecam_yard_person_occupancy": ("binary_sensor", "Person occupancy", None),
    "edgecam_yard_person_count": ("sensor", "Person count", "objects"),
    "edgecam_yard_hot_dog_occupancy": ("binary_sensor", "Hot dog occupancy", None),
    "edgecam_yard_hot_dog_count": ("sensor", "Hot dog count", "objects"),
    "edgecam_yard_zone_front_drive_person_occupancy": ("binary_sensor", "Front drive person occupancy", None),
    "edgecam_yard_zone_front_drive_person_count": ("sensor", "Front drive person count", "objects"),
    "edgecam_yard_zone_front_drive_hot_dog_occupancy": ("binary_sensor", "Front drive hot dog occupancy", None),
    "edgecam_yard_zone_front_drive_hot_dog_count": ("sensor", "Front drive hot dog count", "objects"),
    "edgecam_yard_snapshot": ("image", "Snapshot", None),
    "edgecam_yard_fps": ("sensor", "FPS", "fps"),
    "edgecam_yard_inference_ms": ("sensor", "Inference time", "ms"),
    "edgecam_yard_temperature": ("sensor", "SoC temperature", "°C"),
    "edgecam_yard_dropped_frames": ("sensor", "Dropped frames", "frames"),
    "edgecam_yard_throttled": ("binary_sensor", "Throttled", None),
    "edgecam_yard_detection": ("switch", "Detection", None),
    "edgecam_yard_conf": ("number", "Confidence threshold", None),
}


def test_names_units_and_icons_are_pinned():
    cmps = discovery.components(T, "yard", ["person", "hot dog"], ["front_drive"], discovery.DIAGNOSTIC_KEYS)
    got = {cid: (c["p"], c["name"], c.get("unit_of_measurement")) for cid, c in cmps.items()}
    assert {cid: v for cid, v in got.items() if cid in PINNED} == PINNED
    for cid, c in cmps.items():
        assert c["name"][:1].isupper(), c["name"]
        if c["p"] in ("switch", "number", "button", "select"):
            assert c.get("icon", "").startswith("mdi:"), cid
        if c["p"] == "sensor" and c.get("state_class") == "measurement":
            assert c.get("unit_of_measurement"), cid


def test_entity_name_style():
    assert discovery.entity_name("driveway", "person", "occupancy") == "Driveway person occupancy"
    assert discovery.entity_name("back_yard", "traffic light", "count") == "Back yard traffic light count"


def test_diagnostics_are_announced_only_after_a_reading(tmp_path):
    ha = HomeAssistantSettings()

    def cmps(ann):
        out = json.loads(ann.messages()[0][1])["cmps"]
        ann.commit()
        return {cid for cid, c in out.items() if "unique_id" in c}

    ann = Announcer(ha, T, "yard", tmp_path, labels=("person",))
    keys = {"fps", "inference_ms", "dropped_frames", "temperature_c", "throttled"}
    assert ann.observe_stats(keys, {"fps", "inference_ms", "dropped_frames"}) is False  # the defaults already
    assert "edgecam_yard_temperature" not in cmps(ann) and "edgecam_yard_throttled" not in cmps(ann)
    assert ann.observe_stats(keys, keys - {"throttled"}) is True  # a first temperature reading
    assert "edgecam_yard_temperature" in cmps(ann)
    assert ann.observe_stats(keys, {"fps"}) is False  # one missing reading does not remove it
    # a restart on a machine where the sensor is gone: the recorded entity goes at the first stats
    again = Announcer(ha, T, "yard", tmp_path, labels=("person",))
    assert "edgecam_yard_temperature" in cmps(again)
    assert again.observe_stats(keys, {"fps", "inference_ms", "dropped_frames"}) is True
    assert "edgecam_yard_temperature" not in cmps(again)


def test_publisher_announces_temperature_once_it_has_a_reading(tmp_path, mosquitto, mqtt_recorder):
    topic = f"homeassistant/device/edgecam_{CAM}/config"
    rec = mqtt_recorder(mosquitto, (topic,))
    pub = MqttPublisher(_settings(mosquitto), HomeAssistantSettings(), CAM, Controls(), tmp_path, labels=("person",))
    pub.start()
    assert pub.wait_connected(20)
    stats = {"fps": 5.0, "inference_ms": 80.0, "dropped_frames": 0, "temperature_c": None, "throttled": None}
    pub.publish_stats(stats)
    first = json.loads(rec.wait_for(topic).payload)["cmps"]
    assert f"edgecam_{CAM}_temperature" not in first and f"edgecam_{CAM}_throttled" not in first
    pub.publish_stats({**stats, "temperature_c": 51.2})
    later = json.loads(rec.wait_for(topic, lambda m: f"edgecam_{CAM}_temperature".encode() in m.payload).payload)
    assert later["cmps"][f"edgecam_{CAM}_temperature"]["name"] == "SoC temperature"
    assert f"edgecam_{CAM}_throttled" not in later["cmps"]
    pub.close()
