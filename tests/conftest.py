"""Shared fixtures: the shared data, the real detector, a real Mosquitto broker per test and a recording subscriber.

``shared_dir``     ../shared (models, images, COCO128; read-only); module-level paths are in ``sharedkit.py``
``horse``          horse.jpg (person, dog, horse) as cv2 reads it: BGR uint8, read-only (copy to change it)
``detector``       the real yolov5ss ncnn detector at 640 with 2 threads, built once per session
``mosquitto``      a started broker (anonymous, plain TCP) on a free 127.0.0.1 port; ``.stop()`` /
                   ``.start()`` restart it on the same port (outage tests).
``mqtt_recorder``  a factory: ``mqtt_recorder(broker, topics=("#",), ...)`` → ``MqttRecorder``
                   (``wait_for(topic, predicate, timeout)``, ``on(topic)``, ``publish(...)``); all are
                   closed after the test.
If mosquitto is not installed the fixtures fail with the apt command to install it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import Mosquitto, MqttRecorder  # noqa: E402
from sharedkit import HORSE, MODELS, SHARED  # noqa: E402
from rtspkit import rtsp_camera  # noqa: E402,F401 - the RTSP camera fixture

# the installed package never looks beside the checkout: point the resolver (and every daemon or CLI
# subprocess a test starts) at the seed models, unless the caller already chose a directory
os.environ.setdefault("EDGECAM_MODEL_DIR", str(MODELS))
DEPLOY_MODULES = ("torch", "onnx", "onnxslim", "pnnx")


def pytest_sessionstart(session):
    """``make test`` sets EDGECAM_REQUIRE_DEPLOY=1: the deploy suite must run, never skip silently."""
    if os.environ.get("EDGECAM_REQUIRE_DEPLOY") != "1":
        return
    missing = [m for m in DEPLOY_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise pytest.UsageError(f"EDGECAM_REQUIRE_DEPLOY=1 but {', '.join(missing)} not installed: the deploy "
                                "tests would be skipped; run `make install-deploy` (deploy/requirements.txt)")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def horse():
    import cv2

    image = cv2.imread(str(HORSE))
    assert image is not None, f"missing test image {HORSE}"
    image.flags.writeable = False
    return image


@pytest.fixture(scope="session")
def detector():
    from edgecam.detectors.ncnn_detector import NcnnDetector
    from edgecam.detectors.settings import DetectorSettings

    det = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=640, threads=2))
    yield det
    det.close()


@pytest.fixture
def mosquitto(tmp_path_factory):
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mqtt_recorder():
    made: list[MqttRecorder] = []

    def make(broker: Mosquitto, topics=("#",), **kwargs) -> MqttRecorder:
        rec = MqttRecorder(broker, topics, **kwargs)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.close()
