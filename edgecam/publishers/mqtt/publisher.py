"""``MqttPublisher``: the pipeline's MQTT output (CONTRACT §6) with Home Assistant discovery.

Threads:
- the caller (inference thread) only appends to in-memory structures and returns;
- a worker thread writes events to the on-disk spool, builds payloads, encodes snapshots and
  hands messages to paho;
- paho's network thread connects, reconnects with capped backoff, and runs the callbacks
  (``online`` + subscriptions on connect, commands, acknowledgements).

Event delivery: every event is written to the spool first and deleted only once acknowledged.
On each (re)connect paho's own queue of unacknowledged messages is dropped and the spool is
replayed from its oldest message, so events arrive in order, also across daemon restarts.
Acknowledgements received before the link broke are collected first, so an acknowledged event is
never sent again; only an event in flight (sent, not yet acknowledged) when the link breaks may
arrive twice (QoS 1 is at-least-once).  If the disk refuses spool writes, the spool holds the
events in memory (see ``spool.py``) and delivery continues.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Mapping

import paho.mqtt.client as mqtt

from edgecam.domain import FrameUpdate
from edgecam.publishers.mqtt import commands
from edgecam.publishers.mqtt.announcer import Announcer
from edgecam.publishers.mqtt.connection import build_client, connect_async, default_client_id, resolve_password
from edgecam.publishers.mqtt.delivery import EventDelivery
from edgecam.publishers.mqtt.messages import FeedGate, changed_counts, detections_payload, encode, stats_payload
from edgecam.publishers.mqtt.settings import HomeAssistantSettings, MqttSettings
from edgecam.publishers.mqtt.spool import FILENAME as SPOOL_FILENAME, Spool
from edgecam.publishers.mqtt.topics import Topics, ha_status_topic
from edgecam.runtime.controls import Controls

log = logging.getLogger(__name__)

_RETAINED_QOS = 1
_REPLAY_WINDOW = 64  # events handed to paho and not yet acknowledged


class MqttPublisher:
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
    ) -> None:
        self.settings = settings
        self.camera_id = camera_id
        self.controls = controls
        self.state_dir = Path(state_dir)
        self.topics = Topics(settings.prefix, camera_id)
        self.client_id = client_id or settings.client_id or default_client_id(camera_id)
        self._password = resolve_password(settings)  # ConfigError now, not in a thread later
        self._announcer = Announcer(homeassistant, self.topics, camera_id, self.state_dir, labels, zones,
                                   default_labels)
        self._ha_status = ha_status_topic(homeassistant.prefix, homeassistant.status_topic)

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._send_lock = threading.Lock()  # orders worker publishes against on_connect's queue reset
        # caller -> worker (guarded by _lock)
        self._events: list[bytes] = []
        self._frames: deque[FrameUpdate] = deque()
        self._counts: dict[str, int] = {}
        self._zone_counts: dict[tuple[str, str], int] = {}
        self._count_updates: list[tuple[dict[str, int], dict[tuple[str, str], int]]] = []
        self._snapshot_src: FrameUpdate | None = None
        self._retained: dict[str, bytes] = {}  # latest retained state, re-sent on every connect
        self._outbox: list[tuple[str, bytes]] = []  # retained changes in order, while connected
        self._resync = False
        self._announce = False
        self._closing = False
        self._close_deadline = 0.0
        self._gen = 0
        # caller-side
        self._gate = FeedGate()
        # worker-side
        self._worker_gate = FeedGate()
        self._published_counts: dict[Any, int] = {}
        self._worker_gen = 0
        self._next_snapshot = 0.0
        # stats
        self._connected = threading.Event()
        self._published = 0
        self._dropped_detections = 0
        self._connects = 0
        self._connect_failures = 0
        self._last_error: str | None = None
        self._started = False
        self._closed = False
        self._spool: Spool | None = None
        self._delivery: EventDelivery | None = None
        self._client: mqtt.Client | None = None
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
        self._set_retained(self.topics.state("detection"), commands.format_state("detection", self.controls.detection_enabled))
        self._set_retained(self.topics.state("conf"), commands.format_state("conf", self.controls.conf))
        self.controls.subscribe(self._on_control)
        client = build_client(self.settings, self.client_id, self.topics.availability, self._password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client
        self._worker = threading.Thread(target=self._run, name=f"mqtt-publisher-{self.camera_id}", daemon=True)
        self._worker.start()
        log.info("MQTT: connecting to %s:%d as %s", self.settings.host, self.settings.port, self.client_id)
        connect_async(client, self.settings)

    def publish(self, update: FrameUpdate) -> None:
        """Hand one frame's results to the worker; never blocks on the network or the disk."""
        events = [encode(e.to_payload()) for e in update.events]
        with self._lock:
            if self._closing:
                return
            if events:
                self._events.extend(events)
            if update.counts != self._counts or update.zone_counts != self._zone_counts:
                self._counts = dict(update.counts)
                self._zone_counts = dict(update.zone_counts)
                self._count_updates.append((self._counts, self._zone_counts))
            if update.tracks:
                self._snapshot_src = update
            if self._gate.wants(update):
                if len(self._frames) < self.settings.queue_size:
                    self._frames.append(update)
                    self._gate.admit(update)
                else:
                    self._dropped_detections += 1
            self._wake.notify()

    def publish_stats(self, stats: Mapping[str, Any]) -> None:
        self._set_retained(self.topics.stats, encode(stats_payload(stats, self.stats())))

    def close(self) -> None:
        """Flush events (waiting up to ``close_timeout_s`` for acks), publish ``offline``, disconnect."""
        if not self._started or self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + self.settings.close_timeout_s
        with self._lock:
            self._closing = True
            self._close_deadline = deadline
            self._wake.notify()
        assert self._worker is not None and self._client is not None and self._spool is not None
        self._worker.join(max(0.0, deadline - time.monotonic()) + 5.0)
        client = self._client
        if self._connected.is_set():
            with self._send_lock:
                info = client.publish(self.topics.availability, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.5, min(2.0, deadline - time.monotonic())))
            except (RuntimeError, ValueError):
                pass
            client.disconnect()
        client.loop_stop()
        self._spool.close()  # writes events held in memory, or reports them lost
        kept = len(self._spool) - self._spool.lost_at_close
        if kept:
            log.warning("MQTT: %d event(s) not acknowledged; kept in %s for the next start", kept, self._spool.path)

    # ------------------------------------------------------------------ status
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stats(self) -> dict[str, Any]:
        spool = self._spool
        return {
            "published": self._published,
            "dropped_detections": self._dropped_detections,
            "spooled": len(spool) if spool is not None else 0,
            "spool_dropped": spool.dropped if spool is not None else 0,
            "spool_held": spool.held if spool is not None else 0,  # in memory: the disk refused them
            "spool_write_errors": spool.write_errors if spool is not None else 0,
            "connected": self.connected,
            "reconnects": max(0, self._connects - 1),
            "connect_failures": self._connect_failures,
            "last_error": self._last_error,
        }

    # ------------------------------------------------------------------ paho callbacks (network thread)
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._connect_failures += 1
            message = f"MQTT broker {self.settings.host}:{self.settings.port} refused the connection: {reason}"
            if reason.value in (0x04, 0x05, 0x86, 0x87, 134, 135):  # bad credentials / not authorised
                message += "; check mqtt.username and the password source (retrying)"
            else:
                message += " (retrying)"
            if message != self._last_error:
                log.error("%s", message)
            self._last_error = message
            return
        with self._send_lock:
            client.drop_out_messages()  # the spool, not paho, re-sends what was not acknowledged
            with self._lock:
                self._gen += 1
                self._resync = True
                self._announce = True
        self._connects += 1
        self._last_error = None
        self._connected.set()
        client.publish(self.topics.availability, b"online", qos=1, retain=True)
        client.subscribe([(self.topics.command(name), 1) for name in commands.PARSERS] + [(self._ha_status, 1)])
        log.info("MQTT: connected to %s:%d", self.settings.host, self.settings.port)
        with self._lock:
            self._wake.notify()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._closing:
            log.warning("MQTT: disconnected from %s:%d (%s); reconnecting, events are spooled",
                        self.settings.host, self.settings.port, reason)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._connect_failures += 1
        exc = sys.exc_info()[1]  # paho calls this inside its ``except OSError`` block
        where = f"MQTT broker {self.settings.host}:{self.settings.port}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            message = (f"{where}: TLS certificate check failed ({exc.verify_message}); check mqtt.ca_file and that "
                       "mqtt.host matches the broker certificate (retrying)")
        elif isinstance(exc, ssl.SSLError):
            message = f"{where}: TLS handshake failed ({exc.reason}); is the broker port a TLS listener? (retrying)"
        elif isinstance(exc, ConnectionRefusedError):
            message = f"{where} refused the TCP connection; is the broker running on that port? (retrying)"
        else:
            message = f"{where} is unreachable ({exc or 'no detail'}) (retrying)"
        if message != self._last_error:
            log.warning("%s", message)
        self._last_error = message

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            self._wake.notify()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic == self._ha_status:
                if msg.payload.strip() == b"online":
                    log.info("Home Assistant is online; re-sending discovery")
                    with self._lock:
                        self._announce = True
                        self._wake.notify()
                return
            name = self.topics.command_name(msg.topic)
            if name is None:
                return
            try:
                value = commands.PARSERS[name](msg.payload)
                if name == "detection":
                    self.controls.set_detection_enabled(value)
                else:
                    self.controls.set_conf(value)
            except ValueError as exc:
                log.warning("MQTT command ignored on %s: %s", msg.topic, exc)
                return
            log.info("MQTT command accepted: %s = %s", name, value)
        except Exception:  # a bad message must never take down the network thread
            log.exception("MQTT: failed to handle a message on %s", msg.topic)

    def _on_control(self, name: str, value: object) -> None:
        if self._closed or name not in commands.PARSERS:
            return
        self._set_retained(self.topics.state(name), commands.format_state(name, value))

    # ------------------------------------------------------------------ worker thread
    def _set_retained(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self._retained[topic] = payload
            if self._connected.is_set():  # else the next connect re-sends all retained state
                self._outbox.append((topic, payload))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:
                log.exception("MQTT publisher: unexpected error; continuing")
                time.sleep(0.5)

    def _work_waiting(self) -> bool:
        connected = self._connected.is_set()
        return bool(
            self._events
            or self._frames
            or self._count_updates
            or self._gen != self._worker_gen
            or (connected and (self._outbox or self._announce or self._resync))
            or (self._snapshot_src is not None and time.monotonic() >= self._next_snapshot)
        )

    def _step(self) -> bool:
        """One round of work; False when the worker should exit."""
        with self._lock:
            if not self._work_waiting():
                timeout = 1.0
                if (self._delivery is not None and self._delivery.inflight) or self._closing:
                    timeout = 0.05
                elif self._snapshot_src is not None:
                    timeout = max(0.01, min(timeout, self._next_snapshot - time.monotonic()))
                self._wake.wait(timeout)
            events, self._events = self._events, []
            frames = list(self._frames)
            self._frames.clear()
            count_updates, self._count_updates = self._count_updates, []
            snapshot = None
            if self._snapshot_src is not None and time.monotonic() >= self._next_snapshot:
                snapshot, self._snapshot_src = self._snapshot_src, None
            gen, closing = self._gen, self._closing
            resync, announce = self._resync, self._announce
        spool = self._spool
        assert spool is not None
        if events:
            spool.append_many((self.topics.events, e, self.settings.qos_events, False) for e in events)
        for counts, zone_counts in count_updates:
            self._fold_counts(counts, zone_counts)
        if snapshot is not None:
            self._render_snapshot(snapshot)
        delivery = self._delivery
        assert delivery is not None
        if gen != self._worker_gen:  # new connection: paho dropped its queue; replay from the start
            delivery.restart()
            self._worker_gen = gen
        connected = self._connected.is_set()
        if connected:
            if announce:
                with self._lock:
                    self._announce = False
                self._send_discovery(gen)
            if resync:
                with self._lock:
                    self._resync = False
                    queued = {t for t, _ in self._outbox}  # changes already queued keep their order
                    self._outbox = [(t, p) for t, p in self._retained.items() if t not in queued] + self._outbox
            self._send_retained(gen)
        self._send_feed(frames, gen, connected)
        delivery.collect_acks()
        if connected:
            delivery.replay(lambda topic, payload, qos, retain: self._publish(gen, topic, payload, qos, retain))
        if closing:
            return not self._flushed() and time.monotonic() < self._close_deadline
        return True

    def _flushed(self) -> bool:
        with self._lock:
            pending = bool(self._events or self._frames or (self._outbox and self._connected.is_set()))
        return not pending and (self._delivery is None or self._delivery.idle)

    def _fold_counts(self, counts: Mapping[str, int], zone_counts: Mapping[tuple[str, str], int]) -> None:
        current: dict[Any, int] = dict(counts)
        current.update({("zone",) + k: v for k, v in zone_counts.items()})
        changed = changed_counts(self._published_counts, current)
        for key, value in changed.items():
            topic = self.topics.count(key) if isinstance(key, str) else self.topics.zone_count(key[1], key[2])
            self._set_retained(topic, str(value).encode())
        self._published_counts.update(changed)
        if self._announcer.observe(counts.keys(), (z for z, _ in zone_counts)):
            with self._lock:
                self._announce = True

    def _render_snapshot(self, update: FrameUpdate) -> None:
        from edgecam.publishers.mqtt.snapshot import render_snapshot  # cv2 only when snapshots are made

        self._next_snapshot = time.monotonic() + self.settings.snapshot_interval_s
        jpeg = render_snapshot(update.frame, update.tracks, self.settings.snapshot_width, self.settings.snapshot_quality)
        self._set_retained(self.topics.snapshot, jpeg)

    def _publish(self, gen: int, topic: str, payload: bytes, qos: int, retain: bool) -> mqtt.MQTTMessageInfo | None:
        """Publish unless the connection changed since ``gen`` was read (then the caller retries later)."""
        assert self._client is not None
        with self._send_lock:
            if gen != self._gen or not self._connected.is_set():
                return None
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._published += 1
            return info
        return None

    def _send_discovery(self, gen: int) -> None:
        for topic, payload in self._announcer.messages():
            if self._publish(gen, topic, payload, _RETAINED_QOS, True) is None:
                with self._lock:
                    self._announce = True  # retry on the next connection
                return
        self._announcer.commit()

    def _send_retained(self, gen: int) -> None:
        with self._lock:
            items, self._outbox = self._outbox, []
        for topic, payload in items:
            if self._publish(gen, topic, payload, _RETAINED_QOS, True) is None:
                return  # connection lost: the next connect re-sends all retained state

    def _send_feed(self, frames: list[FrameUpdate], gen: int, connected: bool) -> None:
        for update in frames:
            if not self._worker_gate.admit(update):
                continue
            sent = connected and self._publish(gen, self.topics.detections, encode(detections_payload(update)), 0, False)
            if not sent:
                connected = False
                with self._lock:
                    self._dropped_detections += 1
