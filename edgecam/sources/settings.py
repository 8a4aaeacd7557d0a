"""Settings of the ``[camera]`` section (CONTRACT §4): one model per source, chosen by ``source``.

Keys every source shares live in :class:`CameraSettings`; ``PiCamera2Settings``, ``OpenCVSettings`` and
``ImagesSettings`` add their own, so a picamera2-only key under ``source = "images"`` is an error.  Each is
registered with its source in ``sources/base.py`` (``SOURCES``), from which the config builds its union.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edgecam.fields import NAME_PATTERN, Bool, Float, Int, Str, resolve_path, settings
from edgecam.redact import redact_url
from edgecam.identity import default_camera_id
from edgecam.limits import MAX_PIXELS_DEFAULT, MAX_PIXELS_LIMIT, MAX_PIXELS_MIN

PICAMERA2_MAIN_SIZE = (1280, 720)
DEFAULT_HOLD_S = 2.0  # images source looping: each photo is seen ~10 frames at 5 fps, so its objects confirm
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@settings
class CameraSettings:
    """The keys of every source; each source's model (``source`` names it) adds its own."""

    id: Str = Field(default_factory=default_camera_id, pattern=NAME_PATTERN, max_length=64,
                    description="camera id used in MQTT topics (default: this machine's host name as an id)")
    source: Str = "picamera2"
    path: Str = Field(default="", max_length=4096, description="what to open; its meaning depends on source")
    fps: Float = Field(default=5.0, ge=0.1, le=1000.0, description="target frame rate (files may play faster than a camera)")
    stall_timeout_s: Float = Field(default=5.0, ge=0.1, le=3600.0, description="no frame for this long: reopen the source")
    open_timeout_s: Float = Field(default=20.0, ge=0.1, le=3600.0, description="opening (probing a stream, RTSP) may take this long")
    max_pixels: Int = Field(default=MAX_PIXELS_DEFAULT, ge=MAX_PIXELS_MIN, le=MAX_PIXELS_LIMIT,
                            description="refuse images and frames above this many pixels (image files: read from the header before decoding)")
    reconnect_initial_s: Float = Field(default=0.5, ge=0.0, le=3600.0,
                                       description="wait before the second reopen (the first is at once), doubling")
    reconnect_max_s: Float = Field(default=5.0, ge=0.0, le=3600.0, description="cap of the doubling reopen wait")

    @model_validator(mode="after")
    def _reconnect_order(self) -> "CameraSettings":
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_initial_s ({self.reconnect_initial_s})"
            )
        return self

    def frame_size_hint(self) -> tuple[int, int]:
        """A plausible (width, height) of the frames detection will see (for the model warm-up)."""
        return 640, 480

    def decodes_in_process(self) -> bool:
        """True when this source decodes video/images on the CPU in this process (``threads = "auto"``)."""
        return True


@settings
class PiCamera2Settings(CameraSettings):
    source: Literal["picamera2"] = "picamera2"
    path: Str = Field(default="", max_length=16, description="camera number (0, 1, ...; empty: 0)")
    width: Int = Field(default=0, ge=0, le=8192, description="main stream width; 0: 1280")
    height: Int = Field(default=0, ge=0, le=8192, description="main stream height; 0: 720")
    lores_width: Int = Field(default=640, ge=64, le=4096, description="width of the stream detection runs on")
    lores_height: Int = Field(default=360, ge=64, le=4096, description="height of the stream detection runs on")
    format: Literal["YUV420", "RGB888", "BGR888"] = Field(
        default="YUV420", description="lores format: YUV420 (Pi 4, converted with OpenCV) or RGB888/BGR888 (Pi 5)"
    )

    @field_validator("path")
    @classmethod
    def _camera_number(cls, value: str) -> str:
        if value.strip() and not value.strip().isdigit():
            raise ValueError(f'path for source = "picamera2" is the camera number (0, 1, ...), got {value!r}')
        return value

    @model_validator(mode="after")
    def _sizes(self) -> "PiCamera2Settings":
        if bool(self.width) != bool(self.height):
            raise ValueError(f"width and height go together (got {self.width}x{self.height}); set both or neither")
        main_w, main_h = (self.width, self.height) if self.width else PICAMERA2_MAIN_SIZE
        if self.lores_width > main_w or self.lores_height > main_h:
            raise ValueError(
                f"lores_width x lores_height ({self.lores_width}x{self.lores_height}) must not exceed the main stream "
                f"({main_w}x{main_h}); lower lores_* or raise width/height"
            )
        return self

    def frame_size_hint(self) -> tuple[int, int]:
        return self.lores_width, self.lores_height

    def decodes_in_process(self) -> bool:
        return False  # the ISP delivers YUV


