"""The root settings: one field per config section, each a plugin's own settings dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from edgecam.detectors.settings import DetectorSettings
from edgecam.publishers.mqtt.settings import HomeAssistantSettings, MqttSettings
from edgecam.runtime.settings import MotionSettings, ThermalSettings
from edgecam.sources.settings import CameraSettings
from edgecam.tracking.settings import MaskSettings, TrackerSettings, ZoneSettings
from edgecam.web.settings import WebSettings


def default_state_dir() -> str:
    """``$STATE_DIRECTORY`` (systemd ``StateDirectory=``, first entry) or ``~/.local/state/edgecam``."""
    env = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return env or os.path.join(os.path.expanduser("~"), ".local", "state", "edgecam")


@dataclass(frozen=True)
class OutputSettings:
    stdout: bool = field(default=False, metadata={"help": "also print every message as a JSON line on stdout"})
    state_dir: str = field(
        default_factory=default_state_dir,
        metadata={"help": "writable directory for the event spool and state ($STATE_DIRECTORY under systemd)"},
    )
    stats_interval_s: float = field(
        default=10.0, metadata={"min": 0.0, "exclusive_min": True, "max": 3600.0, "help": "seconds between stats messages"}
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = field(default="INFO", metadata={"help": "log verbosity"})


@dataclass(frozen=True)
class Settings:
    """Everything in an ``edgecam.toml``; every section is optional and defaults to a Pi 4 + Pi camera."""

    camera: CameraSettings = field(default_factory=CameraSettings)
    model: DetectorSettings = field(default_factory=DetectorSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    homeassistant: HomeAssistantSettings = field(default_factory=HomeAssistantSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    tracking: TrackerSettings = field(default_factory=TrackerSettings)
    zones: tuple[ZoneSettings, ...] = ()
    masks: tuple[MaskSettings, ...] = ()
    thermal: ThermalSettings = field(default_factory=ThermalSettings)
    motion: MotionSettings = field(default_factory=MotionSettings)
    web: WebSettings = field(default_factory=WebSettings)

    def validate(self) -> None:
        names = [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate zone name(s) {', '.join(dupes)}; give every [[zones]] a unique name")
