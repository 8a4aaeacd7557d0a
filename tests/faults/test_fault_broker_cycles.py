"""Fault: the broker goes down and comes back three times while the daemon runs.

Kept: every event, once, in order (compared with what the daemon printed on stdout).
Reported: each outage once as a warning (not once per retry), reconnects counted in the stats.
"""

from __future__ import annotations

import time

import pytest

from daemonkit import (Daemon, assert_delivered_exactly, last_stats, outage_setup, spool_rows, stderr_lines,
                       wait_quiet, write_config, write_scene)

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


def test_broker_down_up_cycles_during_a_run(tmp_path, mqtt_recorder):
    broker, rec = outage_setup(tmp_path, mqtt_recorder)
    try:
        scene = write_scene(tmp_path / "scene", horse=3, cat=5)
        cfg = write_config(tmp_path, scene, broker.port, loop=True, fps=10)
        with Daemon(cfg, tmp_path / "run") as daemon:
            for cycle in range(3):
                wait_quiet(daemon, rec, len(daemon.events()) + 4)
                broker.stop()
                before = len(daemon.events())
                down = time.monotonic()
                daemon.wait_until(lambda: len(daemon.events()) >= before + 4 and time.monotonic() - down >= 1.5,
                                  60, f"events during outage {cycle + 1}")
                broker.start()
            wait_quiet(daemon, rec, len(daemon.events()) + 4)
            assert daemon.terminate() == 0, daemon.stderr()[-3000:]
        assert_delivered_exactly(rec, daemon.events())
        assert spool_rows(tmp_path / "state") == 0
        stats = last_stats(daemon)
        assert stats["mqtt"]["reconnects"] == 3 and stats["mqtt"]["spool_dropped"] == 0
        err = daemon.stderr()
        assert len(stderr_lines(err, "MQTT: disconnected from")) == 3
        # one warning per kind of failure while down, not one per reconnect attempt (~every 0.5 s)
        refused = stderr_lines(err, "refused the TCP connection")
        assert 1 <= len(refused) <= 3, refused
        assert "Traceback" not in err
    finally:
        broker.stop()
