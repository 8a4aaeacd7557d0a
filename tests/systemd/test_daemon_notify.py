"""`edgecam run` under a (simulated) systemd: the test plays the service manager.

It binds the NOTIFY_SOCKET datagram socket, sets WATCHDOG_USEC/WATCHDOG_PID like systemd does, and
feeds the camera through a FIFO (an MJPEG stream read by the `opencv` source). Checks:
READY=1 arrives after the model warm-up; WATCHDOG=1 arrives at least twice per watchdog interval;
the pings stop once a camera read hangs (the FIFO stays open and is no longer fed: the abandoned read never
returns); STOPPING=1 on SIGTERM. (A camera that fails and is reopened keeps the pings: tests/sources/test_rtsp_daemon.py.)

The FIFO lives under /dev/shm because the opencv source treats `/dev/...` paths as live devices
(a regular path must be an existing regular file, i.e. a video file that it may loop).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from notify_socket import NotifyListener
from sharedkit import HORSE, MODELS, REPO

WATCHDOG_S = 3.0

pytestmark = pytest.mark.slow


class ServiceManager(NotifyListener):
    """The notify socket end, plus what the daemon test asks of it."""

    def pings(self, after: float = 0.0) -> list[float]:
        return [t for t, m in self.snapshot() if "WATCHDOG=1" in m.split("\n") and t > after]

    def wait_for_assignment(self, assignment: str, timeout: float, proc: subprocess.Popen, log: Path) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, m in self.snapshot():
                if assignment in m.split("\n"):
                    return t
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        pytest.fail(f"{assignment} not received within {timeout}s (daemon exit code {proc.poll()});"
                    f" messages: {self.snapshot()!r}\n--- daemon log ---\n{log.read_text()[-4000:]}")


class FifoCamera:
    """Writes JPEGs into a FIFO as an MJPEG stream while `feeding` is set; keeps the FIFO open otherwise."""

    def __init__(self, jpeg: bytes, fps: float = 10.0) -> None:
        self.path = f"/dev/shm/edgecam-test-{uuid.uuid4().hex}.mjpg"
        os.mkfifo(self.path, 0o600)
        self.jpeg = jpeg
        self.period = 1.0 / fps
        self.feeding = threading.Event()
        self.feeding.set()
        self.done = threading.Event()
        self.frames_written = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until the daemon opens the camera
        try:
            while not self.done.is_set():
                if self.feeding.is_set():
                    os.write(fd, self.jpeg)
                    self.frames_written += 1
                self.done.wait(self.period)
        except OSError:  # reader gone (daemon exited)
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        self.done.set()
        try:  # unblock a writer still waiting in open() for a reader
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self._thread.join(5)
            os.close(fd)
        except OSError:
            pass
        self._thread.join(5)
        os.unlink(self.path)


def write_config(tmp: Path, fifo: str) -> Path:
    sysfs = tmp / "sys"
    zone = sysfs / "class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("48312\n")
    (tmp / "state").mkdir()
    cfg = tmp / "edgecam.toml"
    cfg.write_text(f"""
[camera]
id = "notifytest"
source = "opencv"
path = "{fifo}"
fps = 5
stall_timeout_s = 1.0
reconnect_initial_s = 0.2
reconnect_max_s = 1.0

[model]
path = "yolov5ss"
size = 320
threads = 1

[mqtt]
enabled = false

[homeassistant]
discovery = false

[output]
stdout = true
state_dir = "{tmp / 'state'}"
stats_interval_s = 1.0

[thermal]
sysfs_root = "{sysfs}"
warmup_min_runs = 2
warmup_max_runs = 4
""")
    return cfg


def test_ready_watchdog_stall_and_stopping(tmp_path):
    assert Path("/dev/shm").is_dir(), "this test needs /dev/shm for its FIFO camera"
    manager = ServiceManager()
    camera = FifoCamera(HORSE.read_bytes())
    cfg = write_config(tmp_path, camera.path)
    env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "JOURNAL_STREAM", "WATCHDOG_PID")}
    env.update(NOTIFY_SOCKET=manager.env_value, WATCHDOG_USEC=str(int(WATCHDOG_S * 1e6)),
               EDGECAM_MODEL_DIR=str(MODELS), PYTHONUNBUFFERED="1")
    log = tmp_path / "daemon.log"
    out = tmp_path / "daemon.out"
    # Like systemd: WATCHDOG_PID is the main process's pid (`exec` keeps the shell's pid).
    cmd = ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" -m edgecam run --config "$1"', sys.executable, str(cfg)]
    with open(log, "wb") as err, open(out, "wb") as stdout:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=stdout, stderr=err)
    try:
        # 1. READY=1 only after model load and warm-up
        t_ready = manager.wait_for_assignment("READY=1", 180, proc, log)
        log_at_ready = log.read_text()
        assert re.search(r"warm", log_at_ready, re.I), f"READY=1 before any warm-up was logged:\n{log_at_ready}"
        # the warm-up's runs and start/end temperature (the fake sysfs holds 48.3 °C) in STATUS=
        ready_msg = next(m for _, m in manager.snapshot() if "READY=1" in m.split("\n"))
        assert re.search(r"^STATUS=.*warm-up: [2-4] runs in [\d.]+ s, 48\.3 → 48\.3 °C", ready_msg, re.M), ready_msg

        # 2. healthy: at least two pings per watchdog interval
        time.sleep(3 * WATCHDOG_S)
        pings = manager.pings(after=t_ready)
        assert len(pings) >= 5, f"pings after READY: {pings}"
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < WATCHDOG_S / 2, f"ping gaps {gaps} (interval {WATCHDOG_S}s)"
        assert out.stat().st_size > 0, "no detections were printed: frames did not flow before the stall"
        assert proc.poll() is None

        # 3. the camera stalls (FIFO kept open, nothing written) → the pings stop
        camera.feeding.clear()
        t_stall = time.monotonic()
        deadline = t_stall + 30
        while time.monotonic() < deadline:
            last = manager.pings(after=t_stall)
            quiet_since = last[-1] if last else t_stall
            if time.monotonic() - quiet_since > 2 * WATCHDOG_S:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"WATCHDOG=1 pings kept coming for 30 s after the camera stalled\n{log.read_text()[-3000:]}")
        assert proc.poll() is None, "the daemon exited instead of letting the watchdog act"
        assert "pipeline stalled" in log.read_text() and "capture" in log.read_text()

        # 4. SIGTERM → STOPPING=1 and a clean exit
        proc.send_signal(signal.SIGTERM)
        t_term = time.monotonic()
        t_stopping = manager.wait_for_assignment("STOPPING=1", 20, proc, log)
        assert t_stopping >= t_term
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        camera.close()
        manager.close()
