"""The publisher seam: a Protocol and the registry of publishers (kind, config sections, implementation)."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

from edgecam.domain import FrameUpdate
from edgecam.plugins import Plugin, Registry


@runtime_checkable
class Publisher(Protocol):
    """Receives what the pipeline produces. No method may block the inference thread for long."""

    def start(self) -> None:
        """Open connections / threads. Called once, before the first frame."""

    def publish(self, update: FrameUpdate) -> None:
        """One processed frame: detections, events, counts, snapshot material."""

    def publish_stats(self, stats: Mapping[str, Any]) -> None:
        """Periodic health statistics (CONTRACT §6 ``stats``)."""

    def close(self) -> None:
        """Flush everything owed, announce ``offline`` where applicable, release resources."""


# Every publisher whose ``switch`` is on is built, in this order, as
# ``from_settings(*<its sections>, context)`` (``publishers/context.py``); modules are imported only when the publisher is on.
PUBLISHERS = Registry(
    "publisher",
    Plugin("stdout", "edgecam.publishers.stdout:StdoutPublisher", sections=("output",), switch="output.stdout"),
    Plugin("mqtt", "edgecam.publishers.mqtt.publisher:MqttPublisher", "edgecam.publishers.mqtt.settings:MqttSettings",
           sections=("mqtt", "homeassistant"), switch="mqtt.enabled"),
    Plugin("events", "edgecam.events.recorder:EventRecorder", "edgecam.events.settings:EventsSettings",
           sections=("events", "web", "camera"), switch="events.enabled"),
    Plugin("web", "edgecam.web.publisher:WebPublisher", "edgecam.web.settings:WebSettings",
           sections=("web",), switch="web.enabled"),
)


def load_publisher_class(kind: str) -> type:
    return PUBLISHERS.load(kind)