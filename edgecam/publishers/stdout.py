"""``StdoutPublisher``: every message the MQTT publisher would send, as JSON lines on stdout.

One line per message: ``{"topic": "edgecam/<cam>/...", "payload": ..., "retained": bool}`` with the
same topics and payloads as MQTT (CONTRACT §6); JSON payloads are embedded as objects, plain ones
(``online``, counts) as strings.  Binary snapshots and Home Assistant discovery are not printed.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Mapping, TextIO

from edgecam.domain import FrameUpdate
from edgecam.publishers.context import PublisherContext
from edgecam.publishers.mqtt.messages import FeedGate, changed_counts, detections_payload, json_default, stats_payload
from edgecam.publishers.mqtt.topics import Topics


class StdoutPublisher:
    kind = "stdout"

    @classmethod
    def from_settings(cls, output: Any, context: PublisherContext) -> "StdoutPublisher":
        """``[output] stdout = true``: the messages as JSON lines on stdout (nothing else of ``[output]`` is read)."""
        return cls(context.camera_id)

    def __init__(self, camera_id: str, prefix: str = "edgecam", stream: TextIO | None = None) -> None:
        self.topics = Topics(prefix, camera_id)
        self._stream = stream
        self._lock = threading.Lock()
        self._gate = FeedGate()
        self._counts: dict[Any, int] = {}

    def _emit(self, topic: str, payload: Any, retained: bool = False) -> None:
        line = json.dumps({"topic": topic, "payload": payload, "retained": retained}, separators=(",", ":"), default=json_default)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()

    def start(self) -> None:
        self._emit(self.topics.availability, "online", True)

    def publish(self, update: FrameUpdate) -> None:
        if self._gate.admit(update):
            self._emit(self.topics.detections, detections_payload(update))
        for event in update.events:
            self._emit(self.topics.events, event.to_payload())
        current: dict[Any, int] = dict(update.counts)
        current.update({("zone",) + k: v for k, v in update.zone_counts.items()})
        changed = changed_counts(self._counts, current)
        for key, value in changed.items():
            topic = self.topics.count(key) if isinstance(key, str) else self.topics.zone_count(key[1], key[2])
            self._emit(topic, str(value), True)
        self._counts.update(changed)

    def publish_camera(self, state: str) -> None:
        self._emit(self.topics.camera_status, state, True)

    def publish_stats(self, stats: Mapping[str, Any]) -> None:
        self._emit(self.topics.stats, stats_payload(stats), True)

    def close(self) -> None:
        self._emit(self.topics.availability, "offline", True)
