"""False-alarm controls wired through the running daemon (real model, real mosquitto).

1. Every filter key changes what ``edgecam run`` publishes: on the crowd and bicycle photos each key is
   set so that it drops exactly one object of ``edgecam detect``'s output (same model, size and conf),
   and the published detections are exactly the rest; the stats count the drops per key.
2. A zone's ``labels`` decide its Home Assistant entities, and entities a config change drops are
   removed (marker in the discovery config, retained count deleted); stationary attributes are retained.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from daemonkit import BASE, REPO, SHARED, STATS, Daemon, write_config

pytestmark = pytest.mark.slow

CROWD = SHARED / "images" / "000000001000.jpg"
BIKE = SHARED / "images" / "bike.jpg"
HA_CONFIG = "homeassistant/device/edgecam_yard/config"


def detect(*images) -> dict[str, dict]:
    proc = subprocess.run([sys.executable, "-m", "edgecam", "detect", "--size", "320", "--threads", "1",
                           "--format", "jsonl", *map(str, images)], capture_output=True, text=True, timeout=120,
                          cwd=str(REPO), env={"PYTHONPATH": str(REPO), "EDGECAM_MODEL_DIR": str(SHARED / "models"),
                                              "PATH": "/usr/bin:/bin", "OMP_WAIT_POLICY": "PASSIVE"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {json.loads(line)["image"]: json.loads(line) for line in proc.stdout.splitlines()}


def objects(result: dict) -> list[dict]:
    w, h = result["width"], result["height"]
    out = []
    for d in result["detections"]:
        x0, y0, x1, y1 = d["box"]
        out.append({**d, "size": (w, h), "area": (x1 - x0) * (y1 - y0) / (w * h), "ratio": (x1 - x0) / (y1 - y0)})
    return out


def split(objs: list[dict], key: str, lowest: bool) -> tuple[float, dict]:
    """A cut between the object with the lowest (highest) ``key`` and the next one: (value, that object)."""
    ranked = sorted(objs, key=lambda o: o[key], reverse=not lowest)
    first, second = ranked[0], ranked[1]
    assert first[key] != second[key]
    return round((first[key] + second[key]) / 2, 6), first


def same(a: dict, b: dict) -> bool:
    return a["label"] == b["label"] and all(abs(p - q) <= 2.0 for p, q in zip(a["box"], b["box"]))


def test_every_filter_key_changes_what_the_daemon_publishes(tmp_path, mosquitto, mqtt_recorder):
    found = detect(BIKE, CROWD)
    bike, crowd = objects(found[str(BIKE)]), objects(found[str(CROWD)])
    people = [o for o in bike + crowd if o["label"] == "person"]
    bicycles = [o for o in bike if o["label"] == "bicycle"]
    assert len(people) >= 8 and len(bicycles) >= 2, found
    left, dropped, tables = list(people), {}, {"person": {}, "bicycle": {}, "": {}}
    for key, label, lowest, feature in (("min_score", "person", True, "score"), ("min_area", "person", True, "area"),
                                        ("max_area", "person", False, "area"), ("min_ratio", "person", True, "ratio")):
        value, victim = split(left, feature, lowest)
        tables[label][key] = value
        dropped[key] = victim
        left.remove(victim)
    value, victim = split(left + bicycles, "ratio", lowest=False)  # [filters] max_ratio: every label
    tables[""]["max_ratio"], dropped["max_ratio"] = value, victim
    left = [o for o in left + bicycles if o is not victim]
    value, victim = split([o for o in left if o["label"] == "bicycle"], "score", lowest=True)
    tables["bicycle"]["threshold"], dropped["threshold"] = value, victim  # never confirmed: never published
    expected = [o for o in left if o is not victim]
    assert len({id(o) for o in dropped.values()}) == 6  # each key drops its own object

    text = "[filters]\n" + "".join(f"{k} = {v}\n" for k, v in tables[""].items())
    for label in ("person", "bicycle"):
        text += f"[filters.{label}]\n" + "".join(f"{k} = {v}\n" for k, v in tables[label].items())
    scene = tmp_path / "scene"
    scene.mkdir()
    for i in range(3):  # the bicycles first: the one below its threshold expires when the crowd comes
        (scene / f"a{i}.jpg").symlink_to(BIKE)
    for i in range(3):
        (scene / f"b{i}.jpg").symlink_to(CROWD)
    rec = mqtt_recorder(mosquitto, (f"{BASE}/#",))
    cfg = write_config(tmp_path, scene, mosquitto.port, extra=text)
    with Daemon(cfg, tmp_path / "run") as daemon:
        assert daemon.wait() == 0, daemon.stderr()[-3000:]

    feed = [json.loads(m.payload) for m in rec.on(f"{BASE}/detections")]
    published = [d for width in (found[str(BIKE)]["width"], found[str(CROWD)]["width"])
                 for d in [f for f in feed if f["width"] == width][-1]["detections"]]
    unmatched = [o for o in expected if not any(same(o, d) for d in published)]
    extra = [d for d in published if not any(same(o, d) for o in expected)]
    assert unmatched == [] and extra == [], (unmatched, extra, tables)
    for key, victim in dropped.items():
        assert not any(same(victim, d) for f in feed for d in f["detections"]), key
    labels = {json.loads(m.payload)["label"] for m in rec.on(f"{BASE}/events")}
    assert labels == {"person", "bicycle"}

    filtered = json.loads(rec.on(STATS)[-1].payload)["filtered"]
    for key in ("min_score", "min_area", "max_area", "min_ratio", "max_ratio"):
        assert filtered[key] >= 2, (key, filtered)  # its object, in every frame of its photo
    assert filtered["threshold"] == 1


def zone_config(tmp_path, port, labels: str):
    scene = tmp_path / "scene"
    if not scene.exists():
        scene.mkdir()
        for i in range(3):
            (scene / f"a{i}.jpg").symlink_to(SHARED / "images" / "horse.jpg")
    zones = (f'[[zones]]\nname = "door"\npoints = [[0, 0], [1, 0], [1, 1], [0, 1]]\nlabels = {labels}\n'
             f'[[zones]]\nname = "yard"\npoints = [[0, 0], [1, 0], [1, 1], [0, 1]]\n')
    return write_config(tmp_path, scene, port, extra=zones)


def zone_entities(cmps: dict, zone: str) -> set[str]:
    prefix = f"edgecam_yard_zone_{zone}_"
    return {k[len(prefix):] for k, c in cmps.items() if k.startswith(prefix) and "state_topic" in c}


def test_zones_announce_only_the_labels_they_watch_and_dropped_ones_are_removed(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, ("edgecam/#", "homeassistant/#"))
    with Daemon(zone_config(tmp_path, mosquitto.port, '["person"]'), tmp_path / "run") as daemon:
        assert daemon.wait() == 0, daemon.stderr()[-3000:]
    cmps = json.loads(rec.on(HA_CONFIG)[-1].payload)["cmps"]
    assert zone_entities(cmps, "door") == {"person_occupancy", "person_count"}
    yard = zone_entities(cmps, "yard")  # no labels: every announced label (the defaults and those seen)
    assert {"person_count", "dog_count", "horse_count", "car_count", "cat_count"} <= yard
    zone_topics = {m.topic for m in rec.messages if m.topic.startswith(f"{BASE}/zone/door/")}
    assert zone_topics == {f"{BASE}/zone/door/person"}
    assert cmps["edgecam_yard_person_count"]["json_attributes_topic"] == f"{BASE}/person/attributes"
    assert [json.loads(m.payload) for m in rec.on(f"{BASE}/person/attributes")][-1] == {"stationary": 0}

    rec2 = mqtt_recorder(mosquitto, ("edgecam/#", "homeassistant/#"))
    with Daemon(zone_config(tmp_path, mosquitto.port, '["dog", "horse"]'), tmp_path / "run") as daemon:
        assert daemon.wait() == 0, daemon.stderr()[-3000:]
    cmps = json.loads(rec2.on(HA_CONFIG)[-1].payload)["cmps"]
    assert zone_entities(cmps, "door") == {"dog_occupancy", "dog_count", "horse_occupancy", "horse_count"}
    removed = {k: c for k, c in cmps.items() if k.startswith("edgecam_yard_zone_door_person")}
    assert removed == {"edgecam_yard_zone_door_person_occupancy": {"p": "binary_sensor"},
                       "edgecam_yard_zone_door_person_count": {"p": "sensor"}}
    assert [m.payload for m in rec2.on(f"{BASE}/zone/door/person")][-1] == b""  # the retained count deleted
    assert [m.payload for m in rec2.on(f"{BASE}/zone/door/horse")][-1] == b"0"
