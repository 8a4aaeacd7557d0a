"""Typed TOML configuration: ``load_config(path) -> Settings`` and ``check_config(path)``.

The settings models are pydantic dataclasses defined next to their plugins (built from
``config/base.py``); ``loader.py`` maps validation errors to ``FILE:LINE: [section] key: problem; fix``
and ``preflight.py`` holds the machine checks ``check`` and ``run`` share. Names are imported on first
use, so a plugin's settings module can import ``edgecam.config.base`` without a cycle.
"""

from importlib import import_module

_EXPORTS = {
    "EXAMPLE_CONFIG": "edgecam.config.loader",
    "load_config": "edgecam.config.loader",
    "parse_config": "edgecam.config.loader",
    "check_config": "edgecam.config.check",
    "OutputSettings": "edgecam.config.schema",
    "Settings": "edgecam.config.schema",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgecam.config' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
