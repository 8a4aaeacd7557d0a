"""Small JSON records in the state directory: written atomically, read back forgivingly.

A record that cannot be parsed (a torn write from an older version, a disk error, a hand edit) is
moved aside to ``<name>.corrupt-<UTC time>`` with one warning and treated as absent, so the daemon
starts; the bad copy is kept for inspection.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def move_aside(path: Path, why: str) -> Path | None:
    """Rename ``path`` to ``<path>.corrupt-<time>`` (warning once); the new path, or None if that failed."""
    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    try:
        os.replace(path, target)
    except OSError as exc:
        log.warning("state record %s is unusable (%s) and cannot be moved aside (%s); ignoring it", path, why, exc)
        return None
    log.warning("state record %s is unusable (%s); moved it to %s and starting without it", path, why, target.name)
    return target


def load_record(path: Path) -> dict[str, Any]:
    """The JSON object stored at ``path``; ``{}`` when missing, or when corrupt (then moved aside)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.warning("cannot read state record %s (%s); starting without it", path, exc)
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:  # also UnicodeDecodeError
        move_aside(path, f"not JSON: {exc}")
        return {}
    if not isinstance(data, dict):
        move_aside(path, f"a JSON {type(data).__name__}, not an object")
        return {}
    return data


def save_record(path: Path, data: dict[str, Any], durable: bool = True) -> bool:
    """Replace ``path`` with ``data`` as JSON atomically (temp file + rename); False (logged) on failure.

    ``durable`` fsyncs the file before the rename, so a power cut leaves the old or the new record."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"), sort_keys=True)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write state record %s (%s)", path, exc)
        return False
    return True
