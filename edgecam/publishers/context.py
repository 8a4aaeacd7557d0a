"""What the app hands every publisher besides its own config sections (``from_settings(..., context)``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgecam.controls import Controls
from edgecam.latency import LatencyWindow
from edgecam.tracking.settings import MaskSettings, ZoneSettings


@dataclass(frozen=True)
class PublisherContext:
    """What a publisher may need beyond its own config sections; the app builds it once."""

    camera_id: str
    controls: Controls  # the live controls that commands (MQTT, the live view) change
    class_names: tuple[str, ...] = ()  # the model's classes
    labels: tuple[str, ...] = ()  # the labels the config restricts tracking or detection to (empty: all)
    zones: tuple[ZoneSettings, ...] = ()
    masks: tuple[MaskSettings, ...] = ()
    state_dir: Path | None = None  # the camera's (locked) state directory
    parse_config: Callable[..., Any] | None = None  # ``parse_config(text, filename=...)``: the config's validation
    latency: LatencyWindow | None = None  # capture → publish; the MQTT publisher records it at each feed publish
