"""Fault: the state directory's disk fills up while the broker is down (a 96 KiB tmpfs).

Kept: events the disk refuses are held in memory (bounded by ``spool_max_messages``) behind the ones
already on disk, and all of them arrive in order once the broker is back; the daemon keeps running.
Reported: one error naming the spool file and the fix, write errors and held events in the stats.
Needs root (to mount a tmpfs); skipped with the reason otherwise.
"""

from __future__ import annotations

import time

import pytest

from daemonkit import (Daemon, mounted_tmpfs, assert_delivered_exactly, last_stats, outage_setup, stderr_lines, write_config,
                       write_scene)

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


@pytest.fixture
def tiny_state_dir(tmp_path):
    with mounted_tmpfs(tmp_path / "state", "96k") as state:
        yield state


def test_disk_full_on_the_state_directory(tmp_path, tiny_state_dir, mqtt_recorder):
    broker, rec = outage_setup(tmp_path, mqtt_recorder)
    try:
        broker.stop()
        cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=3, cat=5), broker.port, loop=True,
                           fps=10, state_dir=tiny_state_dir,
                           extra="[events]\nenabled = false\n")  # the spool alone fills the disk (events: tests/events)
        with Daemon(cfg, tmp_path / "run") as daemon:
            daemon.wait_until(lambda: last_stats(daemon)["mqtt"]["spool_held"] >= 4, 60, "events held in memory")
            full = last_stats(daemon)
            assert full["mqtt"]["spool_write_errors"] >= 1 and full["mqtt"]["spool_dropped"] == 0
            assert full["mqtt"]["spooled"] > full["mqtt"]["spool_held"]  # some made it to disk before it filled
            n = len(daemon.events())
            daemon.wait_until(lambda: len(daemon.events()) >= n + 4, 30, "the daemon to keep running")
            broker.start()
            daemon.wait_until(lambda: len(rec.on("edgecam/yard/events")) >= len(daemon.events()) > n + 4, 30,
                              "the held and spooled events to arrive")
            assert daemon.terminate() == 0, daemon.stderr()[-3000:]
        assert_delivered_exactly(rec, daemon.events())
        err = daemon.stderr()
        refused = stderr_lines(err, "MQTT spool: cannot write")
        assert len(refused) == 1, refused
        assert str(tiny_state_dir / "yard" / "spool.sqlite3") in refused[0] and "full" in refused[0]
        assert "free space in" in refused[0]
        assert "lost" not in err and "Traceback" not in err
        stats = last_stats(daemon)
        assert stats["mqtt"]["spool_dropped"] == 0
        print("disk full:", {k: v for k, v in full["mqtt"].items() if k.startswith("spool")})
    finally:
        broker.stop()


def test_unusable_state_directory_at_start_is_one_line(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, ("#",))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be\n")
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"), mosquitto.port, state_dir=blocker / "state")
    with Daemon(cfg, tmp_path / "run") as daemon:
        assert daemon.wait(60) == 2  # refused by the checks `edgecam check` shares, before the broker is touched
    last = daemon.stderr().strip().splitlines()[-1]
    assert last.startswith(f"edgecam run: {cfg}:") and "[output] state_dir:" in last and "not a directory" in last
    assert "Traceback" not in daemon.stderr()
    time.sleep(0.3)
    assert rec.on("edgecam/yard/availability") == []  # never claimed online
