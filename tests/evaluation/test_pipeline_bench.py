"""`edgecam bench --pipeline SOURCE` against a real mosquitto (CONTRACT §3 last line)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgecam.errors import UsageError
from edgecam.evaluation.pipeline_bench import LosslessSource, parse_broker, parse_source
from sharedkit import REPO, SHARED

pytestmark = pytest.mark.slow  # benchmarks the pipeline and the CLI in subprocesses

LAST = re.compile(r"^pipeline_fps=(\d+\.\d+) raw_fps=(\d+\.\d+) ratio=(\d+\.\d+)$")


def scene(tmp_path: Path) -> Path:
    d = tmp_path / "scene"
    d.mkdir()
    for name in ("horse.jpg", "bike.jpg"):
        (d / name).symlink_to(SHARED / "images" / name)
    return d


def test_pipeline_last_line_and_mqtt_traffic(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, topics=("edgecam/bench/#",))
    out = tmp_path / "pipe.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edgecam", "bench", "--pipeline", str(scene(tmp_path)), "--size", "320",
         "--threads", "auto", "--frames", "20", "--rounds", "1", "--broker", f"127.0.0.1:{mosquitto.port}",
         "--json", str(out)],
        capture_output=True, text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    m = LAST.match(last)
    assert m, last
    pf, rf, ratio = map(float, m.groups())
    assert pf > 0 and rf > 0
    assert ratio == pytest.approx(pf / rf, abs=2e-3)
    data = json.loads(out.read_text())
    # threads auto, as the daemon resolves it: the images source decodes in the process, so cores - 1
    assert data["threads"] == max(1, len(os.sched_getaffinity(0)) - 1)
    assert data["size"] == 320 and data["frames_per_round"] == 20
    assert len(data["rounds_pipeline_fps"]) == 1 and len(data["rounds_raw_fps"]) == 2  # raw, pipeline, raw
    stages = data["stage_ms"]
    assert set(stages) == {"gate", "preprocess", "forward", "postprocess", "track", "publish"}
    assert all(v["n"] == 20 and v["wall_ms"] >= 0 and v["cpu_ms"] >= 0 for v in stages.values())
    assert stages["forward"]["wall_ms"] > 0
    # capture → MQTT publish of the frame's detections, the daemon's latency_ms
    lat = data["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] < 60_000
    assert f"latency_ms p50={lat['p50']} p95={lat['p95']}" in proc.stdout.strip().splitlines()[-2]
    # warm-up block + one timed block of 20 frames, every frame with detections, all through the broker
    dets = rec.wait_count("edgecam/bench/detections", 40, timeout=30)
    payload = json.loads(dets[-1].payload)
    assert payload["camera"] == "bench" and payload["detections"]


def test_pipeline_bad_source_and_bad_broker_are_usage_errors(tmp_path):
    for args, needle in ((["--pipeline", str(tmp_path / "nothing-here")], "nothing-here"),
                         (["--pipeline", str(SHARED / "images"), "--broker", "localhost"], "host:port")):
        proc = subprocess.run([sys.executable, "-m", "edgecam", "bench", *args, "--frames", "2"],
                              capture_output=True, text=True, timeout=60, cwd=REPO)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr


def test_yuv420_pipeline_converts_the_camera_buffers(tmp_path, mosquitto):
    out = tmp_path / "pipe.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edgecam", "bench", "--pipeline", f"yuv420:{scene(tmp_path)}", "--size", "320",
         "--threads", "1", "--frames", "12", "--rounds", "1", "--lores", "320x180", "--stride", "384",
         "--broker", f"127.0.0.1:{mosquitto.port}", "--json", str(out)],
        capture_output=True, text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert LAST.match(proc.stdout.strip().splitlines()[-1])
    data = json.loads(out.read_text())
    assert data["source"].startswith("yuv420:") and data["stage_ms"]["preprocess"]["n"] == 12  # scale + convert + letterbox


def test_bad_yuv420_options_are_usage_errors(tmp_path):
    for args, needle in ((["--pipeline", f"yuv420:{tmp_path}"], "yuv420:"),
                         (["--pipeline", f"yuv420:{SHARED / 'images'}", "--stride", "600"], "--stride 600"),
                         (["--pipeline", f"yuv420:{SHARED / 'images'}", "--lores", "641x360"], "--lores")):
        proc = subprocess.run([sys.executable, "-m", "edgecam", "bench", *args, "--frames", "2"],
                              capture_output=True, text=True, timeout=60, cwd=REPO)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr


def test_pipeline_sources_keep_the_pixel_budget(tmp_path):
    """--max-pixels reaches both bench sources: every image above it is refused from its header."""
    for source in (str(scene(tmp_path)), f"yuv420:{tmp_path / 'scene'}"):
        proc = subprocess.run([sys.executable, "-m", "edgecam", "bench", "--pipeline", source, "--max-pixels", "100000",
                               "--frames", "2", "--rounds", "1"], capture_output=True, text=True, timeout=120, cwd=REPO)
        assert proc.returncode == 2, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("edgecam bench: --pipeline ") and "Traceback" not in proc.stderr
        assert "pixel budget" in proc.stderr and "--max-pixels" in proc.stderr


def test_parse_source_and_broker(tmp_path):
    assert parse_source(str(SHARED / "images")) == ("images", str(SHARED / "images"))
    assert parse_source(f"yuv420:{SHARED / 'images'}") == ("yuv420", str(SHARED / "images"))
    assert parse_source("opencv:/dev/video0") == ("opencv", "/dev/video0")
    assert parse_source("rtsp://cam:p@ss@cam/live") == ("stream", "rtsp://cam:p@ss@cam/live")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0")
    assert parse_source(str(video)) == ("opencv", str(video))
    with pytest.raises(UsageError, match="video file not found"):
        parse_source(str(tmp_path / "missing.mp4"))
    assert parse_broker("10.0.0.5:1884") == ("10.0.0.5", 1884)
    for bad in ("10.0.0.5", ":1883", "host:99999", "host:x"):
        with pytest.raises(UsageError):
            parse_broker(bad)


def test_lossless_wrapper_only_for_file_sources():
    class Src:
        name = "x"

        def __init__(self, live):
            self.live = live
            self.opened = self.closed = False

        def open(self):
            self.opened = True

        def read(self, timeout):
            return "frame"

        def close(self):
            self.closed = True

    for live in (False, True):
        inner = Src(live)
        w = LosslessSource(inner)
        w.open()
        assert w.lossless is (not live) and w.live is live
        assert w.read(0.1) == "frame"
        w.close()
        assert inner.opened and inner.closed
