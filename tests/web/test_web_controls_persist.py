"""Controls set in the live view survive a real daemon restart (issue #24), with MQTT switched off."""

from __future__ import annotations

import json
import re

import pytest

from daemonkit import Daemon, write_config, write_scene
from webkit import LiveView, request

pytestmark = pytest.mark.slow


def _view(daemon: Daemon) -> LiveView:
    daemon.wait_until(lambda: re.search(r"live view: http://127\.0\.0\.1:\d+/", daemon.stderr()), 120,
                      "the live view URL in the log")
    port = int(re.search(r"live view: http://127\.0\.0\.1:(\d+)/", daemon.stderr()).group(1))
    return LiveView(publisher=None, controls=None, host="127.0.0.1", port=port)  # type: ignore[arg-type]


def test_live_view_controls_survive_a_restart_without_mqtt(tmp_path):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"), None, loop=True, fps=5, stdout=False,
                       web="port = 0\n")
    with Daemon(cfg, tmp_path / "run") as daemon:
        view = _view(daemon)
        r = request(view, "POST", "/api/controls", json.dumps({"detection": False, "conf": 0.62}).encode(),
                    {"Content-Type": "application/json"})
        assert r.status == 200
        assert daemon.terminate() == 0
    with Daemon(cfg, tmp_path / "run") as daemon:
        view = _view(daemon)
        controls = json.loads(request(view, "GET", "/api/controls").body)
        assert controls == {"detection_enabled": False, "conf": 0.62}
        assert daemon.terminate() == 0