def _required_path(value: str, what: str, source: str) -> str:
    if not value.strip():
        raise ValueError(f'path is required for source = "{source}"; set it to {what}')
    if "\x00" in value:
        raise ValueError("path contains a NUL byte; fix the path")
    return value


def is_file_target(path: str) -> bool:
    """True when an opencv ``path`` names a file (not an index, a URL or a /dev device)."""
    text = path.strip()
    return not (text.isdigit() or _URL.match(text) or text.startswith("/dev/"))


@settings
class OpenCVSettings(CameraSettings):
    source: Literal["opencv"] = "opencv"
    path: Str = Field(default="", max_length=4096, description="/dev/videoN, an index, an RTSP/HTTP URL or a video file")
    loop: Bool = Field(default=True, description="video file: start again at the end (false: stop)")
    width: Int = Field(default=0, ge=0, le=8192, description="requested capture width; 0: the device's default")
    height: Int = Field(default=0, ge=0, le=8192, description="requested capture height; 0: the device's default")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        _required_path(value, "/dev/videoN, an index, a URL or a video file", "opencv")
        return resolve_path(value, info) if is_file_target(value) else value

    @model_validator(mode="after")
    def _sizes(self) -> "OpenCVSettings":
        _required_path(self.path, "/dev/videoN, an index, a URL or a video file", "opencv")
        if bool(self.width) != bool(self.height):
            raise ValueError(f"width and height go together (got {self.width}x{self.height}); set both or neither")
        return self

    def frame_size_hint(self) -> tuple[int, int]:
        return self.width or 640, self.height or 480


@settings
class ImagesSettings(CameraSettings):
    source: Literal["images"] = "images"
    path: Str = Field(default="", max_length=4096, description="an image file, a directory or a glob")
    loop: Bool = Field(default=True, description="start again after the last image (false: play them once)")
    hold_s: Float | None = Field(default=None, ge=0.0, le=3600.0,
                                 description="seconds each photo is shown, like a camera looking at it "
                                             "(default: 2 when looping, 0 = one frame each when played once)")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(_required_path(value, "an image file, directory or glob", "images"), info)

    @property
    def hold_seconds(self) -> float:
        """The effective hold: ``hold_s``, else 2 s when looping (a camera) and 0 when played once (a batch)."""
        return self.hold_s if self.hold_s is not None else (DEFAULT_HOLD_S if self.loop else 0.0)

    @model_validator(mode="after")
    def _path_set(self) -> "ImagesSettings":
        _required_path(self.path, "an image file, directory or glob", "images")
        return self


STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


@settings
class StreamSettings(CameraSettings):
    """A network camera decoded by FFmpeg through PyAV (``sources/stream.py``)."""

    source: Literal["stream"] = "stream"
    path: Str = Field(default="", max_length=4096, description="the camera's URL: rtsp://, rtsps://, http:// or https://")
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport: tcp (reliable) or udp")
    read_timeout_s: Float = Field(default=5.0, ge=0.1, le=3600.0,
                                  description="a read that gets no data for this long fails (and the camera is reopened)")

    @field_validator("path")
    @classmethod
    def _url(cls, value: str) -> str:
        _required_path(value, "the camera's rtsp:// or http:// URL", "stream")
        scheme = value.strip().split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in STREAM_SCHEMES:
            raise ValueError(f"path for source = \"stream\" must be a URL starting with "
                             f"{', '.join(s + '://' for s in STREAM_SCHEMES)}; got {redact_url(value)!r}")
        return value.strip()

    @model_validator(mode="after")
    def _path_set(self) -> "StreamSettings":
        _required_path(self.path, "the camera's rtsp:// or http:// URL", "stream")
        return self
