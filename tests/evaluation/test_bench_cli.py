"""`edgecam bench` output (CONTRACT §3), also from outside the checkout, and `--cooldown` on a fake sysfs tree."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgecam.evaluation.bench import cool_down

pytestmark = pytest.mark.slow  # benchmarks the pipeline and the CLI in subprocesses

REPO = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^\s*(?P<name>\S+)\s+min =\s+(?P<min>\d+\.\d\d)\s+max =\s+(?P<max>\d+\.\d\d)\s+avg =\s+(?P<avg>\d+\.\d\d)$")


def bench(*args: str, timeout: float = 180, cwd_override: Path | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgecam", "bench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd_override or REPO, **kw)


def parse(stdout: str) -> dict[str, dict[str, float]]:
    out = {}
    for line in stdout.splitlines():
        m = LINE.match(line)
        assert m, f"not a benchncnn-style line: {line!r}"
        out[m["name"]] = {k: float(m[k]) for k in ("min", "max", "avg")}
    return out


def test_bench_lines_per_model_with_preprocess_and_decode_nms_and_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = bench("--model", "yolov5ss,yolov5ss-int8", "--size", "320", "--threads", "1", "--loops", "3",
                 "--warmup", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = parse(proc.stdout)
    assert list(lines) == ["yolov5ss", "yolov5ss.preprocess", "yolov5ss.decode+nms",
                           "yolov5ss-int8", "yolov5ss-int8.preprocess", "yolov5ss-int8.decode+nms"]
    for name, t in lines.items():
        assert 0 < t["min"] <= t["avg"] <= t["max"], name
    data = json.loads(out.read_text())
    assert [d["name"] for d in data] == list(lines)
    for d in data:
        assert d["n"] == 3 and d["min_ms"] <= d["p50_ms"] <= d["max_ms"]
        assert abs(d["avg_ms"] - lines[d["name"]]["avg"]) < 0.01


def test_bench_needs_no_checkout_and_no_image(tmp_path):
    # run from an unrelated directory: no sample photo beside a checkout is needed (a synthetic frame)
    proc = bench("--model", "yolov5ss", "--size", "320", "--threads", "1", "--loops", "2", "--warmup", "0",
                 cwd_override=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(parse(proc.stdout)) == ["yolov5ss", "yolov5ss.preprocess", "yolov5ss.decode+nms"]


def test_bench_unreadable_image_is_one_line(tmp_path):
    bad = tmp_path / "not-a-photo.jpg"
    bad.write_text("text")
    proc = bench("--image", str(bad), "--loops", "1", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and str(bad) in proc.stderr


def test_bench_bad_model_is_a_usage_error():
    proc = bench("--model", "no-such-model", "--loops", "1", timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "no-such-model" in proc.stderr


def fake_thermal(root: Path, millideg: int) -> Path:
    zone = root / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "type").write_text("cpu-thermal\n")
    temp = zone / "temp"
    temp.write_text(f"{millideg}\n")
    return temp


def test_cool_down_waits_until_the_temperature_is_back(tmp_path):
    temp = fake_thermal(tmp_path, 71000)
    lowered = threading.Event()
    heard: list[str] = []

    def cool():
        time.sleep(0.3)
        temp.write_text("60000\n")  # cooler, not yet back
        time.sleep(0.3)
        temp.write_text("49500\n")
        lowered.set()

    threading.Thread(target=cool, daemon=True).start()
    got = cool_down(tmp_path, 50.0, timeout_s=30, poll_s=0.05, say=heard.append)
    assert lowered.is_set()
    assert got == 49.5
    assert heard and "71.0 °C" in heard[0] and "50.0 °C" in heard[0]


def test_cool_down_gives_up_at_the_timeout_and_without_a_sensor(tmp_path):
    fake_thermal(tmp_path / "hot", 90000)
    assert cool_down(tmp_path / "hot", 50.0, timeout_s=0.2, poll_s=0.05) == 90.0
    assert cool_down(tmp_path / "none", 50.0, timeout_s=5) is None


def test_bench_cooldown_waits_for_the_start_temperature_between_models(tmp_path):
    temp = fake_thermal(tmp_path, 50000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "bench", "--model", "yolov5ss,yolov5ss-int8", "--size", "320",
         "--threads", "1", "--loops", "40", "--warmup", "1", "--cooldown", "--cooldown-timeout", "60",
         "--sysfs-root", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def note(kind, line):
        with lock:
            events.append((kind, line.rstrip()))

    def read_stdout():
        for line in proc.stdout:
            note("out", line)

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    try:
        for line in proc.stderr:  # the bench announces its start temperature, then runs model 1
            note("err", line)
            if "start temperature 50.0" in line:
                temp.write_text("68000\n")  # model 1 heats the SoC
            elif "waiting for 68.0" in line:
                time.sleep(0.5)
                note("cooled", "")
                temp.write_text("50000\n")
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    kinds = [k for k, _ in events]
    assert "cooled" in kinds, events
    int8_lines = [i for i, (k, line) in enumerate(events) if k == "out" and line.strip().startswith("yolov5ss-int8 ")]
    assert int8_lines and int8_lines[0] > kinds.index("cooled")  # model 2 ran only after the SoC cooled
    assert len([k for k in kinds if k == "out"]) == 6
