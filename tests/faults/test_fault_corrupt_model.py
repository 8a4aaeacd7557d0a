"""Fault: a corrupt model at start (garbage .param, truncated .bin).

Reported: exit 2 and one line on stderr naming the file and the fix, no traceback.
Kept: nothing started, so nothing is claimed: no availability ``online``, no message at all on the
broker, no spool or state file created.
"""

from __future__ import annotations

import shutil
import time

import pytest

from daemonkit import SHARED, Daemon, write_config, write_scene

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


def _garbage(d):
    (d / "m.param").write_text("this is not an ncnn param file\n")
    (d / "m.bin").write_bytes(bytes(range(256)) * 8)
    return d / "m.param", "not an ncnn .param file"


def _truncated(d):
    shutil.copyfile(SHARED / "models" / "yolov5ss.param", d / "m.param")
    (d / "m.bin").write_bytes((SHARED / "models" / "yolov5ss.bin").read_bytes()[:200_000])
    return d / "m.bin", "truncated"


@pytest.mark.parametrize("corrupt", [_garbage, _truncated], ids=["garbage-param", "truncated-bin"])
def test_corrupt_model_is_exit_2_with_one_line_and_publishes_nothing(tmp_path, mosquitto, mqtt_recorder, corrupt):
    rec = mqtt_recorder(mosquitto, ("#",))
    models = tmp_path / "model"
    models.mkdir()
    named, what = corrupt(models)
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene"), mosquitto.port, model_path=str(models / "m.param"))
    with Daemon(cfg, tmp_path / "run") as daemon:
        assert daemon.wait(60) == 2
    lines = [line for line in daemon.stderr().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("edgecam run: ") and str(named) in lines[0] and what in lines[0]
    assert "re-download" in lines[0] or "convert" in lines[0]  # says how to fix it
    assert daemon.stdout() == ""
    time.sleep(0.5)
    assert rec.messages == []  # no availability "online" (nor anything else) was ever published
    assert not (tmp_path / "state").exists()
