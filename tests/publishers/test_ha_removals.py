"""Removals that land (issue #24): labels narrowed while Home Assistant is down, then its birth message.

Home Assistant is played by ``ha_emulation.py``, an emulation of its MQTT discovery rule written from
home-assistant/core ``homeassistant/components/mqtt/discovery.py`` (``async_discovery_message_received``,
``async_process_discovery_payload``) and ``homeassistant/components/mqtt/entity.py``
(``MqttDiscoveryUpdateMixin``): a removal marker only removes a component discovered since Home
Assistant's last start; restored registry entries stay.  Publisher and broker are real.
"""

from __future__ import annotations

import json

import pytest

from edgecam.publishers.mqtt.announcer import RECORD
from edgecam.publishers.mqtt.publisher import MqttPublisher
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.controls import Controls

from ha_emulation import HomeAssistantEmulation
from mqttkit import CAM, _settings

DEVICE = f"homeassistant/device/edgecam_{CAM}/config"


def _pub(broker, state_dir, labels) -> MqttPublisher:
    return MqttPublisher(_settings(broker), HomeAssistantSettings(), CAM, Controls(), state_dir, labels=labels)


def _uids(payload: bytes) -> set[str]:
    return {c["unique_id"] for c in json.loads(payload)["cmps"].values() if "unique_id" in c}


def _markers(payload: bytes) -> set[str]:
    return {cid for cid, c in json.loads(payload)["cmps"].items() if set(c) == {"p"}}


def _regular(m) -> bool:
    return len(json.loads(m.payload)["cmps"]) > 1


@pytest.mark.parametrize("lag", ["next-message", "immediate"])
def test_labels_narrowed_while_home_assistant_is_down_are_removed_at_its_birth(tmp_path, mosquitto, mqtt_recorder, lag):
    rec = mqtt_recorder(mosquitto, (DEVICE,))
    ha = HomeAssistantEmulation(lag=lag)
    ha.start(mosquitto)

    first = _pub(mosquitto, tmp_path, ("person", "dog", "cat"))
    first.start()
    before = _uids(rec.wait_for(DEVICE).payload)
    ha.wait_registered(before)
    first.close()
    ha.stop()  # Home Assistant is down from here

    rec.clear()
    second = _pub(mosquitto, tmp_path, ("person",))
    second.start()
    narrowed = rec.wait_for(DEVICE).payload
    after, removed = _uids(narrowed), _markers(narrowed)
    assert removed == before - after and {"edgecam_testcam_dog_count", "edgecam_testcam_cat_occupancy"} <= removed

    # Home Assistant starts: the retained config's markers are dropped (its rule), the entities stay
    ha.start(mosquitto, birth=False)
    assert ha.registered() == before
    assert all(f"unhandled ('{platform}', 'edgecam_{CAM} {cid}')" in ha.log
               for cid, platform in ((c, "sensor" if c.endswith("count") else "binary_sensor") for c in removed))

    # its birth: every removed component is discovered again, then removed
    ha.log.clear()
    rec.clear()
    ha.birth()
    ha.wait_registered(after)
    for cid in removed:
        key = next(line for line in ha.log if line.startswith("added") and f" {cid}'" in line).removeprefix("added ")
        assert ha.log.index(f"added {key}") < ha.log.index(f"removed {key}"), ha.log
    resent = [m for m in rec.on(DEVICE) if not _regular(m)]
    assert len(resent) == 2 * len(removed) and not any(m.retain for m in resent)
    assert json.loads(rec.wait_for(DEVICE, _regular).payload)["cmps"].keys() >= removed  # markers stay retained

    # settled: a second birth, and a restart, send nothing but the regular config
    record = json.loads((tmp_path / RECORD).read_text())
    assert record["unsettled"] == [] and set(record["removed"]) == removed
    rec.clear()
    ha.birth()
    rec.wait_for(DEVICE, _regular)  # the answer to this birth; any re-sent component would come before it
    assert all(_regular(m) for m in rec.on(DEVICE))
    second.close()
    third = _pub(mosquitto, tmp_path, ("person",))
    third.start()
    rec.wait_for(DEVICE, _regular)
    rec.clear()
    ha.birth()
    rec.wait_for(DEVICE, _regular)
    assert all(_regular(m) for m in rec.on(DEVICE))
    ha.wait_registered(after)
    third.close()
    ha.stop()


def test_the_emulated_rule_drops_markers_for_components_not_discovered_since_start(mosquitto, mqtt_recorder):
    """The emulation itself: the loss the feature exists for, without edgecam."""
    ha = HomeAssistantEmulation(lag="immediate")
    rec = mqtt_recorder(mosquitto, ("test/unused",))
    full = {"dev": {"ids": ["n"]}, "cmps": {"a": {"p": "sensor", "unique_id": "a", "state_topic": "t"},
                                             "b": {"p": "sensor", "unique_id": "b", "state_topic": "t"}}}
    ha.start(mosquitto)
    rec.publish("homeassistant/device/n/config", json.dumps(full), retain=True)
    ha.wait_registered({"a", "b"})
    ha.stop()
    full["cmps"]["b"] = {"p": "sensor"}
    rec.publish("homeassistant/device/n/config", json.dumps(full), retain=True)
    ha.start(mosquitto)
    ha.settle()
    assert ha.registered() == {"a", "b"}  # b stays: removed while "Home Assistant" was down
    assert "unhandled ('sensor', 'n b')" in ha.log
    ha.stop()
