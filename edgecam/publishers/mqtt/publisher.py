"""``MqttPublisher``: the pipeline's MQTT output (CONTRACT §6) with Home Assistant discovery.

It turns each ``FrameUpdate`` into messages in its worker thread; the other jobs are parts: the link
(``link.py``), the retained state (``retained.py``), the command router (``router.py``), delivery from
the spool (``delivery.py``, ``spool.py``), the announcer (``announcer.py``), the hand-off from the
other threads (``inbox.py``) and the open-track journal (``edgecam/tracking/journal.py``, reconciled at
start by ``orphans.py``).  The caller (inference thread) only appends to memory and returns;
the worker writes the spool and the journal, builds payloads, encodes snapshots and hands messages to
the link; paho's network thread runs the link's callbacks.

Guarantees (see the README's MQTT section):
- every event is in the spool before anything else happens to it and leaves it only once
  acknowledged; on each (re)connect the spool is replayed from its oldest message, in order;
- every retained topic is re-sent on each (re)connect; every announced label and zone × label count
  is published from the start (0 until seen), so counts left behind by a crash are overwritten;
- every ``new`` gets exactly one ``end``: tracks left open by a crash are ended at the next start
  (``"reason": "restart"``) from the journal, reconciled with the spool's undelivered events;
- snapshots are taken when an event says something changed (a new object, a better top score).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from edgecam.controls import Controls
from edgecam.domain import Event, FrameUpdate, TrackView
from edgecam.latency import LatencyWindow
from edgecam.errors import UsageError
from edgecam.identity import Instance
from edgecam.publishers.context import PublisherContext
from edgecam.publishers.mqtt import commands
from edgecam.publishers.mqtt.announcer import Announcer
from edgecam.publishers.mqtt.connection import default_client_id, resolve_password
from edgecam.publishers.mqtt.counts import RetainedCounts
from edgecam.publishers.mqtt.delivery import EventDelivery
from edgecam.publishers.mqtt.inbox import Inbox
from edgecam.publishers.mqtt.link import MqttLink
from edgecam.publishers.mqtt.messages import FeedGate, detections_payload, encode, stats_payload
from edgecam.publishers.mqtt.orphans import end_orphaned_tracks
from edgecam.publishers.mqtt.retained import RetainedState
from edgecam.publishers.mqtt.router import CommandRouter
from edgecam.publishers.mqtt.settings import HomeAssistantSettings, MqttSettings
from edgecam.publishers.mqtt.spool import FILENAME as SPOOL_FILENAME, Spool
from edgecam.publishers.mqtt.ownership import Ownership
from edgecam.publishers.mqtt.topics import Topics, ha_status_topic, owner_topic
from edgecam.tracking.journal import TrackJournal

log = logging.getLogger(__name__)

_RETAINED_QOS = 1
_REPLAY_WINDOW = 64  # events handed to paho and not yet acknowledged
# Home Assistant entities announced from the start when the config names no labels; any other
# label gets its entities when it is first seen.
DEFAULT_ENTITY_LABELS = ("person", "car", "dog", "cat")


class MqttPublisher:
    kind = "mqtt"

    @classmethod
    def from_settings(cls, settings: MqttSettings, homeassistant: HomeAssistantSettings,
                      context: PublisherContext) -> "MqttPublisher":
        """``[mqtt]`` and ``[homeassistant]``; the spool, discovery record and journal live in the state dir."""
        if context.state_dir is None:
            raise ValueError("the MQTT publisher needs the camera's state directory")
        return cls(settings, homeassistant, context.camera_id, context.controls, context.state_dir,
                   labels=context.labels,
                   zones=tuple(z.name for z in context.zones),
                   zone_labels={z.name: tuple(z.labels) for z in context.zones},
                   default_labels=tuple(c for c in DEFAULT_ENTITY_LABELS if c in context.class_names),
                   latency=context.latency)

    def __init__(
        self,
        settings: MqttSettings,
        homeassistant: HomeAssistantSettings,
        camera_id: str,
        controls: Controls,
        state_dir: Path,
        labels: tuple[str, ...] = (),
        zones: tuple[str, ...] = (),
        client_id: str | None = None,
        default_labels: tuple[str, ...] = (),
        latency: LatencyWindow | None = None,
        zone_labels: Mapping[str, tuple[str, ...]] | None = None,
        instance: Instance | None = None,
    ) -> None:
        self.settings = settings
        self.camera_id = camera_id
        self.controls = controls
        self.state_dir = Path(state_dir)
        self.topics = Topics(settings.prefix, camera_id)
        self.latency = latency if latency is not None else LatencyWindow()  # capture → feed publish
        self.client_id = client_id or settings.client_id or default_client_id(camera_id)
        password = resolve_password(settings)  # ConfigError now, not in a thread later
        self._announcer = Announcer(homeassistant, self.topics, camera_id, self.state_dir, labels, zones,
                                    default_labels, qos=_RETAINED_QOS, zone_labels=zone_labels)
        self._router = CommandRouter(self.topics, ha_status_topic(homeassistant.prefix, homeassistant.status_topic),
                                     controls, self._on_ha_birth)
        self.instance = instance or Instance.here()
        ownership = Ownership(self.instance, camera_id, owner_topic(settings.prefix, camera_id), self.topics.availability)
        self.on_fatal: Callable[[], None] | None = None  # the daemon stops when another owns the camera
        self._link = MqttLink(settings, self.client_id, self.topics.availability, password,
                              self._router.subscriptions(), self._router.handle, self._on_connected, self._poke,
                              ownership=ownership, on_conflict=self._on_conflict)
        self._retained = RetainedState()
        self._inbox = Inbox(settings.queue_size)  # caller threads -> worker
        # worker-side
        self._worker_gate = FeedGate()
        self._counts_out = RetainedCounts(self.topics, self.state_dir)
        self._worker_gen = 0
        self._restart_ends = 0
        self._started = False
        self._closed = False
        self._spool: Spool | None = None
        self._delivery: EventDelivery | None = None
        self._journal: TrackJournal | None = None
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------ Publisher protocol
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._spool = Spool(self.state_dir / SPOOL_FILENAME, self.settings.spool_max_messages)
        if len(self._spool):
            log.info("MQTT spool holds %d event(s) from before; they are sent first", len(self._spool))
        self._delivery = EventDelivery(self._spool, _REPLAY_WINDOW)
        self._journal, self._restart_ends = end_orphaned_tracks(self._spool, self.state_dir, self.topics.events,
                                                                self.settings.qos_events)
        self._set_retained(self.topics.state("detection"), commands.format_state("detection", self.controls.detection_enabled))
        self._set_retained(self.topics.state("conf"), commands.format_state("conf", self.controls.conf))
        for topic, payload in self._counts_out.start(self._announcer.labels, self._announcer.zones,
                                                     self._announcer.zone_labels):
            self._set_retained(topic, payload)  # true after any start: 0 until seen, dropped ones deleted
        self.controls.subscribe(self._on_control)
        self._worker = threading.Thread(target=self._run, name=f"mqtt-publisher-{self.camera_id}", daemon=True)
        self._worker.start()
        self._link.start()

    def publish(self, update: FrameUpdate) -> None:
        """Hand one frame's results to the worker; never blocks on the network or the disk."""
        self._inbox.put(update)

    def publish_camera(self, state: str) -> None:
        """The camera's availability (``online``/``offline``) on the retained ``<base>/camera``."""
        self._set_retained(self.topics.camera_status, state.encode())

    def publish_stats(self, stats: Mapping[str, Any]) -> None:
        self._inbox.put_stats(stats)
        self._set_retained(self.topics.stats, encode(stats_payload(stats)))

    def close(self) -> None:
        """Flush events (waiting up to ``close_timeout_s`` for acks), publish ``offline``, disconnect."""
        if not self._started or self._closed:
            return
        self._closed = True
        # refused: nothing can be delivered on this broker, so nothing is waited for
        deadline = time.monotonic() + (0.0 if self._link.conflict else self.settings.close_timeout_s)
        self._inbox.close(deadline)
        assert self._worker is not None and self._spool is not None
        self._worker.join(max(0.0, deadline - time.monotonic()) + 5.0)
        self._link.close(deadline - time.monotonic())
        self._spool.close()  # writes events held in memory, or reports them lost
        kept = len(self._spool) - self._spool.lost_at_close
        if kept:
            log.warning("MQTT: %d event(s) not acknowledged; kept in %s for the next start", kept, self._spool.path)

    def announce_last_snapshots(self) -> None:
        """The event history is on: announce a "Last <label>" image entity per label (call before start)."""
        self._announcer.last_snapshots = True

    def publish_last_snapshot(self, label: str, jpeg: bytes) -> None:
        """The event history's best snapshot of the last ended ``label`` event (retained; any thread)."""
        if not self._closed:
            self._set_retained(self.topics.last_snapshot(label), jpeg)

    # ------------------------------------------------------------------ status
    @property
    def fatal_error(self) -> UsageError | None:
        """Set when another live daemon owns this camera on the broker (the daemon exits 2)."""
        return UsageError(self._link.conflict) if self._link.conflict else None

    def _on_conflict(self, message: str) -> None:
        if self.on_fatal is not None:
            self.on_fatal()
        self._poke()

    @property
    def connected(self) -> bool:
        return self._link.connected

    def wait_connected(self, timeout: float) -> bool:
        return self._link.wait_connected(timeout)

    def stats(self) -> dict[str, Any]:
        """The publisher's counters: one flat shape (the daemon puts it under ``mqtt`` in the stats)."""
        spool = self._spool
        return {
            **self._link.stats(),
            "dropped_detections": self._inbox.dropped,
            "spooled": len(spool) if spool is not None else 0,
            "spool_dropped": spool.dropped if spool is not None else 0,
            "spool_held": spool.held if spool is not None else 0,  # in memory: the disk refused them
            "spool_write_errors": spool.write_errors if spool is not None else 0,
            "spool_rejected": self._delivery.rejected if self._delivery is not None else 0,
            "restart_ends": self._restart_ends,
            "ha_births": self._router.births,
        }

    # ------------------------------------------------------------------ callbacks (other threads)
    def _on_connected(self, gen: int) -> None:
        """Link callback (network thread, new connection): resend all retained state and discovery."""
        self._inbox.connected()

    def _poke(self) -> None:
        self._inbox.poke()

    def _on_ha_birth(self) -> None:
        self._inbox.reannounce(birth=True, wake=True)

    def _on_control(self, name: str, value: object) -> None:
        if self._closed or name not in commands.COMMANDS:
            return
        self._set_retained(self.topics.state(name), commands.format_state(name, value))

    # ------------------------------------------------------------------ worker thread
    def _set_retained(self, topic: str, payload: bytes) -> None:
        self._retained.set(topic, payload, self._link.connected)
        self._poke()

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:
                log.exception("MQTT publisher: unexpected error; continuing")
                time.sleep(0.5)

    def _link_work(self, announce: bool, resync: bool) -> bool:
        """A new connection to take up, or something to send on the current one."""
        return self._link.generation != self._worker_gen or (
            self._link.connected and (self._retained.pending or announce or resync))

    def _step(self) -> bool:
        """One round of work; False when the worker should exit."""
        delivery = self._delivery
        assert self._spool is not None and delivery is not None
        batch = self._inbox.take(self._link_work, lambda: bool(delivery.inflight))
        gen = self._link.generation
        self._record_events(batch.events, batch.sighting)
        for counts, zone_counts, stationary in batch.count_updates:
            self._fold_counts(counts, zone_counts, stationary)
        if batch.stats_keys is not None and self._announcer.observe_stats(batch.stats_keys, batch.readings):
            self._inbox.reannounce()
        if batch.snapshot is not None:
            self._render_snapshot(batch.snapshot)
        if gen != self._worker_gen:  # new connection: paho dropped its queue; replay from the start
            delivery.restart()
            self._worker_gen = gen
        # the flags belong to the generation read above only if it is still current
        flags = self._inbox.take_flags(lambda: self._link.connected and self._link.generation == gen)
        connected = flags is not None
        if flags is not None:
            announce, birth, resync = flags
            if announce:
                self._send_discovery(gen, birth)
            if resync:
                self._retained.resync()
            self._send_retained(gen)
        self._send_feed(batch.frames, gen, connected)
        delivery.collect_acks()
        if connected:
            delivery.replay(lambda topic, payload, qos, retain: self._link.publish(gen, topic, payload, qos, retain))
        if batch.closing:
            return not self._flushed() and time.monotonic() < self._inbox.close_deadline
        return True

    def _record_events(self, events: list[Event], sighting: tuple[float, tuple[TrackView, ...]] | None) -> None:
        """Spool the events, then bring the journal up to date (the spool first: see journal.py)."""
        spool, journal = self._spool, self._journal
        assert spool is not None and journal is not None
        if events:
            spool.append_many((self.topics.events, encode(e.to_payload()), self.settings.qos_events, False)
                              for e in events)
            journal.apply(events)
        if sighting is not None:
            journal.seen(sighting[1], sighting[0])
        now = time.monotonic()
        if journal.due(now):
            journal.save(now)

    def _flushed(self) -> bool:
        pending = not self._inbox.drained() or (self._retained.pending and self._link.connected)
        return not pending and (self._delivery is None or self._delivery.idle)

    def _fold_counts(self, counts: Mapping[str, int], zone_counts: Mapping[tuple[str, str], int],
                     stationary: Mapping[str, int]) -> None:
        for topic, payload in self._counts_out.fold(counts, zone_counts, stationary):
            self._set_retained(topic, payload)
        if self._announcer.observe(counts.keys(), (z for z, _ in zone_counts)):
            self._inbox.reannounce()

    def _render_snapshot(self, update: FrameUpdate) -> None:
        from edgecam.publishers.mqtt.snapshot import render_snapshot  # cv2 only when snapshots are made

        self._inbox.next_snapshot = time.monotonic() + self.settings.snapshot_interval_s
        jpeg = render_snapshot(update.frame, update.tracks, self.settings.snapshot_width, self.settings.snapshot_quality)
        self._set_retained(self.topics.snapshot, jpeg)

    def _send_discovery(self, gen: int, birth: bool = False) -> None:
        if not self._announcer.send(lambda t, p, r: self._link.publish(gen, t, p, _RETAINED_QOS, r) is not None, birth):
            self._inbox.reannounce(birth)  # the connection went: retry on the next one

    def _send_retained(self, gen: int) -> None:
        for topic, payload in self._retained.take():
            if self._link.publish(gen, topic, payload, _RETAINED_QOS, True) is None:
                return  # connection lost: the next connect re-sends all retained state

    def _send_feed(self, frames: list[FrameUpdate], gen: int, connected: bool) -> None:
        for update in frames:
            if not self._worker_gate.admit(update):
                continue
            sent = connected and self._link.publish(gen, self.topics.detections,
                                                    encode(detections_payload(update)), 0, False)
            if sent and update.inference is not None:
                self.latency.record(update.frame.timestamp, time.time())
            if not sent:
                connected = False
                self._inbox.drop()
