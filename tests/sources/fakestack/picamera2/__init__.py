"""``import picamera2`` for a daemon subprocess (this directory first on its PYTHONPATH): the fake camera of
tests/sources/fake_picamera2.py, one system per process, set up from the environment:

``EDGECAM_FAKE_PI``     ``vc4`` (Pi 4, the default) or ``pisp`` (Pi 5)
``EDGECAM_FAKE_FPS``    frames per second the sensor delivers (default 10)
``EDGECAM_FAKE_SCENE``  ``path*frames,path*frames,...``: images shown in turn, each for that many frames
"""

from __future__ import annotations

import os

import cv2

from tests.sources.fake_picamera2 import FakeCameraSystem


def _scene(text: str) -> tuple[list | None, list]:
    if not text:
        return None, [1]
    images, holds = [], []
    for part in text.split(","):
        path, _, count = part.rpartition("*")
        image = cv2.imread(path)
        if image is None:
            raise RuntimeError(f"EDGECAM_FAKE_SCENE: cannot read {path}")
        images.append(image[:, :, ::-1])  # RGB
        holds.append(int(count))
    return images, holds


_scene_images, _hold = _scene(os.environ.get("EDGECAM_FAKE_SCENE", ""))
system = FakeCameraSystem(platform=os.environ.get("EDGECAM_FAKE_PI", "vc4"),
                          fps=float(os.environ.get("EDGECAM_FAKE_FPS", "10")), scene=_scene_images, hold=_hold)
Picamera2 = system.stack.Picamera2
