"""The root settings: one field per config section, each a plugin's own settings model."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator

from edgecam.config.plugins import DETECTORS, SOURCES, AnyCameraSettings, AnyDetectorSettings, default_model
from edgecam.events.settings import EventsSettings
from edgecam.fields import Bool, ConfigPath, Float, settings
from edgecam.names import unique_names
from edgecam.publishers.mqtt.settings import HomeAssistantSettings, MqttSettings
from edgecam.runtime.settings import MotionSettings, ThermalSettings
from edgecam.tracking.filters import FilterSettings
from edgecam.tracking.settings import MaskSettings, TrackerSettings, ZoneSettings
from edgecam.web.settings import WebSettings

MAX_ZONES = 100


def default_state_dir() -> str:
    """``$STATE_DIRECTORY`` (systemd ``StateDirectory=``, first entry) or ``~/.local/state/edgecam``."""
    env = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return env or os.path.join(os.path.expanduser("~"), ".local", "state", "edgecam")


@settings
class OutputSettings:
    stdout: Bool = Field(default=False, description="also print every message as a JSON line on stdout")
    state_dir: ConfigPath = Field(
        default_factory=default_state_dir, min_length=1, max_length=4096,
        description="writable base directory for the event spool and state, kept per camera in <state_dir>/<camera id>/ under a lock ($STATE_DIRECTORY under systemd)",
    )
    stats_interval_s: Float = Field(default=10.0, gt=0.0, le=3600.0, description="seconds between stats messages")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="log verbosity")


@settings
class Settings:
    """Everything in an ``edgecam.toml``; every section is optional and defaults to a Pi 4 + Pi camera."""

    camera: AnyCameraSettings = Field(default_factory=default_model(SOURCES))
    model: AnyDetectorSettings = Field(default_factory=default_model(DETECTORS))
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    homeassistant: HomeAssistantSettings = Field(default_factory=HomeAssistantSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    tracking: TrackerSettings = Field(default_factory=TrackerSettings)
    filters: FilterSettings = Field(default_factory=FilterSettings)
    zones: tuple[ZoneSettings, ...] = Field(default=(), max_length=MAX_ZONES)
    masks: tuple[MaskSettings, ...] = Field(default=(), max_length=MAX_ZONES)
    thermal: ThermalSettings = Field(default_factory=ThermalSettings)
    motion: MotionSettings = Field(default_factory=MotionSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)

    @field_validator("zones")
    @classmethod
    def _zone_names(cls, zones: tuple[ZoneSettings, ...]) -> tuple[ZoneSettings, ...]:
        try:
            unique_names((z.name for z in zones), "zone")
        except ValueError as exc:
            raise ValueError(f"{exc} (give every [[zones]] a unique name)") from None
        return zones
