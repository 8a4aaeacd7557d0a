"""``edgecam check --probe``: open the camera once and say what it delivers, or why it cannot, in one line."""

from __future__ import annotations

import os
import time

from edgecam.errors import EdgecamError, SourceError
from edgecam.redact import redact_url
from edgecam.sources.base import create_source
from edgecam.sources.settings import CameraSettings


def probe_camera(settings: CameraSettings, base_dir: str | os.PathLike | None = None) -> str:
    """``"<source name>: h264 640x360 10 fps"`` once the first frame arrived (within ``open_timeout_s``).

    Raises :class:`SourceError` with the camera's own one-line cause (FFmpeg's 404/401, no video
    stream, ...), credentials hidden."""
    source = create_source(settings, base_dir=base_dir)
    name = redact_url(getattr(source, "name", settings.source))
    deadline = time.monotonic() + settings.open_timeout_s
    try:
        source.open()
        frame = None
        while frame is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SourceError(f"{name}: opened, but no frame within open_timeout_s = {settings.open_timeout_s:g} s; "
                                  "is the camera sending video?")
            frame = source.read(min(left, 1.0))
        info = dict(getattr(source, "describe", lambda: {})())
    except EOFError:
        raise SourceError(f"{name}: no frame at all (empty source); fix [camera] path") from None
    except EdgecamError as exc:
        raise SourceError(redact_url(" ".join(str(exc).split()))) from None
    except Exception as exc:  # noqa: BLE001 - every failure is one line
        raise SourceError(redact_url(f"{name}: {type(exc).__name__}: {' '.join(str(exc).split())}")) from None
    finally:
        try:
            source.close()
        except Exception:  # noqa: BLE001
            pass
    width, height = info.get("width") or frame.width, info.get("height") or frame.height
    codec = info.get("codec") or settings.source
    fps = info.get("fps")
    return f"{name}: {codec} {width}x{height}" + (f" {fps:g} fps" if fps else "")
