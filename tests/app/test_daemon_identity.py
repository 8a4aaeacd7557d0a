"""Two daemons, one camera id (issue #24), with real daemons on a real broker.

The second daemon (its own state dir, so the state-dir lock cannot stop it) must exit 2 with one line
naming the first one's host and pid, and publish nothing over it: the first stays ``online``, keeps its
owner record and keeps publishing.
"""

from __future__ import annotations

import json
import socket

import pytest

from daemonkit import AVAILABILITY, BASE, STATS, Daemon, stderr_lines, write_config, write_scene

pytestmark = pytest.mark.slow


def test_second_daemon_with_the_same_id_exits_2_and_the_first_stays_online(tmp_path, mosquitto, mqtt_recorder):
    scene = write_scene(tmp_path / "scene")
    rec = mqtt_recorder(mosquitto, (f"{BASE}/#", "homeassistant/#"))
    first_cfg = write_config(tmp_path, scene, mosquitto.port, loop=True, fps=5, state_dir=tmp_path / "state1",
                             name="first.toml")
    second_cfg = write_config(tmp_path, scene, mosquitto.port, loop=True, fps=5, state_dir=tmp_path / "state2",
                              name="second.toml")
    with Daemon(first_cfg, tmp_path / "run1") as first:
        rec.wait_for(f"{BASE}/owner", lambda m: json.loads(m.payload)["pid"] == first.proc.pid, timeout=90)
        rec.wait_for(AVAILABILITY, lambda m: m.payload == b"online")
        with Daemon(second_cfg, tmp_path / "run2") as second:
            assert second.wait(90) == 2, second.stderr()[-3000:]
        lines = stderr_lines(second.stderr(), "already run by edgecam")
        assert len(lines) >= 1 and "Traceback" not in second.stderr()
        final = second.stderr().strip().splitlines()[-1]
        assert final.startswith("edgecam run: ") and f"host {socket.gethostname()} (pid {first.proc.pid}" in final
        assert "[camera] id" in final

        # the first is untouched: still the owner, still online, still publishing
        n = len(rec.on(STATS))
        rec.wait_count(STATS, n + 2, timeout=30)
        assert first.proc.poll() is None
        check = mqtt_recorder(mosquitto, (AVAILABILITY, f"{BASE}/owner"))  # the retained state, fresh
        assert check.wait_for(AVAILABILITY).payload == b"online"
        assert json.loads(check.wait_for(f"{BASE}/owner").payload)["pid"] == first.proc.pid
        assert [m.payload for m in rec.on(AVAILABILITY)] == [b"online"]  # nobody said offline
        assert first.terminate() == 0
    assert rec.on(AVAILABILITY)[-1].payload == b"offline"  # the owner's own clean stop
