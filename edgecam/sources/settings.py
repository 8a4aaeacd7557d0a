"""Settings of the ``[camera]`` config section (CONTRACT §4). Extend freely, keep the contract keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edgecam.limits import MAX_PIXELS_DEFAULT, MAX_PIXELS_LIMIT, MAX_PIXELS_MIN


@dataclass(frozen=True)
class CameraSettings:
    id: str = field(default="camera", metadata={"help": "camera id used in MQTT topics", "pattern": r"^[A-Za-z0-9_-]+$"})
    source: Literal["picamera2", "opencv", "images"] = "picamera2"
    path: str = field(
        default="",
        metadata={
            "help": "images: file/dir/glob; opencv: /dev/videoN, index, URL or video file; picamera2: camera number"
        },
    )
    fps: float = field(default=5.0, metadata={"min": 0.1, "max": 120.0, "help": "target frame rate"})
    loop: bool = field(default=True, metadata={"help": "images / video file: start again at the end (false: stop)"})
    width: int = field(
        default=0, metadata={"min": 0, "max": 8192, "help": "capture width; 0: source default (picamera2 main: 1280)"}
    )
    height: int = field(
        default=0, metadata={"min": 0, "max": 8192, "help": "capture height; 0: source default (picamera2 main: 720)"}
    )
    lores_width: int = field(
        default=640, metadata={"min": 64, "max": 4096, "help": "picamera2: width of the stream detection runs on"}
    )
    lores_height: int = field(
        default=360, metadata={"min": 64, "max": 4096, "help": "picamera2: height of the stream detection runs on"}
    )
    format: Literal["YUV420", "RGB888", "BGR888"] = field(
        default="YUV420",
        metadata={"help": "picamera2 lores format: YUV420 (Pi 4, converted with OpenCV) or RGB888/BGR888 (Pi 5)"},
    )
    max_pixels: int = field(
        default=MAX_PIXELS_DEFAULT,
        metadata={
            "min": MAX_PIXELS_MIN, "max": MAX_PIXELS_LIMIT,
            "help": "refuse images and frames above this many pixels (image files: read from the header before decoding)",
        },
    )
    stall_timeout_s: float = field(
        default=5.0, metadata={"min": 0.1, "max": 3600.0, "help": "no frame for this long: reopen the source"}
    )
    open_timeout_s: float = field(
        default=20.0, metadata={"min": 0.1, "max": 3600.0, "help": "opening (probing a stream, RTSP) may take this long"}
    )
    reconnect_initial_s: float = field(
        default=0.5, metadata={"min": 0.0, "max": 3600.0, "help": "first wait before reopening a failed source"}
    )
    reconnect_max_s: float = field(
        default=30.0, metadata={"min": 0.0, "max": 3600.0, "help": "cap of the doubling reopen wait"}
    )

    def validate(self) -> None:
        if self.source in ("images", "opencv") and not self.path.strip():
            what = "an image file, directory or glob" if self.source == "images" else "/dev/videoN, an index, a URL or a video file"
            raise ValueError(f"path is required for source = \"{self.source}\": set it to {what}")
        if self.source == "picamera2" and self.path.strip() and not self.path.strip().isdigit():
            raise ValueError(f"path for source = \"picamera2\" is the camera number (0, 1, ...), got {self.path!r}")
        if bool(self.width) != bool(self.height):
            raise ValueError(f"width and height go together (got {self.width}x{self.height}); set both or neither")
        main_w, main_h = (self.width, self.height) if self.width else (1280, 720)
        if self.source == "picamera2" and (self.lores_width > main_w or self.lores_height > main_h):
            raise ValueError(
                f"lores_width x lores_height ({self.lores_width}x{self.lores_height}) must not exceed the main stream "
                f"({main_w}x{main_h}); lower lores_* or raise width/height"
            )
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_initial_s ({self.reconnect_initial_s})"
            )
