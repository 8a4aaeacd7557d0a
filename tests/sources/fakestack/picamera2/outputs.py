"""picamera2.outputs: the ``Output`` base class encoders accept."""

from tests.sources.fake_picamera2_encoder import Output  # noqa: F401
