"""`edgecam run` end to end on an images source with the real model (stdout publisher)."""

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from daemonkit import write_config as kit_config
from daemonkit import write_scene

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


def write_config(tmp_path, scene, loop=False, fps=20):
    """The shared daemon config with MQTT off: the stdout publisher is what these tests read."""
    return kit_config(tmp_path, scene, None, loop=loop, fps=fps)


def messages(stdout):
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def by_topic(msgs, suffix):
    return [m["payload"] for m in msgs if m["topic"].endswith(suffix)]


def test_confirmed_events_and_counts_back_to_zero(tmp_path):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"))
    proc = subprocess.run([sys.executable, "-m", "edgecam", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    msgs = messages(proc.stdout)
    events = by_topic(msgs, "/events")
    new = {e["label"] for e in events if e["type"] == "new"}
    assert {"person", "dog", "horse"} <= new
    for label in ("person", "dog", "horse"):
        ids = {e["id"] for e in events if e["label"] == label}
        assert len(ids) == 1, (label, ids)  # one stable track per object
        kinds = [e["type"] for e in events if e["label"] == label]
        assert kinds[0] == "new" and kinds[-1] == "end" and kinds.count("end") == 1
        counts = by_topic(msgs, f"/yard/{label}")
        assert counts[0] == "1" and counts[-1] == "0", counts
    # an `end` arrives while the cat frames still run (left the scene), not only at shutdown
    cat_frames = [i for i, m in enumerate(msgs) if m["topic"].endswith("/detections")
                  and any(d["label"] == "cat" for d in m["payload"]["detections"])]
    horse_end = next(i for i, m in enumerate(msgs) if m["topic"].endswith("/events")
                     and m["payload"]["type"] == "end" and m["payload"]["label"] == "horse")
    assert horse_end < cat_frames[-1]
    assert by_topic(msgs, "/availability") == ["online", "offline"]
    stats = by_topic(msgs, "/stats")[-1]
    for key in ("fps", "inference_ms", "temperature_c", "throttled", "dropped_frames", "uptime_s"):
        assert key in stats
    assert 1 <= stats["warmup_runs"] <= 2 and stats["warmup_s"] > 0  # the kit's warm-up: 1 to 2 runs
    assert "warmup_start_c" in stats and "warmup_end_c" in stats


def test_max_frames_stops_and_ends_live_tracks(tmp_path):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=2, cat=0), loop=True)
    proc = subprocess.run([sys.executable, "-m", "edgecam", "run", "--config", str(cfg), "--max-frames", "5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    msgs = messages(proc.stdout)
    assert by_topic(msgs, "/stats")[-1]["frames"] == 5
    frames = [p["frame"] for p in by_topic(msgs, "/detections")]  # confirmed tracks only: from the 2nd frame on
    assert len(frames) == 4
    events = by_topic(msgs, "/events")
    news = {e["id"] for e in events if e["type"] == "new"}
    ends = {e["id"] for e in events if e["type"] == "end"}
    assert news and news == ends  # every live track was ended on the way out


def test_sigterm_shuts_down_cleanly(tmp_path):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=2, cat=0), loop=True, fps=5)
    proc = subprocess.Popen([sys.executable, "-m", "edgecam", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if '"type":"new"' in line.replace(" ", ""):
            break
    proc.send_signal(signal.SIGTERM)
    killer = threading.Timer(60, proc.kill)  # bound the reads below if shutdown hangs
    killer.start()
    out = proc.stdout.read()  # the rest of what is buffered (communicate() would drop it)
    err = proc.stderr.read()
    proc.wait()
    killer.cancel()
    assert proc.returncode == 0, err
    msgs = messages(seen + out)
    events = by_topic(msgs, "/events")
    assert {e["id"] for e in events if e["type"] == "new"} == {e["id"] for e in events if e["type"] == "end"}
    assert by_topic(msgs, "/availability")[-1] == "offline"


def test_check_accepts_good_and_rejects_bad_config(tmp_path):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"))
    ok = subprocess.run([sys.executable, "-m", "edgecam", "check", "--config", str(cfg)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(cfg.read_text().replace("size = 320", "size = 321"))
    proc = subprocess.run([sys.executable, "-m", "edgecam", "run", "--config", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "size" in proc.stderr and proc.stdout == ""


def test_missing_model_is_exit_2_before_anything_starts(tmp_path):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"))
    cfg.write_text(cfg.read_text().replace("size = 320", 'size = 320\npath = "nope.param"'))
    proc = subprocess.run([sys.executable, "-m", "edgecam", "run", "--config", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "nope.param" in proc.stderr and "not found" in proc.stderr
    assert proc.stdout == ""  # nothing was published
