"""Pure parts of the MQTT publisher: topics, spool, feed and payloads, snapshot, settings (discovery and commands:
test_mqtt_discovery_units.py, test_mqtt_commands.py)."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace

import cv2
import numpy as np
import pytest

from edgecam.domain import Detections, Event, Frame, FrameUpdate, Inference, TrackView
from edgecam.errors import ConfigError
from edgecam.names import slug
from edgecam.publishers.mqtt.connection import is_loopback, resolve_password
from edgecam.publishers.mqtt.messages import FeedGate, changed_counts, detections_payload
from edgecam.publishers.mqtt.settings import MqttSettings
from edgecam.publishers.mqtt.snapshot import render_snapshot
from edgecam.publishers.mqtt.spool import Spool
from edgecam.publishers.mqtt.topics import Topics, topic_level
from edgecam.publishers.stdout import StdoutPublisher

T = Topics("edgecam", "front")


def test_topics_follow_the_contract():
    assert T.availability == "edgecam/front/availability"
    assert T.detections == "edgecam/front/detections"
    assert T.events == "edgecam/front/events"
    assert T.snapshot == "edgecam/front/snapshot"
    assert T.stats == "edgecam/front/stats"
    assert T.count("person") == "edgecam/front/person"
    assert T.count("traffic light") == "edgecam/front/traffic light"
    assert T.count("a/b+#") == "edgecam/front/a_b__"
    assert T.zone_count("drive", "car") == "edgecam/front/zone/drive/car"
    assert T.command("conf") == "edgecam/front/set/conf"
    assert T.state("detection") == "edgecam/front/state/detection"
    assert T.command_name("edgecam/front/set/conf") == "conf"
    assert T.command_name("edgecam/front/set/other") == "other"  # the router refuses it by name
    assert T.command_name("edgecam/front/set/conf/x") is None
    assert T.command_name("edgecam/back/set/conf") is None
    assert slug("Traffic Light!") == "traffic_light" and topic_level("") == "_"


def test_spool_is_ordered_bounded_and_persistent(tmp_path, caplog):
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path, max_messages=5)
    for i in range(3):
        spool.append("t", f"m{i}".encode(), 1, False)
    assert [m.payload for m in spool.read_after(0, 10)] == [b"m0", b"m1", b"m2"]
    assert spool.append_many(("t", f"m{i}".encode(), 1, False) for i in range(3, 8)) == 3
    assert spool.dropped == 3 and len(spool) == 5
    assert "spool full" in caplog.text
    rows = spool.read_after(0, 10)
    assert [m.payload for m in rows] == [b"m3", b"m4", b"m5", b"m6", b"m7"]
    spool.delete([rows[0].id, rows[2].id])
    assert len(spool) == 3
    spool.close()
    reopened = Spool(path, max_messages=5)  # a restart sees the same, in order
    assert [m.payload for m in reopened.read_after(0, 10)] == [b"m4", b"m6", b"m7"]
    assert [m.payload for m in reopened.read_after(rows[1].id, 1)] == [b"m6"]
    reopened.append("t", b"m8", 1, False)
    assert max(m.id for m in reopened.read_after(0, 10)) > rows[-1].id  # ids never reused
    reopened.close()


def _dets(n: int) -> Detections:
    boxes = np.tile(np.array([[10, 20, 110, 220]], np.float32), (n, 1))
    return Detections(boxes, np.full(n, 0.8, np.float32), np.zeros(n, np.int32), ("person",))


def _update(i: int, n: int, inference: bool = True) -> FrameUpdate:
    frame = Frame(np.zeros((240, 320, 3), np.uint8), i, 1000.0 + i)
    d = _dets(n)
    return FrameUpdate("front", frame, Inference(d, 320, 240, 7.5) if inference else None, d)


def test_feed_gate_publishes_detections_and_one_empty_when_they_stop():
    gate = FeedGate()
    pattern = [0, 1, 2, 0, 0, 1, 0, 0]
    assert [gate.admit(_update(i, n)) for i, n in enumerate(pattern)] == [False, True, True, True, False, True, True, False]
    assert gate.admit(_update(9, 0, inference=False)) is False
    p = detections_payload(_update(3, 2))
    assert p == {"v": 1, "camera": "front", "frame": 3, "timestamp": 1003.0, "inference_ms": 7.5, "width": 320,
                 "height": 240, "detections": [{"label": "person", "label_id": 0, "score": 0.8,
                                                "box": [10.0, 20.0, 110.0, 220.0]}] * 2}
    assert changed_counts({"a": 1, "b": 0}, {"a": 1, "b": 2, "c": 0}) == {"b": 2, "c": 0}


def test_snapshot_is_a_bounded_jpeg_with_boxes():
    image = np.full((480, 1280, 3), 200, np.uint8)
    frame = Frame(image, 0, 0.0)
    jpeg = render_snapshot(frame, [TrackView("1", "person", (100, 100, 600, 400), 0.9)], max_width=320, quality=80)
    assert jpeg[:3] == b"\xff\xd8\xff"
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (120, 320, 3)
    plain = cv2.imdecode(np.frombuffer(render_snapshot(frame, [], 320), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(decoded.astype(int) - plain.astype(int)).max() > 50  # the box was drawn
    assert (image == 200).all()  # the pipeline's frame is untouched


def test_settings_validation_and_password_rules(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="reconnect_max_s"):
        MqttSettings(reconnect_min_s=10, reconnect_max_s=1).validate()
    with pytest.raises(ValueError, match="only one"):
        MqttSettings(username="u", password_file="a", password_env="B").validate()
    with pytest.raises(ValueError, match="certfile and keyfile"):
        MqttSettings(tls=True, certfile="c").validate()
    with pytest.raises(ValueError, match="tls = true"):
        MqttSettings(ca_file="ca.pem").validate()
    MqttSettings(tls=True, ca_file="ca.pem", username="u", password_env="X").validate()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("192.168.1.2") and not is_loopback("broker.lan")
    monkeypatch.setenv("EDGECAM_TEST_PW", "s3cret")
    remote = MqttSettings(host="192.168.1.2", username="u", password_env="EDGECAM_TEST_PW")
    with pytest.raises(ConfigError, match="refusing to send the password without TLS to 192.168.1.2"):
        resolve_password(remote)
    assert resolve_password(replace(remote, allow_plaintext_password=True)) == "s3cret"
    assert resolve_password(replace(remote, tls=True)) == "s3cret"
    assert resolve_password(replace(remote, host="127.0.0.1")) == "s3cret"
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_password(MqttSettings(username="u", password_file=str(tmp_path / "nope")))


def test_stdout_publisher_prints_the_mqtt_messages():
    out = io.StringIO()
    pub = StdoutPublisher("front", stream=out)
    pub.start()
    ev = Event("new", "front-1", "person", 0.8, 0.8, (10, 20, 110, 220), 1000.0)
    u = _update(0, 1)
    pub.publish(FrameUpdate(u.camera, u.frame, u.inference, u.detections, (ev,), counts={"person": 1},
                            zone_counts={("drive", "person"): 1}))
    pub.publish(FrameUpdate(u.camera, u.frame, u.inference, _dets(0), counts={"person": 1}))
    pub.publish_stats({"fps": np.float32(4.5), "dropped_frames": 0})
    pub.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    topics = [m["topic"] for m in lines]
    assert topics == ["edgecam/front/availability", "edgecam/front/detections", "edgecam/front/events",
                      "edgecam/front/person", "edgecam/front/zone/drive/person", "edgecam/front/detections",
                      "edgecam/front/stats", "edgecam/front/availability"]
    assert lines[1]["payload"]["detections"][0]["label"] == "person"
    assert lines[2]["payload"] == ev.to_payload()
    assert lines[3]["payload"] == "1" and lines[3]["retained"] is True
    assert lines[5]["payload"]["detections"] == []
    assert lines[6]["payload"] == {"fps": 4.5, "dropped_frames": 0}
    assert lines[-1]["payload"] == "offline"


def test_spool_moves_malformed_rows_aside_and_keeps_the_rest(tmp_path, caplog):
    import sqlite3

    path = tmp_path / "spool.sqlite3"
    spool = Spool(path, 100)
    spool.append("edgecam/front/events", b"first", 1)
    spool.close()
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)",
                   [("edgecam/+/events", b"wild", 1, 0), ("edgecam/front/events", "text payload", 1, 0),
                    ("edgecam/front/events", b"bad qos", 7, 0), ("edgecam/front/events", b"second", 1, 0)])
    db.commit()
    db.close()
    spool = Spool(path, 100)
    with caplog.at_level(logging.WARNING):
        rows = spool.read_after(0, 10)
    assert [m.payload for m in rows] == [b"first", b"second"]
    assert spool.rejected == 3 and len(spool) == 2
    assert sum("malformed row" in r.message for r in caplog.records) == 1
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0] == 3
    db.close()
    spool.close()


def test_a_spool_file_that_is_not_a_database_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "spool.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with caplog.at_level(logging.WARNING):
        spool = Spool(path, 10)
    spool.append("t", b"x", 1)
    assert len(spool) == 1 and len(list(tmp_path.glob("spool.sqlite3.corrupt-*"))) == 1
    assert "moved it to" in caplog.text
    spool.close()


EVENT_KEYS = {"v", "type", "id", "label", "score", "top_score", "box", "start_time", "end_time", "zones",
              "stationary"}


DETECTIONS_KEYS = {"v", "camera", "frame", "timestamp", "inference_ms", "width", "height", "detections"}


DETECTION_KEYS = {"label", "label_id", "score", "box"}


def test_event_and_detections_payload_keys_are_pinned():
    """CONTRACT §6: renaming or dropping one of these keys breaks subscribers."""
    ev = Event("new", "1-ab", "person", 0.8, 0.9, (1, 2, 3, 4), 1000.0, zones=("drive",))
    assert set(ev.to_payload()) == EVENT_KEYS
    assert set(replace(ev, type="end", end_time=1001.0).to_payload()) == EVENT_KEYS | {"snapshot", "clip"}  # §6: an end names its evidence
    restart = replace(ev, type="end", end_time=1001.0, reason="restart").to_payload()
    assert set(restart) == EVENT_KEYS | {"snapshot", "clip", "reason"} and restart["reason"] == "restart"
    payload = detections_payload(_update(3, 2))
    assert set(payload) == DETECTIONS_KEYS
    assert all(set(d) == DETECTION_KEYS for d in payload["detections"]) and len(payload["detections"]) == 2
    assert set(detections_payload(_update(4, 1, inference=False))) == DETECTIONS_KEYS
