"""Shared fixtures: a real Mosquitto broker per test and a recording subscriber.

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
from rtspkit import rtsp_camera  # noqa: E402,F401 - the RTSP camera fixture

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# the installed package never looks beside the checkout: point the resolver (and every daemon or CLI
# subprocess a test starts) at the seed models, unless the caller already chose a directory
os.environ.setdefault("EDGECAM_MODEL_DIR", str(SHARED / "models"))
DEPLOY_MODULES = ("torch", "onnx", "onnxslim", "pnnx")


def pytest_sessionstart(session):
    """``make test`` sets EDGECAM_REQUIRE_DEPLOY=1: the deploy suite must run, never skip silently."""
    if os.environ.get("EDGECAM_REQUIRE_DEPLOY") != "1":
        return
    missing = [m for m in DEPLOY_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise pytest.UsageError(f"EDGECAM_REQUIRE_DEPLOY=1 but {', '.join(missing)} not installed: the deploy "
                                "tests would be skipped; run `make install-deploy` (deploy/requirements.txt)")


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
