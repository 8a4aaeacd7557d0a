"""picamera2.encoders: ``H264Encoder`` is the hardware (V4L2) encoder on VC4; the fake one in both cases."""

from tests.sources.fake_picamera2_encoder import H264Encoder  # noqa: F401
