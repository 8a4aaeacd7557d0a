"""The real daemon against a hostile state directory, a full disk and SIGHUP (issue 23).

1. Hostile files planted in the camera's state directory (a journal with a 400-digit number, a
   discovery record nested 8000 deep, a spooled event nested 8000 deep, symbolic links as the WAL
   and the journal's temp file): the daemon starts, runs and stops with exit 0; the files are moved
   aside; nothing is written through a link.
2. The state directory's disk fills up (a real tiny tmpfs): one warning per unwritable record, and
   every failed write counted in the stats (``state_write_errors``).
3. SIGHUP stops the daemon cleanly: exit 0, every ``new`` has its ``end``, no track left in the journal.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3

import pytest

from daemonkit import (EVENTS, Daemon, assert_every_new_ended_once, camera_dir, last_stats, mounted_tmpfs,
                       open_ids, stderr_lines, write_config, write_scene)

pytestmark = pytest.mark.slow


def _plant_hostile_state(state, precious):
    cam = camera_dir(state)
    cam.mkdir(parents=True)
    (cam / "open_tracks.json").write_text(
        '{"v": 1, "open": [{"id": "x", "label": "cat", "start_time": 1%s, "last_seen": 2.0, "box": [0, 0, 1, 1], '
        '"score": 0.5, "top_score": 0.5, "zones": []}]}' % ("0" * 400))
    (cam / "discovery.json").write_text('{"components": %s}' % ("[" * 8000 + "]" * 8000))
    with sqlite3.connect(cam / "spool.sqlite3") as db:
        db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
                   "payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL)")
        db.execute("INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, 1, 0)",
                   (EVENTS, b"[" * 8000 + b"]" * 8000))
    (cam / "spool.sqlite3-wal").symlink_to(precious)
    (cam / "open_tracks.json.tmp").symlink_to(precious)
    return cam


def test_hostile_state_files_are_moved_aside_and_the_daemon_runs(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, (EVENTS,))
    precious = tmp_path / "precious"
    precious.write_text("keep me\n")
    cam = _plant_hostile_state(tmp_path / "state", precious)
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=3, cat=3), mosquitto.port)
    with Daemon(cfg, tmp_path / "run") as daemon:
        assert daemon.wait() == 0, daemon.stderr()[-3000:]
    err = daemon.stderr()
    assert "Traceback" not in err
    for name in ("open_tracks.json", "discovery.json", "spool.sqlite3-wal"):
        assert list(cam.glob(f"{name}.corrupt-*")), (name, sorted(p.name for p in cam.iterdir()))
        assert len(stderr_lines(err, f"state record {cam / name} is unusable")) == 1, err[-3000:]
    assert precious.read_text() == "keep me\n"
    assert json.loads((cam / "open_tracks.json").read_text())["open"] == []
    events = daemon.events()
    assert events and not open_ids(events)
    last = events[-1]
    rec.wait_for(EVENTS, lambda m: m.payload.startswith(b"{") and json.loads(m.payload) == last, timeout=30)


def _fill(directory):
    with open(directory / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:  # ENOSPC: the disk is full
            pass


def test_a_full_disk_gives_one_warning_per_record_and_a_count(tmp_path, mosquitto):
    with mounted_tmpfs(tmp_path / "state", "512k") as state:
        cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=3, cat=3), mosquitto.port, loop=True,
                           fps=10, state_dir=state)
        with Daemon(cfg, tmp_path / "run") as daemon:
            daemon.wait_until(lambda: len(daemon.events()) >= 2, 90, "events")
            _fill(state)
            # every membership change re-tries the journal (at most once a second): several failures
            daemon.wait_until(lambda: last_stats(daemon)["state_write_errors"] >= 3, 90, "failed writes counted")
            full = last_stats(daemon)
            assert daemon.terminate() == 0, daemon.stderr()[-3000:]
        err = daemon.stderr()
        lines = stderr_lines(err, f"cannot write state record {state / 'yard' / 'open_tracks.json'}")
        assert len(lines) == 1, lines
        assert "No space left on device" in lines[0] and "free space" in lines[0]
        assert "Traceback" not in err
        print("full disk: state_write_errors", full["state_write_errors"], "warning lines", len(lines))


def test_sighup_is_a_clean_stop_with_no_track_left_open(tmp_path, mosquitto):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=4, cat=4), mosquitto.port, loop=True, fps=10)
    with Daemon(cfg, tmp_path / "run") as daemon:
        daemon.wait_until(lambda: open_ids(daemon.events()), 90, "a track open")
        daemon.proc.send_signal(signal.SIGHUP)
        assert daemon.wait() == 0, daemon.stderr()[-3000:]
    assert "received SIGHUP, shutting down" in daemon.stderr()
    assert_every_new_ended_once(daemon.events())
    journal = json.loads((camera_dir(tmp_path / "state") / "open_tracks.json").read_text())
    assert journal["open"] == []
    assert os.path.exists(camera_dir(tmp_path / "state") / "lock")
