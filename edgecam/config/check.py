"""``edgecam check``: validate a config like ``run`` does and summarise it, secrets hidden."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from edgecam.config.loader import load_checked
from edgecam.redact import redact_url
from edgecam.config.schema import Settings

_ALWAYS_SHOWN = {
    "camera": ("id", "source", "path", "fps"),
    "model": ("path", "size", "threads", "conf"),
    "mqtt": ("enabled", "host", "port", "prefix"),
    "homeassistant": ("discovery", "prefix"),
    "output": ("stdout", "state_dir"),
}


def check_config(path: str | os.PathLike) -> list[str]:
    """Validate ``path`` (everything ``run`` checks) and return summary lines; raises ConfigError if invalid."""
    settings, warnings = load_checked(path)
    return [f"{os.fspath(path)}: OK"] + summarize(settings) + notes(settings) + warnings


def notes(settings: Settings) -> list[str]:
    """Where a value the daemon uses does not come from the config file itself."""
    from edgecam.identity import default_camera_id, host_name

    from edgecam.runtime.controlstore import override_notes
    from edgecam.runtime.statedir import camera_state_dir

    out = override_notes(camera_state_dir(Path(settings.output.state_dir), settings.camera.id), settings.model.conf)
    from edgecam.names import slug

    if slug(settings.camera.id) != settings.camera.id:
        out.append(f"note: camera id {settings.camera.id!r} is {slug(settings.camera.id)!r} in Home Assistant and the "
                   "state directory: a daemon elsewhere whose id spells the same way is the same camera")
    if settings.camera.id == default_camera_id():
        out.append(f"note: camera id {settings.camera.id!r} comes from this host's name {host_name()!r}; "
                   "set [camera] id to choose another")
    return out


def _default(cls: Any, name: str) -> Any:
    field = cls.__pydantic_fields__[name]
    return field.get_default(call_default_factory=True)


def _shown(value: Any) -> str:
    return repr(redact_url(value)) if isinstance(value, str) else repr(value)


def summarize(settings: Settings) -> list[str]:
    """One line per section: the contract keys plus every value that differs from its default."""
    out: list[str] = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, tuple):
            names = [getattr(v, "name", "") for v in value]
            listed = f" ({', '.join(n for n in names if n)})" if any(names) else ""
            out.append(f"[[{f.name}]] {len(value)} defined{listed}")
            continue
        shown = []
        for sub in dataclasses.fields(value):
            v = getattr(value, sub.name)
            if sub.name in _ALWAYS_SHOWN.get(f.name, ()) or v != _default(type(value), sub.name):
                shown.append(f"{sub.name}={_shown(v)}")
        out.append(f"[{f.name}] " + (" ".join(shown) if shown else "(defaults)"))
    return out
