"""Controls set at run time are stored and restored (issue #24); unit level, real files."""

from __future__ import annotations

import json

from edgecam.controls import Controls
from edgecam.runtime.controlstore import FILENAME, ControlStore, override_notes, stored_controls


def test_changes_are_stored_and_restored_over_the_config(tmp_path):
    first = Controls(conf=0.45)
    ControlStore(tmp_path).restore(first)
    assert not (tmp_path / FILENAME).exists()  # nothing set: the config rules
    first.set_conf(0.3)  # as the MQTT router or the live view does
    first.set_detection_enabled(False)
    stored = json.loads((tmp_path / FILENAME).read_text())
    assert stored["conf"] == 0.3 and stored["detection"] is False and stored["set_at"].endswith("Z")

    second = Controls(conf=0.45)
    echoed = []
    second.subscribe(lambda name, value: echoed.append((name, value)))
    ControlStore(tmp_path).restore(second)
    assert second.conf == 0.3 and second.detection_enabled is False
    assert ("conf", 0.3) in echoed  # listeners (the MQTT state echo) hear the restored values


def test_check_notes_name_the_override_and_the_file(tmp_path):
    assert override_notes(tmp_path, 0.45) == []
    controls = Controls(conf=0.45)
    ControlStore(tmp_path).restore(controls)
    controls.set_conf(0.3)
    notes = override_notes(tmp_path, 0.45)
    assert len(notes) == 1 and "confidence 0.3" in notes[0] and "[model] conf = 0.45" in notes[0]
    assert str(tmp_path / FILENAME) in notes[0]
    assert override_notes(tmp_path, 0.3) == []  # the config says the same: nothing overrides it
    controls.set_detection_enabled(False)
    assert any("detection was switched OFF" in n for n in override_notes(tmp_path, 0.3))


def test_invalid_or_corrupt_stored_values_are_ignored(tmp_path, caplog):
    (tmp_path / FILENAME).write_text(json.dumps({"conf": 7, "detection": "yes"}))
    controls = Controls(conf=0.45)
    ControlStore(tmp_path).restore(controls)
    assert controls.conf == 0.45 and controls.detection_enabled is True
    assert "out of range" in caplog.text and "not true/false" in caplog.text
    (tmp_path / FILENAME).write_text("{torn")
    assert stored_controls(tmp_path, read_only=True) == {} and (tmp_path / FILENAME).exists()  # check moves nothing
    assert stored_controls(tmp_path) == {} and not (tmp_path / FILENAME).exists()  # the daemon moves it aside
