"""``import libcamera`` for a daemon subprocess: the ColorSpace presets of the fake camera stack."""

from tests.sources.fake_picamera2 import ColorSpace  # noqa: F401
