"""MQTT publisher on a real broker: TLS and passwords, snapshots, corrupt spool rows, retained counts."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

import numpy as np

from broker import Mosquitto
from edgecam.controls import Controls
from edgecam.domain import Detections, Event, Frame, FrameUpdate, TrackView
from edgecam.publishers.mqtt.publisher import MqttPublisher
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.publishers.mqtt.spool import Spool

from mqttkit import CAM, EVENTS, _settings, _publisher, _event, _event_update, _ids


def _password_file(tmp_path, text):
    path = tmp_path / "pw"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def test_tls_and_password(tmp_path, mqtt_recorder, caplog):
    from broker import make_tls_files

    tls = make_tls_files(tmp_path / "tls", hostname="localhost")
    broker = Mosquitto(tmp_path / "broker", users={"cam": "right-pw"}, tls=tls).start()
    try:
        rec = mqtt_recorder(broker, (EVENTS,), username="cam", password="right-pw", ca_file=tls.ca_cert)
        good = _settings(broker, host="localhost", tls=True, ca_file=str(tls.ca_cert), username="cam",
                         password_file=_password_file(tmp_path, "right-pw"))
        pub = MqttPublisher(good, HomeAssistantSettings(), CAM, Controls(), tmp_path / "s1")
        pub.start()
        assert pub.wait_connected(10), pub.stats()
        pub.publish(_event_update(0))
        assert _ids([rec.wait_for(EVENTS)]) == [f"{CAM}-0"]
        pub.close()

        bad = replace(good, password_file=_password_file(tmp_path / "..", "wrong-pw"))
        with caplog.at_level(logging.ERROR):
            pub = MqttPublisher(bad, HomeAssistantSettings(), CAM, Controls(), tmp_path / "s2")
            pub.start()
            deadline = time.monotonic() + 10
            while pub.stats()["connect_failures"] < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            stats = pub.stats()
            pub.close()
        assert not stats["connected"] and stats["connect_failures"] >= 3  # it keeps retrying
        errors = [r.message for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "refused" in errors[0] and "username and the password" in errors[0]
        assert "wrong-pw" not in caplog.text and "right-pw" not in caplog.text
    finally:
        broker.stop()


def test_tls_hostname_is_checked_unless_insecure(tmp_path):
    from broker import make_tls_files

    tls = make_tls_files(tmp_path / "tls", hostname="not-this-host", ip_san=False)
    broker = Mosquitto(tmp_path / "broker", tls=tls).start()
    try:
        strict = _settings(broker, tls=True, ca_file=str(tls.ca_cert))
        pub = MqttPublisher(strict, HomeAssistantSettings(), CAM, Controls(), tmp_path / "a")
        pub.start()
        connected = pub.wait_connected(2)
        failures = pub.stats()["connect_failures"]
        pub.close()
        assert not connected and failures >= 1
        assert "TLS certificate check failed" in pub.stats()["last_error"]
        pub = MqttPublisher(replace(strict, tls_insecure=True), HomeAssistantSettings(), CAM, Controls(), tmp_path / "b")
        pub.start()
        assert pub.wait_connected(10)
        pub.close()
    finally:
        broker.stop()


def _tracked(i: int, events=(), top: float = 0.9) -> FrameUpdate:
    track = TrackView(f"{CAM}-t", "person", (1.0, 1.0, 6.0, 6.0), 0.8)
    return FrameUpdate(CAM, Frame(np.full((8, 8, 3), 100, np.uint8), i, 1000.0 + i), None, Detections.empty(),
                       events=tuple(events), tracks=(track,), counts={"person": 1})


def test_snapshots_follow_events_not_a_timer(tmp_path, mosquitto, mqtt_recorder):
    snap, ev_topic = f"edgecam/{CAM}/snapshot", EVENTS
    rec = mqtt_recorder(mosquitto, (snap, ev_topic))
    pub = _publisher(mosquitto, tmp_path, snapshot_interval_s=0.0)
    pub.start()
    assert pub.wait_connected(10)
    new = Event("new", f"{CAM}-t", "person", 0.8, 0.9, (1.0, 1.0, 6.0, 6.0), 1000.0)
    for i in range(5):
        pub.publish(_tracked(i))  # a tracked object, nothing new: no snapshot
    pub.publish(_tracked(5, [new]))
    rec.wait_for(snap)
    for i in range(6, 11):
        pub.publish(_tracked(i))
    pub.publish(_tracked(11, [replace(new, type="update", top_score=0.85)]))  # not a better score
    pub.publish(_tracked(12, [replace(new, type="update", top_score=0.95)]))  # better: a snapshot
    rec.wait_count(ev_topic, 3)
    rec.wait_count(snap, 2)
    pub.publish(_tracked(13, [replace(new, type="end", end_time=1013.0)]))
    pub.publish(_tracked(14, [replace(new, id="other")]))  # the sentinel: a new object, a snapshot
    rec.wait_count(snap, 3)
    assert len(rec.on(snap)) == 3
    pub.close()


def test_a_corrupt_spool_row_is_moved_aside_and_later_events_flow(tmp_path, mosquitto, mqtt_recorder, caplog):
    import sqlite3

    state = tmp_path / "state"
    spool = Spool(state / "spool.sqlite3", 100)
    spool.append(EVENTS, json.dumps(_event(0).to_payload()).encode(), 1)
    spool.close()
    db = sqlite3.connect(state / "spool.sqlite3")
    db.execute("INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, 1, 0)", ("edgecam/#", b"junk"))
    db.commit()
    db.close()
    rec = mqtt_recorder(mosquitto, (EVENTS,))
    pub = _publisher(mosquitto, state)
    with caplog.at_level(logging.WARNING):
        pub.start()
        pub.publish(_event_update(1))
        got = rec.wait_count(EVENTS, 3, timeout=15)  # event 0, its restart end (journal from the spool), event 1
        pub.close()
    assert [(json.loads(m.payload)["id"], json.loads(m.payload)["type"]) for m in got] == [
        (f"{CAM}-0", "new"), (f"{CAM}-0", "end"), (f"{CAM}-1", "new")]
    assert pub.stats()["spool_rejected"] == 1
    assert sum("malformed row" in r.message for r in caplog.records) == 1
    assert "unexpected error" not in caplog.text


def test_counts_are_true_after_a_start_and_a_dropped_label_loses_its_retained_count(tmp_path, mosquitto, mqtt_recorder):
    base = f"edgecam/{CAM}"
    rec = mqtt_recorder(mosquitto, (f"{base}/person",))
    pub = _publisher(mosquitto, tmp_path, labels=("person", "dog"))
    pub.start()
    new = Event("new", f"{CAM}-t", "person", 0.8, 0.9, (1.0, 1.0, 6.0, 6.0), 1000.0)
    pub.publish(_tracked(0, [new]))
    rec.wait_for(f"{base}/person", lambda m: m.payload == b"1")
    pub.close()  # no end, no zero count: as if the process had died here
    # a subscriber from here on: the retained 1 first, so the 0 waited for below is the new run's, not
    # the first run's own start-up 0 that ``rec`` already holds
    after = mqtt_recorder(mosquitto, (f"{base}/person", f"{base}/dog"))
    after.wait_for(f"{base}/person", lambda m: m.payload == b"1" and m.retain)
    again = _publisher(mosquitto, tmp_path, labels=("person", "cat"))  # config change: dog out, cat in
    again.start()
    after.wait_for(f"{base}/person", lambda m: m.payload == b"0")
    after.wait_for(f"{base}/dog", lambda m: m.payload == b"")  # the deletion (sent after the zeros)
    late = mqtt_recorder(mosquitto, (f"{base}/#",))
    late.publish(f"{base}/sentinel", b"x")  # after every retained message the broker holds for us
    late.wait_for(f"{base}/sentinel")
    retained = {m.topic: m.payload for m in late.messages if m.retain}
    assert retained[f"{base}/person"] == b"0" and retained[f"{base}/cat"] == b"0"  # cat: never seen, 0
    assert f"{base}/dog" not in retained  # deleted, not left at its last value
    again.close()
