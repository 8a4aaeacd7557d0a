"""One live daemon per camera on a broker (issue #24): the owner record, live vs stale, runtime conflicts.

Every test runs a real ``MqttPublisher`` against a real mosquitto; other daemons are played by retained
messages a recorder publishes (another host cannot exist here), or by a second publisher.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from edgecam.identity import Instance
from edgecam.publishers.mqtt.publisher import MqttPublisher
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.controls import Controls

from mqttkit import CAM, _settings

BASE = f"edgecam/{CAM}"
OWNER = f"{BASE}/owner"
AVAIL = f"{BASE}/availability"


def _pub(broker, state_dir, instance: Instance | None = None) -> MqttPublisher:
    return MqttPublisher(_settings(broker), HomeAssistantSettings(), CAM, Controls(), state_dir,
                         labels=("person",), instance=instance)


def _record(host: str, pid: int, started: str = "2026-01-01T00:00:00Z", instance: str = "0123456789abcdef",
            availability: str = AVAIL) -> bytes:
    return json.dumps({"host": host, "pid": pid, "instance": instance, "started": started, "camera": CAM,
                       "availability": availability}).encode()


def _wait(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _barrier(rec, topic: str = "test/barrier") -> None:
    """Everything a client published before now has reached the recorder (the broker keeps order)."""
    marker = f"{time.monotonic_ns()}".encode()
    rec.publish(topic, marker)
    rec.wait_for(topic, lambda m: m.payload == marker)


def test_live_owner_on_another_host_is_refused_and_nothing_is_published_over_it(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto)
    rec.publish(OWNER, _record("pi-kitchen", 4242), retain=True)
    rec.publish(AVAIL, "online", retain=True)
    _barrier(rec)
    rec.clear()
    pub = _pub(mosquitto, tmp_path)
    pub.start()
    _wait(lambda: pub.fatal_error is not None, "the refusal")
    message = str(pub.fatal_error)
    assert "pi-kitchen" in message and "pid 4242" in message and "[camera] id" in message
    assert "\n" not in message
    pub.close()
    _barrier(rec)
    mine = [(m.topic, m.payload) for m in rec.messages if m.topic.startswith((BASE, "homeassistant/")) and "/sync/" not in m.topic]
    assert mine == [], mine  # no offline, no owner record, no discovery, no counts
    assert not pub.connected


def test_offline_owner_on_another_host_is_stale_and_taken_over(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto)
    rec.publish(OWNER, _record("pi-kitchen", 4242), retain=True)
    rec.publish(AVAIL, "offline", retain=True)  # its last will, after a crash
    pub = _pub(mosquitto, tmp_path)
    pub.start()
    assert pub.wait_connected(20) and pub.fatal_error is None
    owner = json.loads(rec.wait_for(OWNER, lambda m: b"pi-kitchen" not in m.payload).payload)
    assert owner["instance"] == pub.instance.instance and owner["pid"] == pub.instance.pid
    rec.wait_for(AVAIL, lambda m: m.payload == b"online")
    pub.close()


def test_owner_watched_on_its_own_availability_topic(tmp_path, mosquitto, mqtt_recorder):
    """``Front-Door`` and ``front_door`` share one owner record; liveness is read where that owner says."""
    rec = mqtt_recorder(mosquitto)
    rec.publish(OWNER, _record("pi-porch", 77, availability="edgecam/TestCam/availability"), retain=True)
    rec.publish(AVAIL, "offline", retain=True)  # this spelling's topic says nothing about that owner
    rec.publish("edgecam/TestCam/availability", "online", retain=True)
    pub = _pub(mosquitto, tmp_path)
    pub.start()
    _wait(lambda: pub.fatal_error is not None, "the refusal")
    assert "pi-porch" in str(pub.fatal_error)
    pub.close()


def test_earlier_run_on_this_host_with_a_dead_pid_is_stale(tmp_path, mosquitto, mqtt_recorder):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    rec = mqtt_recorder(mosquitto)
    rec.publish(OWNER, _record(Instance.here().host, dead_pid), retain=True)
    rec.publish(AVAIL, "online", retain=True)  # the crashed run's connection is not yet timed out
    pub = _pub(mosquitto, tmp_path)
    pub.start()
    assert pub.wait_connected(20) and pub.fatal_error is None
    rec.wait_for(OWNER, lambda m: json.loads(m.payload)["pid"] == pub.instance.pid)
    pub.close()


def test_live_edgecam_on_this_host_is_refused(tmp_path, mosquitto, mqtt_recorder):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "edgecam"])
    try:
        rec = mqtt_recorder(mosquitto)
        rec.publish(OWNER, _record(Instance.here().host, other.pid), retain=True)
        rec.publish(AVAIL, "offline", retain=True)  # on this host the pid decides, not the topic
        pub = _pub(mosquitto, tmp_path)
        pub.start()
        _wait(lambda: pub.fatal_error is not None, "the refusal")
        assert f"pid {other.pid}" in str(pub.fatal_error)
        pub.close()
    finally:
        other.kill()
        other.wait()


def test_a_stale_last_will_is_answered_with_online(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, (AVAIL,))
    pub = _pub(mosquitto, tmp_path)
    pub.start()
    assert pub.wait_connected(20)
    rec.wait_for(AVAIL, lambda m: m.payload == b"online")
    rec.clear()
    rec.publish(AVAIL, "offline", retain=True)  # e.g. the will of a daemon killed while it was deciding
    rec.wait_for(AVAIL, lambda m: m.payload == b"online" and m.time > rec.on(AVAIL)[0].time)
    assert pub.fatal_error is None
    pub.close()


def test_two_claims_at_once_the_earlier_start_keeps_the_camera(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, (OWNER,))
    me = Instance("this-host", 1, "bbbbbbbbbbbbbbbb", "2026-06-01T00:00:00Z")
    pub = _pub(mosquitto, tmp_path, instance=me)
    pub.start()
    assert pub.wait_connected(20)
    rec.wait_for(OWNER, lambda m: b"bbbbbbbbbbbbbbbb" in m.payload)
    rec.clear()
    rec.publish(OWNER, _record("pi-late", 9, started="2026-07-01T00:00:00Z"), retain=True)  # younger: loses
    rec.wait_for(OWNER, lambda m: b"bbbbbbbbbbbbbbbb" in m.payload)  # the owner re-asserts its record
    assert pub.fatal_error is None
    rec.publish(OWNER, _record("pi-early", 8, started="2026-05-01T00:00:00Z"), retain=True)  # older: wins
    _wait(lambda: pub.fatal_error is not None, "the owner to yield")
    assert "pi-early" in str(pub.fatal_error)
    pub.close()
