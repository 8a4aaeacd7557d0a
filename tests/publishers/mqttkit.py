"""Helpers shared by the MQTT publisher tests (a publisher on a real broker, events, id bookkeeping)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from broker import Mosquitto
from edgecam.controls import Controls
from edgecam.domain import Detections, Event, Frame, FrameUpdate
from edgecam.publishers.mqtt.publisher import MqttPublisher
from edgecam.publishers.mqtt.settings import HomeAssistantSettings, MqttSettings

REPO = Path(__file__).resolve().parents[2]
CAM = "testcam"
EVENTS = f"edgecam/{CAM}/events"


def _settings(broker: Mosquitto, **kw) -> MqttSettings:
    base = dict(port=broker.port, reconnect_min_s=0.2, reconnect_max_s=1.0, close_timeout_s=5.0)
    base.update(kw)
    return MqttSettings(**base)


def _publisher(broker, state_dir, controls=None, ha=None, **kw) -> MqttPublisher:
    labels = kw.pop("labels", ("person", "dog", "horse"))
    return MqttPublisher(_settings(broker, **kw), ha or HomeAssistantSettings(), CAM, controls or Controls(),
                         state_dir, labels=labels)


def _event(i: int, kind: str = "new") -> Event:
    return Event(kind, f"{CAM}-{i}", "person", 0.8, 0.9, (1.0, 2.0, 3.0, 4.0), 1000.0 + i)


def _event_update(i: int) -> FrameUpdate:
    frame = Frame(np.zeros((8, 8, 3), np.uint8), i, 1000.0 + i)
    return FrameUpdate(CAM, frame, None, Detections.empty(), events=(_event(i),))


def _ids(messages) -> list[str]:
    return [json.loads(m.payload)["id"] for m in messages]


def _publisher_ids(messages) -> list[str]:
    """Event ids as the publisher sent them.  A restarted (persistent) broker re-delivers, with the DUP
    flag, what it had in flight to the subscriber; such a repeat is the broker→subscriber leg and is
    skipped.  A repeat without DUP would be a new PUBLISH, i.e. a duplicate by the publisher: kept."""
    seen: set[str] = set()
    out = []
    for m in messages:
        i = json.loads(m.payload)["id"]
        if m.dup and i in seen:
            continue
        seen.add(i)
        out.append(i)
    return out


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive increasing numbers, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for x in numbers:
        if runs and x == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], x)
        else:
            runs.append((x, x))
    return runs
