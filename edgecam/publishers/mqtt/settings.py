"""Settings of the ``[mqtt]`` and ``[homeassistant]`` config sections (CONTRACT §4)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MqttSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = field(default=1883, metadata={"min": 1, "max": 65535})
    prefix: str = field(default="edgecam", metadata={"help": "topic prefix"})


@dataclass(frozen=True)
class HomeAssistantSettings:
    discovery: bool = True
    prefix: str = "homeassistant"
