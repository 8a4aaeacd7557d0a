"""The daemon with `source = "picamera2"` on a machine without the camera stack: one line, exit 2."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from edgecam.sources.pi_platform import MISSING_PICAMERA2
from tests.daemonkit import REPO, write_config, write_scene

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_missing_camera_stack_stops_the_daemon_with_exit_2(tmp_path):
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"), None, stdout=False)
    cfg.write_text(cfg.read_text().replace('source = "images"', 'source = "picamera2"').replace(
        f'path = "{tmp_path / "scene"}"', 'path = "0"').replace("loop = false\n", ""))
    cfg.write_text(re.sub(r"^hold_s = .*\n", "", cfg.read_text(), flags=re.M))  # an images-only key
    proc = subprocess.run([sys.executable, "-m", "edgecam", "run", "--config", str(cfg)], capture_output=True,
                          text=True, cwd=str(REPO), timeout=300)
    assert proc.returncode == 2, proc.stderr
    failed = [line for line in proc.stderr.splitlines() if "failed: " in line]
    assert len(failed) == 1 and MISSING_PICAMERA2 in failed[0], proc.stderr
    assert "reopening" not in proc.stderr  # not retried
