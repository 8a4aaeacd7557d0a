"""picamera2/platform.py: ``Platform.VC4`` (Pi 4 and older) or ``PISP`` (Pi 5), here from EDGECAM_FAKE_PI."""

import os
from enum import Enum


class Platform(Enum):
    VC4 = 0
    PISP = 1


def get_platform() -> Platform:
    return Platform.PISP if os.environ.get("EDGECAM_FAKE_PI", "vc4") == "pisp" else Platform.VC4
