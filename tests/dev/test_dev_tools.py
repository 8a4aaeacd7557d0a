"""Development tooling under deploy/dev: `make bench`'s report and `make run`'s demo, run from the checkout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sharedkit import IMAGES as SHARED_IMAGES, REPO

pytestmark = pytest.mark.slow  # runs the dev tools (demo, bench report) in subprocesses


def test_demo_shows_detections_and_events_arriving_over_mqtt():
    proc = subprocess.run([sys.executable, "-m", "deploy.dev.demo", "--images", str(SHARED_IMAGES),
                           "--frames", "10", "--size", "320"],
                          capture_output=True, text=True, timeout=240, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("live view: http://127.0.0.1:")  # what to open comes first
    assert lines[1].startswith("mosquitto on 127.0.0.1:")
    assert any(l.startswith("edgecam/demo/availability") and l.rstrip().endswith("online") for l in lines)
    assert any(l.startswith("edgecam/demo/detections") and "person" in l for l in lines)
    assert any(l.startswith("edgecam/demo/events") and " new " in f" {l.split(None, 1)[1]} " for l in lines)
    assert any(l.startswith("homeassistant/") for l in lines)


def test_demo_without_images_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "deploy.dev.demo", "--images", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--images" in proc.stderr


def test_report_quick_writes_bench_json_and_md(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, "-m", "deploy.dev.report", "--out", str(out), "--quick"],
                          capture_output=True, text=True, timeout=240, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "bench.json").read_text())
    assert {"machine", "raw", "stages", "pipeline", "daemon", "systemd_exposure", "quick"} <= set(data)
    assert data["quick"] is True
    assert {r["variant"] for r in data["raw"]} >= {"fp32", "fp16", "int8"}
    assert all(r["median_ms"] > 0 and r["fps"] > 0 for r in data["raw"])
    stage = data["stages"][0]
    assert {"preprocess_ms", "forward_ms", "decode+nms_ms", "detect_ms", "detect_vs_forward_pct"} <= set(stage)
    pipe = data["pipeline"][0]
    assert pipe["pipeline_fps"] > 0 and pipe["raw_fps"] > 0
    assert pipe["ratio"] == pytest.approx(pipe["pipeline_fps"] / pipe["raw_fps"], rel=1e-6)
    assert pipe["published"] > 0  # the pipeline really published to the broker
    d = data["daemon"]
    assert d["static_exit_code"] == 0 and d["moving_exit_code"] == 0
    assert d["peak_rss_mb"] > 20
    # motion gating: an empty, still scene costs a fraction of a scene where something moves
    assert d["cpu_s_per_frame_static"] is not None and d["cpu_s_per_frame_moving"] is not None
    assert d["cpu_s_per_frame_static"] < d["cpu_s_per_frame_moving"]
    md = (out / "bench.md").read_text()
    assert "## Raw inference" in md and "## Pipeline ratio" in md and md.strip() in proc.stdout
