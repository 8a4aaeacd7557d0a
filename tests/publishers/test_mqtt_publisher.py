"""MqttPublisher against a real mosquitto: delivery, outages, crash recovery, commands, discovery."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from broker import Mosquitto
from edgecam.controls import Controls
from edgecam.domain import Detections, Event, Frame, FrameUpdate, Inference, TrackView
from edgecam.publishers.base import Publisher, load_publisher_class
from edgecam.publishers.mqtt.publisher import MqttPublisher

from mqttkit import REPO, CAM, EVENTS, _publisher, _event, _event_update, _ids, _publisher_ids, _runs


def test_registry_and_protocol(tmp_path, mosquitto):
    assert load_publisher_class("mqtt") is MqttPublisher
    assert isinstance(_publisher(mosquitto, tmp_path), Publisher)


def test_end_to_end_with_real_detections(tmp_path, mosquitto, mqtt_recorder, detector, horse):
    image = horse
    inference = detector.detect(image, "BGR")
    dets = inference.detections
    labels = {dets.label(i) for i in range(len(dets))}
    assert {"person", "dog", "horse"} <= labels

    rec = mqtt_recorder(mosquitto)
    pub = _publisher(mosquitto, tmp_path / "state")
    pub.start()
    assert pub.wait_connected(10)
    tracks = tuple(TrackView(f"{CAM}-{i}", dets.label(i), tuple(map(float, dets.boxes[i])), float(dets.scores[i]))
                   for i in range(len(dets)))
    counts = {}
    for t in tracks:
        counts[t.label] = counts.get(t.label, 0) + 1
    new = tuple(Event("new", t.id, t.label, t.score, t.score, t.box, 1000.0) for t in tracks)
    end = tuple(replace(e, type="end", end_time=1003.0) for e in new)
    zero = {k: 0 for k in counts}
    empty = Detections.empty(dets.class_names)
    updates = [
        FrameUpdate(CAM, Frame(image, 0, 1000.0, "BGR"), inference, dets, new, tracks, counts),
        FrameUpdate(CAM, Frame(image, 1, 1001.0, "BGR"), inference, dets, (), tracks, counts),
        FrameUpdate(CAM, Frame(image, 2, 1002.0, "BGR"), replace(inference, detections=empty), empty, end, (), zero),
        FrameUpdate(CAM, Frame(image, 3, 1003.0, "BGR"), replace(inference, detections=empty), empty, (), (), zero),
    ]
    for u in updates:
        pub.publish(u)
    pub.publish_stats({"fps": 4.5, "inference_ms": inference.inference_ms, "temperature_c": 51.2,
                       "throttled": False, "dropped_frames": 0, "uptime_s": 3.0})

    base = f"edgecam/{CAM}"
    rec.wait_for(f"{base}/availability", lambda m: m.payload == b"online")
    pub.publish(FrameUpdate(CAM, Frame(image, 4, 1004.0, "BGR"), inference, dets))  # the sentinel frame
    rec.wait_for(f"{base}/detections", lambda m: json.loads(m.payload)["frame"] == 4)
    feed = [json.loads(m.payload) for m in rec.on(f"{base}/detections")]
    assert [f["frame"] for f in feed] == [0, 1, 2, 4]  # frames with detections + one empty, then silence
    assert {d["label"] for d in feed[0]["detections"]} == labels and feed[2]["detections"] == []
    assert feed[0]["v"] == 1 and feed[0]["camera"] == CAM and (feed[0]["width"], feed[0]["height"]) == (image.shape[1], image.shape[0])
    events = [json.loads(m.payload) for m in rec.wait_count(EVENTS, 2 * len(tracks))]
    assert [e["type"] for e in events] == ["new"] * len(tracks) + ["end"] * len(tracks)
    assert [e["id"] for e in events] == [t.id for t in tracks] * 2
    for label, n in counts.items():
        rec.wait_for(f"{base}/{label}", lambda m: m.payload == b"0")
        counts_seen = [m.payload for m in rec.on(f"{base}/{label}")]  # 0 from the start (unless superseded)
        assert counts_seen[-2:] == [str(n).encode(), b"0"] and set(counts_seen[:-2]) <= {b"0"}, counts_seen
    snap = rec.wait_for(f"{base}/snapshot").payload
    img = cv2.imdecode(np.frombuffer(snap, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[1] == 640
    stats = json.loads(rec.wait_for(f"{base}/stats").payload)
    assert stats["fps"] == 4.5 and pub.stats()["connected"] is True
    disc = json.loads(rec.wait_for("homeassistant/device/edgecam_testcam/config").payload)
    assert {"dev", "o", "cmps"} <= disc.keys()
    assert {c["p"] for c in disc["cmps"].values()} == {"binary_sensor", "sensor", "image", "switch", "number"}
    assert all("unique_id" in c for c in disc["cmps"].values())

    # retained state as a late subscriber sees it
    late = mqtt_recorder(mosquitto)
    for topic in (f"{base}/availability", f"{base}/person", f"{base}/snapshot", f"{base}/stats",
                  f"{base}/state/detection", f"{base}/state/conf", "homeassistant/device/edgecam_testcam/config"):
        assert late.wait_for(topic, timeout=5).retain, topic
    assert late.on(f"{base}/detections") == [] and late.on(EVENTS) == []
    pub.close()
    rec.wait_for(f"{base}/availability", lambda m: m.payload == b"offline")
    st_ = pub.stats()
    assert st_["spooled"] == 0 and st_["dropped_detections"] == 0 and st_["connected"] is False


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_broker_outage_loses_and_reorders_nothing(tmp_path, protocol, mqtt_recorder):
    broker = Mosquitto(tmp_path / "broker", persistence=True).start()
    try:
        # a persistent-session subscriber: the broker queues for it while it reconnects after restart
        rec = mqtt_recorder(broker, (EVENTS, f"edgecam/{CAM}/availability"), client_id="outage-rec", clean_session=False)
        pub = _publisher(broker, tmp_path / "state", protocol=protocol)
        pub.start()
        assert pub.wait_connected(10)
        n = 0
        for _ in range(30):
            pub.publish(_event_update(n)); n += 1
        rec.wait_count(EVENTS, 30)
        for _ in range(300):  # a burst, so that some events are in flight when the broker goes away
            pub.publish(_event_update(n)); n += 1
        time.sleep(0.02)
        broker.stop()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # events keep coming while the broker is down
            pub.publish(_event_update(n)); n += 1
            time.sleep(0.03)
        assert not pub.connected and pub.stats()["spooled"] > 0
        broker.start()
        for _ in range(30):
            pub.publish(_event_update(n)); n += 1
        deadline = time.monotonic() + 20
        while len(set(_publisher_ids(rec.on(EVENTS)))) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pub.stats()["reconnects"] >= 1
        pub.close()
        time.sleep(0.2)
        ids = _publisher_ids(rec.on(EVENTS))
        # QoS 1 is at-least-once: the events in flight when the link broke may be sent again after the
        # reconnect. So the stream is contiguous runs, restarting at most once per reconnect and never
        # skipping an event; dropping repeats gives exactly the events in order.
        runs = _runs([int(i.rsplit("-", 1)[1]) for i in ids])
        assert runs[0][0] == 0 and runs[-1][1] == n - 1, runs
        assert all(b[0] <= a[1] + 1 for a, b in zip(runs, runs[1:])), f"an event was skipped: {runs}"
        assert len(runs) - 1 <= pub.stats()["reconnects"], f"repeats without a reconnect: {runs}"
        assert list(dict.fromkeys(ids)) == [f"{CAM}-{i}" for i in range(n)]
        assert pub.stats()["spooled"] == 0
    finally:
        broker.stop()


_CRASH_SCRIPT = textwrap.dedent("""
    import time
    from pathlib import Path
    import numpy as np
    from edgecam.domain import Detections, Event, Frame, FrameUpdate
    from edgecam.publishers.mqtt.publisher import MqttPublisher
    from edgecam.publishers.mqtt.settings import HomeAssistantSettings, MqttSettings
    from edgecam.controls import Controls

    def _event_update(i):
        ev = Event("new", f"{cam}-{{i}}", "person", 0.8, 0.9, (1.0, 2.0, 3.0, 4.0), 1000.0 + i)
        return FrameUpdate({cam!r}, Frame(np.zeros((8, 8, 3), np.uint8), i, 1000.0 + i), None,
                           Detections.empty(), events=(ev,))
    pub = MqttPublisher(MqttSettings(port={port}, reconnect_min_s=0.2, reconnect_max_s=0.5),
                        HomeAssistantSettings(), {cam!r}, Controls(), Path({state!r}))
    pub.start()
    if {connect}:
        assert pub.wait_connected(10)
    for i in range({n}):
        pub.publish(_event_update(i))
    deadline = time.monotonic() + 20
    while pub.stats()["spooled"] < {n} and time.monotonic() < deadline:
        time.sleep(0.01)
    print("ready", pub.stats()["spooled"], flush=True)
    time.sleep(60)
