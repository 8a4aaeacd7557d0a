"""The publisher seam: a Protocol and a registry of lazily imported implementations."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

from edgecam.domain import FrameUpdate
from edgecam.plugins import load_plugin


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


# name -> "module:Class"; modules are imported only when the plugin is used.
REGISTRY: dict[str, str] = {
    "stdout": "edgecam.publishers.stdout:StdoutPublisher",
    "mqtt": "edgecam.publishers.mqtt.publisher:MqttPublisher",
    "web": "edgecam.web.publisher:WebPublisher",
    "events": "edgecam.events.recorder:EventRecorder",
}


def load_publisher_class(name: str) -> type:
    return load_plugin(REGISTRY, "publisher", name)