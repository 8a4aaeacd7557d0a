"""What Home Assistant and other subscribers see after crashes, restarts and config changes (issue 10).

The real daemon (subprocess), the real model, a real mosquitto:

1. SIGKILL three times mid-scene (tracks open), then a clean run on a scene without those objects:
   every ``new`` id got exactly one ``end`` (the orphans with ``"reason": "restart"``), and the retained
   counts read 0 for every label not in view — also for announced labels never seen (car).
2. A sequence of config changes and restarts, with Home Assistant's rules applied to the retained
   device config a restarting Home Assistant finds: removed components are still marked, every
   component has ``qos``, the confidence number's range holds the configured and the echoed value,
   every stats template key is in the retained stats.
3. A second daemon on the same camera state directory exits 2 naming the first one's pid.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from daemonkit import (BASE, EVENTS, REPO, STATS, Daemon, assert_every_new_ended_once, camera_dir, open_ids,
                       canonical, received_events, write_config, write_scene)

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)

HA_CONFIG = "homeassistant/device/edgecam_yard/config"


def _restart_ends(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("reason") == "restart"]


def test_sigkill_mid_scene_three_times_every_new_gets_one_end_and_counts_are_true(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, ("edgecam/#",))
    looped = write_config(tmp_path, write_scene(tmp_path / "scene", horse=4, cat=4), mosquitto.port, loop=True,
                          fps=10, name="looped.toml")
    produced: list[dict] = []
    for run in range(3):
        with Daemon(looped, tmp_path / "run") as daemon:
            # mid-scene: a track is open, and its "new" reached the broker
            daemon.wait_until(lambda: any(i in {json.loads(m.payload)["id"] for m in rec.on(EVENTS)}
                                          for i in open_ids(daemon.events())) and len(daemon.events()) >= 3 * (run + 1),
                              90, "an open track delivered")
            daemon.wait_until(lambda: rec.on(f"{BASE}/person") and rec.on(f"{BASE}/person")[-1].payload != b"0",
                              30, "a person counted")
            daemon.kill()
        produced += daemon.events()
        if run:
            assert "ending" in daemon.stderr() and "left open by the previous run" in daemon.stderr()

    person_free = write_config(tmp_path, write_scene(tmp_path / "cats", horse=0, cat=4), mosquitto.port,
                               name="cats.toml")
    with Daemon(person_free, tmp_path / "run") as last:
        assert last.wait() == 0, last.stderr()[-3000:]
    assert "left open by the previous run" in last.stderr()
    produced += last.events()

    # the last run ended its own tracks, so its final "end" marks the end of the stream
    last_id = last.events()[-1]["id"]
    rec.wait_for(EVENTS, lambda m: json.loads(m.payload)["id"] == last_id and b'"end"' in m.payload, timeout=30)
    received, _ = received_events(rec.on(EVENTS))
    # QoS 1 is at-least-once: an event in flight at a SIGKILL is sent again by the next run; drop exact repeats
    seen: set[str] = set()
    got = [e for e in received if canonical(e) not in seen and not seen.add(canonical(e))]
    restarts = _restart_ends(got)
    assert len(restarts) >= 3  # each kill left at least one delivered track open
    # what arrived is what the daemons produced, in order (a SIGKILL may lose what was not yet spooled) ...
    rest = iter(produced)
    assert all(any(e == p for p in rest) for e in got if e.get("reason") != "restart")
    # ... and every "new" has exactly one "end", across the kills
    assert_every_new_ended_once(got)
    for e in restarts:
        assert e["type"] == "end" and e["start_time"] <= e["end_time"] <= time.time()

    # what a restarting Home Assistant finds: 0 for every label not in view (car was never seen)
    late = mqtt_recorder(mosquitto, ("edgecam/#",))
    for label in ("person", "dog", "horse", "car"):
        m = late.wait_for(f"{BASE}/{label}", timeout=5)
        assert m.retain and m.payload == b"0", (label, m.payload)
    assert late.wait_for(f"{BASE}/availability", timeout=5).payload == b"offline"
    print(f"3 SIGKILLs: {len(got)} distinct events received ({len(received) - len(got)} repeats), {len(restarts)} ended with reason restart")


def _ha_apply(registry: dict[str, str], config: dict) -> None:
    """Home Assistant's device-discovery rules (``mqtt/discovery.py``): a component with only ``p`` removes
    that entity; a full one adds or updates it; a component missing from ``cmps`` is left as it is."""
    for cid, cmp in config["cmps"].items():
        if set(cmp) == {"p"}:
            registry.pop(cid, None)
        else:
            registry[cid] = cmp["p"]


def _config(tmp_path, port, name, labels, zone: bool, thermal: bool, conf: float) -> object:
    scene = write_scene(tmp_path / f"scene-{name}", horse=2, cat=1)
    extra = "" if thermal else "enabled = false\n"  # lands in [thermal]
    if zone:
        extra += '\n[[zones]]\nname = "drive"\npoints = [[0, 0], [1, 0], [1, 1]]\n'
    cfg = write_config(tmp_path, scene, port, name=f"{name}.toml", extra=extra)
    text = cfg.read_text().replace("[tracking]\n", f"[tracking]\nlabels = {json.dumps(list(labels))}\n")
    text = text.replace("[model]\n", f"[model]\nconf = {conf}\n")
    cfg.write_text(text)
    return cfg


def test_home_assistant_rules_hold_after_config_changes_and_restarts(tmp_path, mosquitto, mqtt_recorder):
    zone = tmp_path / "sys" / "class/thermal/thermal_zone0"  # a SoC temperature reading: its entity exists
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("51000\n")
    runs = [  # (labels, zone, thermal, conf); Home Assistant is down from run 2 to the end
        (("person", "dog", "cat"), True, True, 0.45),
        (("person",), False, True, 0.3),
        (("person", "horse"), False, False, 0.5),
    ]
    registry: dict[str, str] = {}
    for n, (labels, zone, thermal, conf) in enumerate(runs):
        ha_up = n == 0
        rec = mqtt_recorder(mosquitto, (HA_CONFIG,)) if ha_up else None
        cfg = _config(tmp_path, mosquitto.port, f"run{n}", labels, zone, thermal, conf)
        with Daemon(cfg, tmp_path / "run") as daemon:
            assert daemon.wait() == 0, daemon.stderr()[-3000:]
        if rec is not None:
            for m in rec.on(HA_CONFIG):
                _ha_apply(registry, json.loads(m.payload))
    assert any(c.endswith("_dog_count") for c in registry) and any("_zone_drive_" in c for c in registry)

    # Home Assistant comes back: it reads the retained config, stats and state once
    late = mqtt_recorder(mosquitto, (HA_CONFIG, STATS, f"{BASE}/state/conf"))
    config = json.loads(late.wait_for(HA_CONFIG, timeout=5).payload)
    stats = json.loads(late.wait_for(STATS, timeout=5).payload)
    echoed = float(late.wait_for(f"{BASE}/state/conf", timeout=5).payload)
    _ha_apply(registry, config)
    full = {cid: c for cid, c in config["cmps"].items() if set(c) != {"p"}}
    assert set(registry) == set(full), f"stale entities: {set(registry) - set(full)}"
    assert {c.split("edgecam_yard_")[1] for c in full if c.endswith("_count")} == {"person_count", "horse_count"}
    assert all("qos" in c for c in full.values())
    number = full["edgecam_yard_conf"]
    assert number["min"] <= 0.5 <= number["max"] and number["min"] <= echoed <= number["max"]
    assert round(echoed / number["step"], 6).is_integer() and echoed == 0.5
    for cid, cmp in full.items():
        if cmp.get("state_topic") == STATS:
            key = cmp["value_template"].split("value_json.")[1].split()[0]
            assert key in stats, (cid, key, sorted(stats))
    assert "edgecam_yard_temperature" not in full  # thermal off in the last run: no such entity
    assert config["cmps"]["edgecam_yard_temperature"] == {"p": "sensor"}


def test_a_second_daemon_on_the_same_camera_exits_2_naming_the_first(tmp_path, mosquitto):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=2, cat=2), mosquitto.port, loop=True, fps=5)
    with Daemon(cfg, tmp_path / "run") as first:
        first.wait_until(lambda: (camera_dir(tmp_path / "state") / "lock").exists()
                         and "edgecam running" in first.stderr(), 90, "the first daemon running")
        second = subprocess.run([sys.executable, "-m", "edgecam", "run", "--config", str(cfg)], capture_output=True,
                                text=True, timeout=120, cwd=str(REPO))
        assert first.proc.poll() is None  # untouched
    assert second.returncode == 2, second.stderr[-2000:]
    lines = second.stderr.strip().splitlines()
    assert lines[-1].startswith("edgecam run: camera 'yard': state directory")
    assert f"pid {first.proc.pid}" in lines[-1] and "[camera] id or [output] state_dir" in lines[-1]
    assert "Traceback" not in second.stderr
