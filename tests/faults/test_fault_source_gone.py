"""Fault: the camera (an images directory) disappears while the daemon runs, then comes back.

Reported: a warning naming the path and the fix, capture reconnects and the last error in the stats.
(The pipeline publishes stats only after a frame, so they go stale while the camera is gone; the
final stats carry the counters.)  Kept: the daemon keeps running (no restart, exit 0 at SIGTERM) and
frames resume from the same source once it is back.
"""

from __future__ import annotations

import time

import pytest

from daemonkit import Daemon, last_stats, stderr_lines, write_config, write_scene

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


def _frames(daemon) -> list[int]:
    return [m["payload"]["frame"] for m in daemon.messages() if m["topic"].endswith("/detections")]


def test_source_that_disappears_and_comes_back(tmp_path):
    scene = write_scene(tmp_path / "scene", horse=3, cat=5)
    cfg = write_config(tmp_path, scene, None, loop=True, fps=10)
    with Daemon(cfg, tmp_path / "run") as daemon:
        daemon.wait_until(lambda: len(_frames(daemon)) >= 5, 60, "first frames")
        scene.rename(tmp_path / "scene.away")
        daemon.wait_until(lambda: len(stderr_lines(daemon.stderr(), "names no image files")) >= 2, 30,
                          "capture to notice and retry")
        gone_at = len(_frames(daemon))
        time.sleep(1.0)
        assert len(_frames(daemon)) <= gone_at + 1  # nothing comes while it is gone (one may be in flight)
        (tmp_path / "scene.away").rename(scene)
        daemon.wait_until(lambda: len(_frames(daemon)) >= gone_at + 6, 30, "frames to resume")
        assert daemon.terminate() == 0, daemon.stderr()[-3000:]
    frames = _frames(daemon)
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    stats = last_stats(daemon)
    assert stats["reconnects"] >= 2 and stats["state"] == "running"
    assert str(scene) in stats["last_error"] and "names no image files" in stats["last_error"]
    err = daemon.stderr()
    warned = stderr_lines(err, "camera yard:")
    assert warned and all("reopening in" in w for w in warned)
    assert any(str(scene) in w for w in warned)
    assert "Traceback" not in err
    # every track the outage left open was ended: on resumption or at shutdown
    events = daemon.events()
    assert {e["id"] for e in events if e["type"] == "new"} == {e["id"] for e in events if e["type"] == "end"}
