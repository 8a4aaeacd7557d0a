"""Stream copy against a real RTSP camera (gst-rtsp-server, H.264, a crowd in view; issue #20's stream source
and test kit): with ``clips = "auto"`` the camera's own packets become the clip — no re-encoding — and the
clip decodes with PyAV and spans the event plus its pre- and post-roll (frame timestamps).

Detection starts switched off (a stored control), so the packet ring fills before the first event; it is
switched on, then off again, over the live view's controls."""

from __future__ import annotations

import json
import re

import av
import pytest

from daemonkit import CAM, Daemon, last_stats
from webkit import LiveView, request

rtspkit = pytest.importorskip("rtspkit", reason="needs issue #20's RTSP test kit (tests/rtspkit.py)")

pytestmark = pytest.mark.slow
PRE_S, POST_S = 2.0, 1.0


def _config(tmp_path, url: str):
    cfg = tmp_path / "edgecam.toml"
    cfg.write_text(f"""
[camera]
id = "{CAM}"
source = "stream"
path = "{url}"
fps = 5
open_timeout_s = 5.0

[model]
size = 320
threads = 1

[mqtt]
enabled = false

[output]
stdout = true
state_dir = "{tmp_path / 'state'}"
stats_interval_s = 0.5

[tracking]
min_hits = 2
max_missed_s = 0.5

[motion]
enabled = false

[web]
port = 0

[events]
pre_s = {PRE_S}
post_s = {POST_S}

[thermal]
sysfs_root = "{tmp_path / 'sys'}"
warmup_min_runs = 1
warmup_max_runs = 2
""")
    return cfg


def _detection(view, on: bool) -> None:
    r = request(view, "POST", "/api/controls", json.dumps({"detection": on}).encode(),
                {"Content-Type": "application/json"})
    assert r.status == 200, r.body


def test_stream_copy_clip_from_a_real_rtsp_camera(tmp_path):
    from edgecam.controls import Controls
    from edgecam.runtime.controlstore import ControlStore

    rtspkit.require_rtsp_server()
    camera = rtspkit.RtspCamera(tmp_path / "rtsp", fps=10).start()
    try:
        controls = Controls()
        ControlStore(tmp_path / "state" / CAM).restore(controls)
        controls.set_detection_enabled(False)  # stored: the daemon starts with detection off
        with Daemon(_config(tmp_path, camera.url()), tmp_path / "run") as daemon:
            daemon.wait_until(lambda: re.search(r"live view: http://127\.0\.0\.1:\d+/", daemon.stderr()), 120,
                              "the live view")
            assert "clips by copy" in daemon.stderr()
            port = int(re.search(r"live view: http://127\.0\.0\.1:(\d+)/", daemon.stderr()).group(1))
            view = LiveView(None, None, "127.0.0.1", port)  # type: ignore[arg-type]
            daemon.wait_until(lambda: last_stats(daemon)["frames"] >= 20, 60, "4 s of frames (the ring fills)")
            _detection(view, True)
            daemon.wait_until(lambda: any(e["type"] == "new" and e["label"] == "person" for e in daemon.events()),
                              60, "people detected")
            daemon.wait_until(lambda: last_stats(daemon)["frames"] >= 40, 60, "people in view for a while")
            _detection(view, False)  # the tracks end; the clips close post_s later
            daemon.wait_until(lambda: any(e["clip"] for e in json.loads(request(view, "GET", "/api/events").body)),
                              60, "a clip")
            item = next(e for e in json.loads(request(view, "GET", "/api/events").body) if e["clip"])
            end = next(e for e in daemon.events() if e["type"] == "end" and e["id"] == item["id"])
            assert end["clip"] == item["clip"]
            (tmp_path / "clip.mp4").write_bytes(request(view, "GET", item["clip"]).body)
            daemon.wait_until(lambda: last_stats(daemon)["events"].get("clips", 0) >= 1, 30, "the clip in the stats")
            events_stats = last_stats(daemon)["events"]
            assert daemon.terminate() == 0
    finally:
        camera.stop()
    with av.open(str(tmp_path / "clip.mp4")) as clip:
        stream = clip.streams.video[0]
        assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (640, 360)  # the camera's
        times = [float(f.time) for f in clip.decode(video=0)]
    span = times[-1] - times[0]
    wanted = (end["end_time"] + POST_S) - (end["start_time"] - PRE_S)
    assert wanted - 0.35 <= span <= wanted + 1.5, (span, wanted)  # + at most one GOP (1 s) before the pre-roll
    assert item["clip_start"] <= end["start_time"] - PRE_S + 0.15
    assert "clip_frames_encoded" not in events_stats and events_stats["clips"] >= 1  # copied, not encoded
