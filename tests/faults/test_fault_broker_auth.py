"""Fault: the broker refuses the daemon's credentials, then the broker's password file is fixed.

Kept: events produced while refused stay in the spool (counted in the stats) and arrive, in order,
once the broker accepts the password.  Reported: one clear error naming the setting to check.
"""

from __future__ import annotations

import shutil
import signal
import subprocess

import pytest

from daemonkit import (AVAILABILITY, Daemon, assert_delivered_exactly, last_stats, spool_rows, stderr_lines,
                       write_config, write_scene)

from broker import Mosquitto

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


def test_broker_refusing_auth_keeps_events_until_it_accepts(tmp_path, mqtt_recorder):
    broker = Mosquitto(tmp_path / "broker", users={"edgecam": "right-password", "rec": "rec"}).start()
    try:
        rec = mqtt_recorder(broker, ("edgecam/#",), username="rec", password="rec")
        (tmp_path / "mqtt_password").write_text("wrong-password\n")
        mqtt = f'username = "edgecam"\npassword_file = "{tmp_path / "mqtt_password"}"\n'
        cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=3, cat=5), broker.port,
                           loop=True, fps=10, mqtt=mqtt)
        state = tmp_path / "state"
        with Daemon(cfg, tmp_path / "run") as daemon:
            daemon.wait_until(lambda: len(daemon.events()) >= 8, 60, "events while refused")
            daemon.wait_until(lambda: spool_rows(state) >= 8, 30, "events spooled while refused")
            daemon.wait_until(lambda: last_stats(daemon)["mqtt"]["connect_failures"] >= 3, 30, "retries")
            stats = last_stats(daemon)
            assert stats["mqtt"]["connected"] is False and stats["mqtt"]["spooled"] >= 1
            assert "mqtt.username" in stats["mqtt"]["last_error"]
            assert rec.on(AVAILABILITY) == [] and rec.on("edgecam/yard/events") == []
            # the operator fixes the broker's password file; mosquitto re-reads it on SIGHUP
            subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-b", str(broker.workdir / "passwd"), "edgecam",
                            "wrong-password"], check=True, capture_output=True, timeout=30)
            broker._proc.send_signal(signal.SIGHUP)
            rec.wait_for(AVAILABILITY, lambda m: m.payload == b"online", timeout=30)
            daemon.wait_until(lambda: len(rec.on("edgecam/yard/events")) >= len(daemon.events()), 30,
                              "the spooled events to arrive")
            assert daemon.terminate() == 0, daemon.stderr()[-3000:]
        assert_delivered_exactly(rec, daemon.events())
        assert spool_rows(state) == 0
        err = daemon.stderr()
        refused = stderr_lines(err, "refused the connection")
        assert len(refused) == 1, refused  # once, although it retried several times
        assert "check mqtt.username and the password source" in refused[0]
        assert "wrong-password" not in err  # the password is never logged
        assert last_stats(daemon)["mqtt"]["connect_failures"] >= 3
    finally:
        broker.stop()
