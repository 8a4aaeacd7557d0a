"""The frame-source seam: a Protocol and a registry of lazily imported implementations."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from edgecam.domain import Frame
from edgecam.plugins import load_plugin

if TYPE_CHECKING:
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


REGISTRY: dict[str, str] = {
    "images": "edgecam.sources.images:ImageFolderSource",
    "opencv": "edgecam.sources.opencv:OpenCVSource",
    "picamera2": "edgecam.sources.picamera2:PiCamera2Source",
    "stream": "edgecam.sources.stream:StreamSource",
}


def load_source_class(name: str) -> type:
    return load_plugin(REGISTRY, "source", name)


def create_source(settings: "CameraSettings", base_dir: str | os.PathLike | None = None) -> FrameSource:
    """A new, unopened source for ``[camera]``; relative paths resolve against ``base_dir``.

    Pass ``lambda: create_source(settings.camera)`` to :class:`edgecam.runtime.capture.CaptureThread`,
    which makes a fresh source on every reopen.
    """
    return load_source_class(settings.source)(settings, base_dir=base_dir)
