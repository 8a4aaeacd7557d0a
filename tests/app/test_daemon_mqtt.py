"""`edgecam run` end to end over MQTT (issue 4 must-show): the real daemon, real model, real mosquitto.

1. Everything a subscriber needs arrives: availability, detections with the horse-image labels, events
   new→end, retained counts, a JPEG snapshot, stats, Home Assistant discovery.
2. The broker is stopped for several seconds while events are produced, then restarted: the subscriber
   gets exactly the events the daemon produced (its stdout publisher prints each one), in order.
3. The same across a daemon killed with SIGKILL during the outage and started again.

Events are compared field for field, in order.  The only copies skipped are broker→subscriber
re-deliveries flagged DUP by the restarted (persistent) broker; a second PUBLISH by the daemon has no
DUP flag and would fail the comparison.
"""

from __future__ import annotations

import json
import time

import cv2
import numpy as np

import pytest


from daemonkit import (AVAILABILITY, BASE, EVENTS, STATS, Daemon, assert_delivered_exactly, assert_every_new_ended_once,
                       canonical, event_ids, open_ids, outage_setup, received_events, spool_rows, wait_quiet,
                       write_config, write_scene)

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)

HA_CONFIG = "homeassistant/device/edgecam_yard/config"


def test_daemon_publishes_the_whole_contract_over_mqtt(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, ("edgecam/#", "homeassistant/#"))
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"), mosquitto.port)
    with Daemon(cfg, tmp_path / "run") as daemon:
        assert daemon.wait() == 0, daemon.stderr()[-3000:]
    produced = daemon.events()

    avail = [m.payload for m in rec.on(AVAILABILITY)]
    assert avail[0] == b"online" and avail[-1] == b"offline", avail

    feed = [json.loads(m.payload) for m in rec.on(f"{BASE}/detections")]
    assert feed and all(f["v"] == 1 and f["camera"] == "yard" for f in feed)
    frames = [f["frame"] for f in feed]
    assert frames == sorted(frames)
    labels = {d["label"] for f in feed for d in f["detections"]}
    assert {"person", "dog", "horse"} <= labels, labels
    horse_frame = next(f for f in feed if {"person", "dog", "horse"} <= {d["label"] for d in f["detections"]})
    assert (horse_frame["width"], horse_frame["height"]) == (640, 424)  # horse.jpg, untouched
    for d in horse_frame["detections"]:
        assert 0 < d["score"] <= 1 and len(d["box"]) == 4

    # events: exactly what the daemon produced, in order; each object new → end, one id each
    got, redelivered = received_events(rec.on(EVENTS))
    assert redelivered == 0
    assert [canonical(e) for e in got] == [canonical(e) for e in produced]
    for label in ("person", "dog", "horse"):
        mine = [e for e in got if e["label"] == label]
        assert len({e["id"] for e in mine}) == 1, mine
        assert mine[0]["type"] == "new" and mine[-1]["type"] == "end", event_ids(mine)
        assert mine[-1]["end_time"] >= mine[0]["start_time"]
        counts = [m.payload for m in rec.on(f"{BASE}/{label}")]  # 0 from the start, unless already superseded
        assert counts[-2:] == [b"1", b"0"] and set(counts[:-2]) <= {b"0"}, counts

    snap = rec.wait_for(f"{BASE}/snapshot").payload
    assert snap[:2] == b"\xff\xd8" and snap[-2:] == b"\xff\xd9"
    img = cv2.imdecode(np.frombuffer(snap, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[1] == 640 and img.std() > 10

    stats = [json.loads(m.payload) for m in rec.on(STATS)]
    assert stats
    last = stats[-1]
    for key in ("fps", "inference_ms", "temperature_c", "throttled", "dropped_frames", "uptime_s", "mqtt"):
        assert key in last, key
    assert last["frames"] == 12 and last["inference_ms"] > 0
    assert last["mqtt"]["connected"] is True and last["mqtt"]["connect_failures"] == 0

    # the last config announced: defaults from the start, horse added once it was seen
    disc = json.loads(rec.on(HA_CONFIG)[-1].payload if rec.on(HA_CONFIG) else rec.wait_for(HA_CONFIG).payload)
    assert {"dev", "o", "cmps"} <= disc.keys()
    assert disc["dev"]["ids"] and disc["dev"]["name"]
    for key, comp in disc["cmps"].items():
        assert {"p", "unique_id"} <= comp.keys(), key
        topics = [a["topic"] for a in comp["availability"]]
        # the live snapshot, counts and occupancy are unavailable while the camera is down; a "Last <label>"
        # image shows stored evidence of a past event and stays available
        if key.endswith(("_snapshot", "_count", "_occupancy")):
            assert topics == [AVAILABILITY, f"{BASE}/camera"] and comp["availability_mode"] == "all", key
        else:
            assert topics == [AVAILABILITY], key
    platforms = {c["p"] for c in disc["cmps"].values()}
    assert {"binary_sensor", "sensor", "image", "switch", "number"} <= platforms
    state_topics = {c.get("state_topic") for c in disc["cmps"].values()}
    # no [tracking] labels / [model] classes: the default entities (person, car, dog, cat) plus every
    # label seen (horse)
    assert {f"{BASE}/person", f"{BASE}/dog", f"{BASE}/car", f"{BASE}/cat", f"{BASE}/horse"} <= state_topics

    # what a late subscriber (Home Assistant restarting) finds retained
    late = mqtt_recorder(mosquitto, ("edgecam/#", "homeassistant/#"))
    for topic, payload in ((AVAILABILITY, b"offline"), (f"{BASE}/person", b"0"), (f"{BASE}/horse", b"0")):
        m = late.wait_for(topic, timeout=5)
        assert m.retain and m.payload == payload, (topic, m)
    for topic in (f"{BASE}/snapshot", STATS, HA_CONFIG):
        assert late.wait_for(topic, timeout=5).retain, topic
    late.publish(f"{BASE}/sentinel", b"x")  # arrives after everything the broker had retained for us
    late.wait_for(f"{BASE}/sentinel")
    assert late.on(EVENTS) == [] and late.on(f"{BASE}/detections") == []


def test_broker_outage_while_events_are_produced_loses_nothing(tmp_path, mqtt_recorder):
    broker, rec = outage_setup(tmp_path, mqtt_recorder)
    try:
        scene = write_scene(tmp_path / "scene", cycles=8, horse=3, cat=5)
        cfg = write_config(tmp_path, scene, broker.port, fps=10)
        with Daemon(cfg, tmp_path / "run") as daemon:
            wait_quiet(daemon, rec, 4)
            broker.stop()
            down = time.monotonic()
            before = len(daemon.events())
            daemon.wait_until(lambda: len(daemon.events()) >= before + 8 and time.monotonic() - down >= 3.0,
                              60, "events produced while the broker is down")
            during = len(daemon.events()) - before
            broker.start()
            assert daemon.wait() == 0, daemon.stderr()[-3000:]
        produced = daemon.events()
        assert len(produced) > before + during  # more events after the broker came back
        redelivered = assert_delivered_exactly(rec, produced)
        err = daemon.stderr()
        assert "MQTT: disconnected from" in err and "events are spooled" in err
        final = [m for m in daemon.messages() if m["topic"] == STATS][-1]["payload"]
        assert final["mqtt"]["reconnects"] >= 1
        assert spool_rows(tmp_path / "state") == 0
        print(f"outage: {before} events before, {during} while down, {len(produced)} in all; "
              f"{redelivered} broker re-deliveries skipped")
    finally:
        broker.stop()


def test_daemon_killed_during_an_outage_delivers_its_spool_after_restart(tmp_path, mqtt_recorder):
    broker, rec = outage_setup(tmp_path, mqtt_recorder)
    state = tmp_path / "state"
    try:
        looped = write_config(tmp_path, write_scene(tmp_path / "scene", horse=3, cat=5), broker.port,
                              loop=True, fps=10, name="run1.toml")
        with Daemon(looped, tmp_path / "run") as first:
            wait_quiet(first, rec, 4)
            delivered = len(rec.on(EVENTS))
            broker.stop()
            first.wait_until(lambda: len(first.events()) >= delivered + 8, 60, "events while the broker is down")
            # kill -9 once every produced event is on disk (the spool is written by a worker thread)
            first.wait_until(lambda: spool_rows(state) == len(first.events()) - delivered, 30,
                             "the spool to hold every undelivered event")
            first.kill()
        produced = first.events()
        kept = spool_rows(state)
        assert kept == len(produced) - delivered > 0

        broker.start()
        once = write_config(tmp_path, write_scene(tmp_path / "scene2"), broker.port, name="run2.toml")
        with Daemon(once, tmp_path / "run") as second:
            assert second.wait() == 0, second.stderr()[-3000:]
        assert f"MQTT spool holds {kept} event(s) from before; they are sent first" in second.stderr()
        left_open = open_ids(produced)
        assert left_open  # killed mid-scene (looped images): some tracks were open
        expected = len(produced) + len(left_open) + len(second.events())
        deadline = time.monotonic() + 20
        while len(rec.on(EVENTS)) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        got, redelivered = received_events(rec.on(EVENTS))
        # the killed run's events, then one "end" (reason restart) per track it left open, then the new run's
        restart_ends = got[len(produced):len(produced) + len(left_open)]
        assert sorted(e["id"] for e in restart_ends) == sorted(left_open)
        assert all(e["type"] == "end" and e["reason"] == "restart" for e in restart_ends)
        produced += restart_ends + second.events()
        assert event_ids(got) == event_ids(produced)
        assert [canonical(e) for e in got] == [canonical(e) for e in produced]
        assert_every_new_ended_once(got)
        assert spool_rows(state) == 0
        assert rec.on(AVAILABILITY)[-1].payload == b"offline"
        print(f"kill: {delivered} delivered, {kept} spooled at SIGKILL, {len(produced)} in all; "
              f"{redelivered} broker re-deliveries skipped")
    finally:
        broker.stop()