""")


def _crash_publisher(tmp_path, port, n, connect):
    script = _CRASH_SCRIPT.format(port=port, cam=CAM,
                                  state=str(tmp_path / "state"), n=n, connect=connect)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=str(REPO))
    return proc


@pytest.mark.slow  # a publisher process is killed
def test_spool_survives_a_crash_and_is_replayed_in_order(tmp_path, mosquitto, mqtt_recorder):
    port = mosquitto.port
    mosquitto.stop()  # the broker is down while the "daemon" runs and is killed
    proc = _crash_publisher(tmp_path, port, 40, connect=False)
    try:
        line = proc.stdout.readline().decode()
        assert line.split() == ["ready", "40"], proc.stderr.read().decode()[-2000:] if not line else line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    mosquitto.start()
    rec = mqtt_recorder(mosquitto, (EVENTS,))
    pub = _publisher(mosquitto, tmp_path / "state")  # the restarted daemon, same state dir
    pub.start()
    got = rec.wait_count(EVENTS, 80, timeout=15)
    pub.publish(_event_update(40))
    got = rec.wait_count(EVENTS, 81, timeout=10)
    pub.close()
    # the spooled events in order, then one "end" for each track the killed process left open, then the new one
    assert _ids(got) == [f"{CAM}-{i}" for i in range(40)] * 2 + [f"{CAM}-40"]
    ends = [json.loads(m.payload) for m in got[40:80]]
    assert all(e["type"] == "end" and e["reason"] == "restart" and e["end_time"] == e["start_time"] for e in ends)
    assert pub.stats()["restart_ends"] == 40


@pytest.mark.slow  # a publisher process is killed
def test_last_will_marks_a_killed_daemon_offline(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, (f"edgecam/{CAM}/availability",))
    proc = _crash_publisher(tmp_path, mosquitto.port, 0, connect=True)
    try:
        assert proc.stdout.readline().split() == [b"ready", b"0"]
        rec.wait_for(f"edgecam/{CAM}/availability", lambda m: m.payload == b"online")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    rec.wait_for(f"edgecam/{CAM}/availability", lambda m: m.payload == b"offline", timeout=10)


def test_full_queue_drops_only_feed_messages_and_counts_them(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, (EVENTS, f"edgecam/{CAM}/detections"))
    pub = _publisher(mosquitto, tmp_path, queue_size=2)
    pub.start()
    assert pub.wait_connected(10)
    frame = Frame(np.zeros((8, 8, 3), np.uint8), 0, 0.0)
    d = Detections(np.array([[1, 1, 5, 5]], np.float32), np.array([0.9], np.float32), np.zeros(1, np.int32), ("person",))
    n = 1000
    t0 = time.perf_counter()
    for i in range(n):
        pub.publish(FrameUpdate(CAM, replace(frame, index=i), Inference(d, 8, 8, 1.0), d, events=(_event(i),)))
    caller_s = time.perf_counter() - t0
    events = rec.wait_count(EVENTS, n, timeout=30)
    pub.close()
    time.sleep(0.2)
    feed = rec.on(f"edgecam/{CAM}/detections")
    stats = pub.stats()
    assert stats["dropped_detections"] > 0
    assert len(feed) + stats["dropped_detections"] == n  # every frame is either published or counted
    frames = [json.loads(m.payload)["frame"] for m in feed]
    assert frames == sorted(frames)
    assert _ids(events) == [f"{CAM}-{i}" for i in range(n)]  # events are never dropped
    logging.getLogger(__name__).info("1000 publish() calls took %.1f ms", caller_s * 1e3)


def test_commands_change_controls_and_echo_state(tmp_path, mosquitto, mqtt_recorder, caplog):
    controls = Controls(detection_enabled=True, conf=0.45)
    pub = _publisher(mosquitto, tmp_path, controls=controls)
    pub.start()
    assert pub.wait_connected(10)
    rec = mqtt_recorder(mosquitto)
    base = f"edgecam/{CAM}"
    rec.wait_for(f"{base}/state/conf", lambda m: m.payload == b"0.45")
    rec.publish(f"{base}/set/detection", "OFF")
    rec.wait_for(f"{base}/state/detection", lambda m: m.payload == b"OFF")
    assert controls.detection_enabled is False
    rec.publish(f"{base}/set/conf", "0.3")
    rec.wait_for(f"{base}/state/conf", lambda m: m.payload == b"0.3")
    assert controls.conf == pytest.approx(0.3)
    with caplog.at_level(logging.WARNING):
        rec.publish(f"{base}/set/conf", "nan")
        rec.publish(f"{base}/set/conf", "1.5")
        rec.publish(f"{base}/set/detection", "maybe")
        rec.publish(f"{base}/set/conf", "0.6")
        rec.wait_for(f"{base}/state/conf", lambda m: m.payload == b"0.6")
    assert controls.conf == pytest.approx(0.6)
    assert sum("command ignored" in r.message for r in caplog.records) == 3
    late = mqtt_recorder(mosquitto, (f"{base}/state/#",))
    assert late.wait_for(f"{base}/state/detection").payload == b"OFF"
    assert late.wait_for(f"{base}/state/conf").payload == b"0.6"
    pub.close()


def test_fuzzed_commands_keep_the_daemon_alive_and_state_sane(tmp_path, mosquitto, mqtt_recorder):
    controls = Controls()
    pub = _publisher(mosquitto, tmp_path, controls=controls)
    pub.start()
    assert pub.wait_connected(10)
    rec = mqtt_recorder(mosquitto)
    base = f"edgecam/{CAM}"
    counter = itertools.count()  # never exhausted: hypothesis re-runs examples while shrinking

    @given(st.lists(st.tuples(st.sampled_from(["conf", "detection", "threshold"]),
                              st.one_of(st.binary(max_size=80), st.floats().map(lambda f: repr(f).encode()),
                                        st.sampled_from([b"ON", b"OFF", b"0.5", b"1e-300", b"-0", b"inf"]))),
                    max_size=25))
    @hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def run(commands):
        for name, payload in commands:
            # wait for each PUBACK: a recorder reconnect must not re-send junk after the sentinel
            rec.client.publish(f"{base}/set/{name}", payload, qos=1).wait_for_publish(10)
        mark = round(0.11 + (next(counter) % 9) / 100, 2)  # a valid command after the junk must still be applied
        rec.clear()
        rec.publish(f"{base}/set/conf", str(mark))
        rec.wait_for(f"{base}/state/conf", lambda m: m.payload == str(mark).encode(), timeout=10)
        assert controls.conf == pytest.approx(mark)
        assert controls.detection_enabled in (True, False)

    run()
    for m in rec.on(f"{base}/state/conf"):
        assert 0 < float(m.payload) < 1
    assert {m.payload for m in rec.on(f"{base}/state/detection")} <= {b"ON", b"OFF"}
    assert pub.connected and pub._worker.is_alive()
    pub.close()


def test_an_unknown_command_is_refused_by_name_and_the_daemon_runs_on(tmp_path, mosquitto, mqtt_recorder, caplog):
    controls = Controls()
    pub = _publisher(mosquitto, tmp_path, controls=controls)
    pub.start()
    assert pub.wait_connected(10)
    rec = mqtt_recorder(mosquitto, (f"edgecam/{CAM}/state/conf",))
    with caplog.at_level(logging.WARNING, logger="edgecam.publishers.mqtt.router"):
        rec.publish(f"edgecam/{CAM}/set/threshold", "0.2")
        rec.publish(f"edgecam/{CAM}/set/conf", "0.37")  # the positive signal after the refusal
        rec.wait_for(f"edgecam/{CAM}/state/conf", lambda m: m.payload == b"0.37")
    assert controls.conf == 0.37
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "MQTT command refused: set/threshold is not a command; use one of set/detection, set/conf"]
    assert pub.connected and pub._worker.is_alive()
    pub.close()


def test_home_assistant_birth_resends_discovery(tmp_path, mosquitto, mqtt_recorder):
    topic = "homeassistant/device/edgecam_testcam/config"
    rec = mqtt_recorder(mosquitto, (topic,))
    pub = _publisher(mosquitto, tmp_path)
    pub.start()
    rec.wait_for(topic)
    rec.clear()
    rec.publish("homeassistant/status", "offline")
    rec.publish("homeassistant/status", "online")
    rec.wait_for(topic, timeout=5)
    # positive sync: a command handled after the births; its echo comes after any discovery they caused
    sentinel = mqtt_recorder(mosquitto, (f"edgecam/{CAM}/state/conf",))
    sentinel.publish(f"edgecam/{CAM}/set/conf", "0.37")
    sentinel.wait_for(f"edgecam/{CAM}/state/conf", lambda m: m.payload == b"0.37")
    assert len(rec.on(topic)) == 1  # once, for the "online" only
    pub.close()
    # restart without "dog": its entities are removed (platform-only entries)
    pub = _publisher(mosquitto, tmp_path, labels=("person", "horse"))
    rec.clear()
    pub.start()
    cmps = json.loads(rec.wait_for(topic).payload)["cmps"]
    assert cmps["edgecam_testcam_dog_count"] == {"p": "sensor"}
    assert cmps["edgecam_testcam_dog_occupancy"] == {"p": "binary_sensor"}
    pub.close()
