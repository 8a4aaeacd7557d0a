"""Controls set over MQTT survive a real daemon restart (issue #24); ``check`` says they override the config."""

from __future__ import annotations

import json

import pytest
from cli_run_path import edgecam_check

from daemonkit import BASE, STATS, Daemon, write_config, write_scene

pytestmark = pytest.mark.slow


def test_confidence_and_detection_set_over_mqtt_survive_a_restart(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, (f"{BASE}/#",))
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"), mosquitto.port, loop=True, fps=5)
    with Daemon(cfg, tmp_path / "run") as daemon:
        rec.wait_for(f"{BASE}/state/conf", lambda m: m.payload == b"0.45", timeout=90)
        rec.publish(f"{BASE}/set/conf", "0.3")
        rec.publish(f"{BASE}/set/detection", "OFF")
        rec.wait_for(f"{BASE}/state/conf", lambda m: m.payload == b"0.3")
        rec.wait_for(f"{BASE}/state/detection", lambda m: m.payload == b"OFF")
        assert daemon.terminate() == 0

    check = edgecam_check(cfg)
    assert check.returncode == 0, check.stderr
    assert "note: confidence 0.3 set over MQTT or the live view" in check.stdout
    assert "[model] conf = 0.45" in check.stdout and "detection was switched OFF" in check.stdout

    rec.clear()
    with Daemon(cfg, tmp_path / "run") as daemon:
        owner = rec.wait_for(f"{BASE}/owner", lambda m: json.loads(m.payload)["pid"] == daemon.proc.pid, timeout=90)
        stats = json.loads(rec.wait_for(STATS, lambda m: m.time > owner.time, timeout=60).payload)
        assert stats["conf"] == 0.3 and stats["detection_enabled"] is False  # what the pipeline uses
        assert rec.wait_for(f"{BASE}/state/conf", lambda m: m.time > owner.time).payload == b"0.3"
        assert rec.wait_for(f"{BASE}/state/detection", lambda m: m.time > owner.time).payload == b"OFF"
        assert daemon.terminate() == 0
