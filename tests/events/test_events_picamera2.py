"""The event history of a Pi camera, in the real daemon with the fake camera stack (tests/sources/fakestack:
``import picamera2`` / ``libcamera`` resolve to tests/sources/fake_picamera2.py in the daemon subprocess; the
real model detects the horse photo in its lores stream):

* Pi 4: snapshots at the main stream's size (not the lores one the detector sees); clips come from picamera2's
  H.264 encoder (the fake one produces real H.264), remuxed to MP4, decode, and span pre-roll + event;
* Pi 5 with ``clips = "auto"``: no hardware encoder, so no clips, and the log says why."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from daemonkit import Daemon, write_config
from sharedkit import HORSE, REPO
from webkit import LiveView, request

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)

FAKESTACK = REPO / "tests" / "sources" / "fakestack"
MAIN, LORES = (640, 480), (320, 240)
FPS, PRE_S, POST_S = 10, 1.0, 0.5
CLIPS_OFF = "event clips off: this camera has no hardware H.264 encoder"


def pi_daemon(tmp: Path, platform: str) -> Daemon:
    grey = tmp / "grey.jpg"
    cv2.imwrite(str(grey), np.full((MAIN[1], MAIN[0], 3), 128, np.uint8))
    cfg = write_config(tmp, tmp, None, stdout=True, fps=FPS, web="port = 0\n",
                       extra=f'\n[events]\nclips = "auto"\npre_s = {PRE_S}\npost_s = {POST_S}\n')
    text = cfg.read_text().replace('source = "images"', 'source = "picamera2"').replace(f'path = "{tmp}"', 'path = "0"')
    text = re.sub(r"^(loop|hold_s) = .*\n", "", text, flags=re.M)  # images-only keys
    text = text.replace('path = "0"\n', f'path = "0"\nwidth = {MAIN[0]}\nheight = {MAIN[1]}\n'
                                        f'lores_width = {LORES[0]}\nlores_height = {LORES[1]}\n', 1)
    cfg.write_text(text)
    scene = f"{grey}*{2 * FPS},{HORSE}*{FPS},{grey}*{2 * FPS}"  # 2 s empty (the pre-roll), 1 s horse, 2 s empty
    return Daemon(cfg, tmp / "run", env={"PYTHONPATH": str(FAKESTACK), "EDGECAM_FAKE_PI": platform,
                                         "EDGECAM_FAKE_FPS": str(FPS), "EDGECAM_FAKE_SCENE": scene})


def live_view(daemon: Daemon) -> LiveView:
    pattern = r"live view: http://127\.0\.0\.1:(\d+)/"
    daemon.wait_until(lambda: re.search(pattern, daemon.stderr()), 120, "the live view")
    port = int(re.search(pattern, daemon.stderr()).group(1))
    return LiveView(publisher=None, controls=None, host="127.0.0.1", port=port)  # type: ignore[arg-type]


def api_events(view: LiveView) -> list[dict]:
    r = request(view, "GET", "/api/events?label=person")
    assert r.status == 200, r.body
    return json.loads(r.body)


def snapshot_size(view: LiveView, event: dict) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(request(view, "GET", event["snapshot"]).body, np.uint8), cv2.IMREAD_COLOR)
    return image.shape[1], image.shape[0]


def test_pi4_snapshot_has_the_main_stream_size_and_the_hardware_encoder_clip_spans_the_event(tmp_path):
    daemon = pi_daemon(tmp_path, "vc4")
    try:
        view = live_view(daemon)
        daemon.wait_until(lambda: any(e["clip"] for e in api_events(view)), 180, "a person event with a clip")
        event = next(e for e in api_events(view) if e["clip"])
        assert snapshot_size(view, event) == MAIN  # not the lores frame the detector saw
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(request(view, "GET", event["clip"]).body)
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            size = (stream.width, stream.height)
            times = [float(f.time) for f in container.decode(video=0)]
        assert size == MAIN  # the main stream, encoded by picamera2
        span = times[-1] - times[0]
        wanted = (event["end_time"] + POST_S) - (event["start_time"] - PRE_S)
        assert span >= wanted - 2.5 / FPS, (span, wanted, times)
        assert event["clip_start"] <= event["start_time"] - PRE_S + 1.0 / FPS  # the pre-roll is in it
        stats = json.loads(request(view, "GET", "/api/stats").body)["events"]
        assert stats["clips"] >= 1 and stats["main_images"] >= 1
        print(f"\nmain-stream copies for snapshots: {stats['main_images']} for {stats['stored']} events "
              f"(each a copy of one {MAIN[0]}x{MAIN[1]} buffer, only when an event's best detection improved)")
        assert "picamera2 H.264 encoder on the main stream 640x480" in daemon.stderr()
    finally:
        daemon.kill()


def test_pi5_auto_records_no_clip_and_says_why(tmp_path):
    daemon = pi_daemon(tmp_path, "pisp")
    try:
        view = live_view(daemon)
        daemon.wait_until(lambda: any(e["end_time"] for e in api_events(view)), 180, "an ended person event")
        ended = [e for e in api_events(view) if e["end_time"]]
        assert all(e["clip"] is None for e in ended)
        assert snapshot_size(view, ended[0]) == MAIN  # snapshots still at the main stream's size
        ends = [e for e in daemon.events() if e["type"] == "end"]
        assert ends and all(e["clip"] is None and e["snapshot"] for e in ends)
        assert CLIPS_OFF in daemon.stderr()
        assert "H.264 encoder on the main stream" not in daemon.stderr()
    finally:
        daemon.kill()
