"""Shared fixtures: a real Mosquitto broker per test and a recording subscriber.

``mosquitto``      a started broker (anonymous, plain TCP) on a free 127.0.0.1 port; ``.stop()`` /
                   ``.start()`` restart it on the same port (outage tests).
``mqtt_recorder``  a factory: ``mqtt_recorder(broker, topics=("#",), ...)`` → ``MqttRecorder``
                   (``wait_for(topic, predicate, timeout)``, ``on(topic)``, ``publish(...)``); all are
                   closed after the test.
If mosquitto is not installed the fixtures fail with the apt command to install it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import Mosquitto, MqttRecorder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


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
