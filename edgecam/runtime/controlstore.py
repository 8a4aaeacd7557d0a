"""Controls changed at run time (over MQTT or in the live view) survive a restart.

Every accepted change of :class:`~edgecam.controls.Controls` is written to
``<state dir>/<camera>/controls.json`` (atomic, fsynced: a power cut leaves the old or the new file),
and read back at start, where it overrides the config: the config stays the default a camera starts
from when nothing was ever set (or the file is deleted).  ``edgecam check`` says when a stored value
overrides the config.  A stored value that is no longer valid (hand-edited, or a narrower range in a
newer version) is ignored with one warning.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from edgecam.confidence import conf_problem, normalise_conf
from edgecam.records import load_record, save_record
from edgecam.controls import Controls

log = logging.getLogger(__name__)

FILENAME = "controls.json"


def _read_only(path: Path) -> dict:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stored_controls(state_dir: Path, read_only: bool = False) -> dict[str, object]:
    """The valid stored values (``conf``: float, ``detection``: bool, ``set_at``: text), each optional.

    ``read_only`` (for ``check``) leaves a corrupt file where it is instead of moving it aside."""
    path = Path(state_dir) / FILENAME
    record = _read_only(path) if read_only else load_record(path)
    out: dict[str, object] = {}
    conf = record.get("conf")
    if conf is not None:
        problem = conf_problem(conf)
        if problem is None:
            out["conf"] = normalise_conf(conf)
        else:
            log.warning("%s: stored confidence %s; using the config's [model] conf", path, problem)
    detection = record.get("detection")
    if detection is not None:
        if isinstance(detection, bool):
            out["detection"] = detection
        else:
            log.warning("%s: stored detection %r is not true/false; detection stays on", path, detection)
    if isinstance(record.get("set_at"), str):
        out["set_at"] = record["set_at"]
    return out


class ControlStore:
    """Restores stored controls into a :class:`Controls` and stores every later change."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILENAME
        self._values: dict[str, object] = {}

    def restore(self, controls: Controls) -> None:
        """Apply the stored values (before anything listens), then keep storing changes."""
        stored = stored_controls(self.path.parent)
        self._values = {k: v for k, v in stored.items() if k in ("conf", "detection")}
        if "conf" in stored and stored["conf"] != controls.conf:
            log.info("confidence %s restored from %s (the config says %s)", stored["conf"], self.path, controls.conf)
            controls.set_conf(float(stored["conf"]))  # type: ignore[arg-type]
        if "detection" in stored and stored["detection"] != controls.detection_enabled:
            log.info("detection %s restored from %s", "on" if stored["detection"] else "OFF", self.path)
            controls.set_detection_enabled(bool(stored["detection"]))
        controls.subscribe(self._changed)

    def _changed(self, name: str, value: object) -> None:
        key = {"conf": "conf", "detection": "detection"}.get(name)
        if key is None or self._values.get(key) == value:
            return
        self._values[key] = value
        save_record(self.path, {**self._values, "set_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def override_notes(state_dir: Path, config_conf: float) -> list[str]:
    """``check``'s lines for stored values that override the config."""
    stored = stored_controls(state_dir, read_only=True)
    path = Path(state_dir) / FILENAME
    when = f" on {stored['set_at']}" if "set_at" in stored else ""
    out = []
    if "conf" in stored and stored["conf"] != normalise_conf(config_conf):
        out.append(f"note: confidence {stored['conf']} set over MQTT or the live view{when} overrides [model] conf = "
                   f"{config_conf} (stored in {path}; set it again there, or delete the file to use the config)")
    if stored.get("detection") is False:
        out.append(f"note: detection was switched OFF over MQTT or the live view{when} and stays off at start "
                   f"(stored in {path}; switch it on there, or delete the file)")
    return out
