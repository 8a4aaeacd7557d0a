"""The live view inside the real daemon: the URL is logged at start, the stream and stats are live, and
the page's controls are the ones MQTT has (a change made in the browser is echoed on ``state/...``)."""

from __future__ import annotations

import json
import re

import pytest

from daemonkit import BASE, Daemon, write_config, write_scene
from webkit import LiveView, read_mjpeg_frames, request

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


def test_daemon_serves_the_live_view_and_shares_the_mqtt_controls(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, (f"{BASE}/state/#",))
    scene = write_scene(tmp_path / "scene", cycles=2)
    cfg = write_config(tmp_path, scene, mosquitto.port, loop=True, fps=10, stdout=False,
                       web="port = 0\nstream_fps = 10\n")
    with Daemon(cfg, tmp_path / "run") as daemon:
        daemon.wait_until(lambda: re.search(r"live view: http://127\.0\.0\.1:\d+/", daemon.stderr()), 120,
                          "the live view URL in the log")
        port = int(re.search(r"live view: http://127\.0\.0\.1:(\d+)/", daemon.stderr()).group(1))
        view = LiveView(publisher=None, controls=None, host="127.0.0.1", port=port)  # type: ignore[arg-type]

        assert request(view, "GET", "/").status == 200
        assert len(read_mjpeg_frames(view, 2, timeout=60)) == 2
        daemon.wait_until(lambda: json.loads(request(view, "GET", "/api/stats").body)["frames"] >= 5, 60,
                          "live stats")
        stats = json.loads(request(view, "GET", "/api/stats").body)
        assert stats["fps"] > 0 and stats["inference_ms"] > 0 and "dropped_frames" in stats
        daemon.wait_until(lambda: json.loads(request(view, "GET", "/api/events").body), 60, "events")

        rec.wait_for(f"{BASE}/state/detection", lambda m: m.payload == b"ON", 30)
        r = request(view, "POST", "/api/controls", json.dumps({"detection": False, "conf": 0.55}).encode(),
                    {"Content-Type": "application/json"})
        assert r.status == 200
        rec.wait_for(f"{BASE}/state/detection", lambda m: m.payload == b"OFF", 30)
        rec.wait_for(f"{BASE}/state/conf", lambda m: m.payload == b"0.55", 30)
        # and an MQTT command shows in the live view
        rec.publish(f"{BASE}/set/detection", "ON")
        daemon.wait_until(lambda: json.loads(request(view, "GET", "/api/controls").body)["detection_enabled"], 30,
                          "the MQTT command in the live view")
        assert daemon.terminate() == 0
