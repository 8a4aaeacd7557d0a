"""Ordered, at-least-once event delivery from the on-disk spool.

Events are appended to the spool first; this class hands them to paho oldest first, at most
``window`` unacknowledged at a time, and deletes each one from the spool only after its PUBACK.
A new connection (paho drops its queue) restarts the replay from the oldest unacknowledged event,
after deleting everything already acknowledged, so an acked event is never sent twice.
A message paho refuses outright (ValueError/TypeError: e.g. a wildcard in its topic) is moved aside
by the spool and delivery goes on with the next one.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import paho.mqtt.client as mqtt

from edgecam.publishers.mqtt.spool import Spool

# publish(topic, payload, qos, retain) -> MQTTMessageInfo, or None when the link is not usable
PublishFn = Callable[[str, bytes, int, bool], "mqtt.MQTTMessageInfo | None"]


class EventDelivery:
    def __init__(self, spool: Spool, window: int = 64) -> None:
        self.spool = spool
        self.window = window
        self._inflight: deque[tuple[mqtt.MQTTMessageInfo, int]] = deque()
        self._cursor = 0  # spool id of the last event handed to paho on this connection

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def rejected(self) -> int:
        """Spooled messages moved aside because they could not be sent."""
        return self.spool.rejected

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing left in the spool."""
        return not self._inflight and len(self.spool) == 0

    def restart(self) -> None:
        """A new connection: keep what was acked, replay the rest from the oldest."""
        self.collect_acks()
        self._inflight.clear()
        self._cursor = 0

    def collect_acks(self) -> None:
        """Delete acknowledged events from the spool (in order, and any out-of-order acks too)."""
        done = []
        while self._inflight and self._inflight[0][0].is_published():
            info, sid = self._inflight.popleft()
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                done.append(sid)
        acked = {s for i, s in self._inflight if i.is_published() and i.rc == mqtt.MQTT_ERR_SUCCESS}
        if acked:  # QoS 2 or broker quirks
            done.extend(acked)
            self._inflight = deque((i, s) for i, s in self._inflight if s not in acked)
        if done:
            self.spool.delete(done)

    def replay(self, publish: PublishFn) -> None:
        """Hand the next spooled events to paho while the window has room."""
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        for row in self.spool.read_after(self._cursor, room):
            try:
                info = publish(row.topic, row.payload, row.qos, row.retain)
            except (ValueError, TypeError) as exc:
                self.spool.reject(row.id, f"refused by the MQTT client: {exc}")
                self._cursor = row.id
                continue
            if info is None:
                return
            self._inflight.append((info, row.id))
            self._cursor = row.id
