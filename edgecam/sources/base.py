"""The frame-source seam: a Protocol and the registry of sources (kind, settings model, implementation)."""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from edgecam.domain import Frame
from edgecam.plugins import Plugin, Registry
from edgecam.sources.settings import CameraSettings


@runtime_checkable
class FrameSource(Protocol):
    """A camera-like producer of frames. Implementations are used from one capture thread.

    Optional attribute ``live`` (default True): True for cameras and streams, which the capture
    thread reads as fast as they deliver (keeping the freshest frame); False for files, whose
    reads the capture thread paces at the configured fps.
    """

    name: str

    def open(self) -> None:
        """Acquire the device / stream. Raises ``SourceError`` with a clear message on failure."""

    def read(self, timeout: float) -> Frame | None:
        """Block up to ``timeout`` s for the next frame; None on timeout.

        Raises ``SourceError`` when the source has failed (the caller reopens with backoff) and
        ``EOFError`` when a finite source (images played once, a video file) is exhausted.
        """

    def close(self) -> None:
        """Release the device. Safe to call twice."""


# ``[camera] source`` selects one; the first is the default.  Each settings model has ``source: Literal[kind]``.
SOURCES = Registry(
    "source",
    Plugin("picamera2", "edgecam.sources.picamera2:PiCamera2Source", "edgecam.sources.settings:PiCamera2Settings"),
    Plugin("opencv", "edgecam.sources.opencv:OpenCVSource", "edgecam.sources.settings:OpenCVSettings"),
    Plugin("images", "edgecam.sources.images:ImageFolderSource", "edgecam.sources.settings:ImagesSettings"),
    Plugin("stream", "edgecam.sources.stream:StreamSource", "edgecam.sources.settings:StreamSettings"),
)


def load_source_class(kind: str) -> type:
    return SOURCES.load(kind)


def create_source(settings: CameraSettings, base_dir: str | os.PathLike | None = None) -> FrameSource:
    """A new, unopened source for ``[camera]``; relative paths resolve against ``base_dir``.

    Pass ``lambda: create_source(settings.camera)`` to :class:`edgecam.runtime.capture.CaptureThread`,
    which makes a fresh source on every reopen.
    """
    return load_source_class(settings.source).from_settings(settings, base_dir=base_dir)
