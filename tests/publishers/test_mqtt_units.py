"""Pure parts of the MQTT publisher: topics, discovery payloads, command parsing, spool, snapshot, settings."""

from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from edgecam.confidence import CONF_MAX, CONF_MIN
from edgecam.domain import Detections, Event, Frame, FrameUpdate, Inference, TrackView
from edgecam.errors import ConfigError
from edgecam.names import slug, slug_collisions
from edgecam.publishers.mqtt import commands, discovery
from edgecam.publishers.mqtt.announcer import Announcer
from edgecam.publishers.mqtt.connection import is_loopback, resolve_password
from edgecam.publishers.mqtt.messages import FeedGate, changed_counts, detections_payload
from edgecam.publishers.mqtt.settings import HomeAssistantSettings, MqttSettings
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


@pytest.mark.parametrize("raw,value", [(b"ON", True), (b"off", False), (b" true\n", True), (b"0", False)])
def test_detection_payloads(raw, value):
    assert commands.parse_detection(raw) is value


@pytest.mark.parametrize("raw,value", [(b"0.5", 0.5), (b"0.01", 0.01), (b".3", 0.3), (b"+0.7", 0.7), (b"5e-1", 0.5),
                                       (b"0.99", 0.99), (b"0.456", 0.46)])
def test_conf_payloads(raw, value):
    assert commands.parse_conf(raw) == value
    assert commands.format_state("conf", commands.parse_conf(raw)) == repr(value).encode()


@pytest.mark.parametrize("raw", [b"", b"nan", b"NaN", b"inf", b"-0.5", b"0", b"1", b"1.5", b"0x1p-1", b"abc",
                                 b"4.9e-324", b"0.9999999999999999", b"0.001", b"0.995",
                                 b"0.5" + b" " * 40, b"\xff\xfe", b"0.5\x00", b"1e999", b"0_5", "٠.٥".encode()])
def test_bad_conf_payloads_are_rejected(raw):
    with pytest.raises(ValueError):
        commands.parse_conf(raw)


@given(st.binary(max_size=64))
@hsettings(max_examples=300, deadline=None)
def test_parsers_never_crash_and_accept_only_sane_values(raw):
    try:
        value = commands.parse_conf(raw)
    except ValueError:
        pass
    else:
        assert math.isfinite(value) and CONF_MIN <= value <= CONF_MAX and value == round(value, 2)
    try:
        assert commands.parse_detection(raw) in (True, False)
    except ValueError:
        pass


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


def test_home_assistant_births_are_logged_once_per_interval(caplog):
    from edgecam.publishers.mqtt.router import CommandRouter
    from edgecam.controls import Controls

    now = [0.0]
    asked = []
    router = CommandRouter(T, "homeassistant/status", Controls(), lambda: asked.append(1), clock=lambda: now[0],
                           birth_log_s=300.0)
    assert router.subscriptions() == [("edgecam/front/set/+", 1), ("homeassistant/status", 1)]
    with caplog.at_level(logging.INFO, logger="edgecam.publishers.mqtt.router"):
        for _ in range(1000):
            router.handle("homeassistant/status", b"online")
            now[0] += 0.1  # 100 s in all
        router.handle("homeassistant/status", b"offline")
        now[0] += 300.0
        router.handle("homeassistant/status", b"online")
    lines = [r.message for r in caplog.records if "Home Assistant is online" in r.message]
    assert len(asked) == 1001 and router.births == 1001  # discovery is asked for every time
    assert len(lines) == 2 and "(1000 births since the last such line)" in lines[1]


def test_commands_use_the_one_confidence_range():
    from edgecam.publishers.mqtt.router import CommandRouter
    from edgecam.controls import Controls

    controls = Controls(conf=0.45)
    router = CommandRouter(T, None, controls, lambda: None)
    for payload in (b"4.9e-324", b"0.9999999999999999", b"0.994", b"0"):
        router.handle("edgecam/front/set/conf", payload)
        assert controls.conf == 0.45
    router.handle("edgecam/front/set/conf", b"0.456")
    assert controls.conf == 0.46 and commands.format_state("conf", controls.conf) == b"0.46"


def test_the_router_refuses_a_command_not_in_the_table(caplog):
    from edgecam.controls import Controls
    from edgecam.publishers.mqtt.router import CommandRouter

    controls = Controls(conf=0.45)
    router = CommandRouter(T, None, controls, lambda: None)
    with caplog.at_level(logging.WARNING, logger="edgecam.publishers.mqtt.router"):
        for name in ("threshold", "", "Conf"):
            router.handle(f"edgecam/front/set/{name}", b"0.2")
    assert controls.conf == 0.45 and controls.detection_enabled
    refused = [r.getMessage() for r in caplog.records]
    assert refused == [f"MQTT command refused: set/{name} is not a command; use one of set/detection, set/conf"
                       for name in ("threshold", "", "Conf")]
    router.handle("edgecam/front/set/detection", b"OFF")  # the table still works after a refusal
    assert not controls.detection_enabled


def test_a_learnt_label_colliding_with_a_known_one_is_not_announced_and_warned_once(tmp_path, caplog):
    ann = Announcer(HomeAssistantSettings(), T, "front", tmp_path, default_labels=("person",))
    with caplog.at_level(logging.WARNING):
        assert ann.observe(["Person"], []) is False
        assert ann.observe(["Person", "dog"], []) is True
    assert ann.labels == {"person", "dog"}
    assert sum("same Home Assistant id" in r.message for r in caplog.records) == 1
