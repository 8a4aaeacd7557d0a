"""Typed TOML configuration: ``load_config(path) -> Settings`` and ``check_config(path)``.

The loader walks each plugin's settings dataclass generically (see ``validate.py``).
"""

from edgecam.config.loader import EXAMPLE_CONFIG, check_config, load_config, parse_config
from edgecam.config.schema import OutputSettings, Settings

__all__ = ["EXAMPLE_CONFIG", "OutputSettings", "Settings", "check_config", "load_config", "parse_config"]
