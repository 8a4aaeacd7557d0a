"""Settings of the ``[camera]`` config section (CONTRACT §4). Extend freely, keep the contract keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class CameraSettings:
    id: str = field(default="camera", metadata={"help": "camera id used in MQTT topics", "pattern": r"^[A-Za-z0-9_-]+$"})
    source: Literal["picamera2", "opencv", "images"] = "picamera2"
    path: str = field(default="", metadata={"help": "images: file/dir/glob; opencv: device, index or URL"})
    fps: float = field(default=5.0, metadata={"min": 0.1, "max": 120.0, "help": "target frame rate"})
