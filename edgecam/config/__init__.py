"""Typed TOML configuration: ``load_config(path) -> Settings`` and ``check_config(path)``.

The configuration composes the plugins' settings models, each defined next to its plugin from the
ground-floor building blocks (``edgecam/fields.py``, ``names.py``, ``secrets.py``); nothing below
imports this package.  ``loader.py`` maps validation errors to ``FILE:LINE: [section] key: problem; fix``
and ``preflight.py`` holds the machine checks ``check`` and ``run`` share.
"""

from edgecam.config.check import check_config
from edgecam.config.loader import EXAMPLE_CONFIG, load_config, parse_config
from edgecam.config.schema import OutputSettings, Settings

__all__ = ["EXAMPLE_CONFIG", "OutputSettings", "Settings", "check_config", "load_config", "parse_config"]
