"""The MQTT link: the paho client's lifetime, availability, subscriptions and connection counters.

paho's network thread connects, reconnects with capped backoff and runs the callbacks here.  Each
successful connect starts a new *generation*: paho's queue of unacknowledged messages is dropped (the
owner re-sends from its spool and retained state), the camera is claimed (``ownership.py``: no other
live daemon owns it), then ``online`` is published and the subscriptions are made.  Until the claim
is won nothing else is sent; a refused claim disconnects cleanly and reports ``conflict``.  :meth:`MqttLink.publish` refuses (returns None) when the generation it was given is no longer
current, so nothing meant for a dead connection is handed to a new one out of order.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
from typing import Any, Callable

import paho.mqtt.client as mqtt

from edgecam.publishers.mqtt.connection import build_client, connect_async
from edgecam.publishers.mqtt.ownership import OFFLINE, ONLINE, Ownership
from edgecam.publishers.mqtt.settings import MqttSettings
from edgecam.warnlimit import RateLimitedWarnings

log = logging.getLogger(__name__)

_AVAILABILITY_QOS = 1
MAX_INBOUND = 1024  # bytes: every subscribed message (a command, Home Assistant's birth) is a few bytes


class MqttLink:
    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        availability_topic: str,
        password: str | None,
        subscriptions: list[tuple[str, int]],
        on_message: Callable[[str, bytes], None],
        on_connected: Callable[[int], None],
        on_activity: Callable[[], None],
        ownership: Ownership | None = None,
        on_conflict: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.availability_topic = availability_topic
        self._password = password
        self._subscriptions = subscriptions
        self._on_message_cb = on_message
        self._on_connected_cb = on_connected
        self._on_activity = on_activity
        self._send_lock = threading.Lock()  # orders publishes against on_connect's queue reset
        self._connected = threading.Event()
        self._gone = threading.Event()  # the broker saw our DISCONNECT (after a refused claim)
        self._sync_mid: int | None = None  # the sync message's id until the broker acknowledged it
        self._leave = False  # refused: disconnect once nothing more is owed to us
        self._closing = False
        self._ownership = ownership
        self._on_conflict = on_conflict
        self.conflict: str | None = None
        self.generation = 0
        self.published = 0
        self.connects = 0
        self.connect_failures = 0
        self.last_error: str | None = None
        self.oversized = 0  # inbound messages dropped unread for their size
        self._oversized_warnings = RateLimitedWarnings()
        self._client: mqtt.Client | None = None

    # -- lifetime --------------------------------------------------------------------------------
    def start(self) -> None:
        client = build_client(self.settings, self.client_id, self.availability_topic, self._password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client
        log.info("MQTT: connecting to %s:%d as %s", self.settings.host, self.settings.port, self.client_id)
        connect_async(client, self.settings)

    def close(self, ack_timeout: float) -> None:
        """Publish ``offline`` (waiting up to ``ack_timeout`` for the broker), disconnect, stop the loop."""
        self._closing = True
        client = self._client
        if client is None:
            return
        if self.conflict is not None:
            # the DISCONNECT must reach the broker before the loop stops, or it sends our last will
            # (``offline``) over the live owner's state
            self._gone.wait(5.0)
        elif self._connected.is_set():
            with self._send_lock:
                info = client.publish(self.availability_topic, OFFLINE, qos=_AVAILABILITY_QOS, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.5, min(2.0, ack_timeout)))
            except (RuntimeError, ValueError):
                pass
            client.disconnect()
        client.loop_stop()

    # -- status ----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stats(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "published": self.published,
            "reconnects": max(0, self.connects - 1),
            "connect_failures": self.connect_failures,
            "last_error": self.last_error,
            "oversized_dropped": self.oversized,
        }

    # -- sending ---------------------------------------------------------------------------------
    def publish(self, gen: int, topic: str, payload: bytes, qos: int, retain: bool) -> mqtt.MQTTMessageInfo | None:
        """Hand one message to paho unless the connection changed since ``gen`` (None: retry later).

        ValueError from paho (a topic it refuses, e.g. with a wildcard) propagates to the caller."""
        client = self._client
        assert client is not None
        with self._send_lock:
            if gen != self.generation or not self._connected.is_set():
                return None
            info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.published += 1
            return info
        return None

    # -- paho callbacks (network thread) ---------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.connect_failures += 1
            message = f"MQTT broker {self.settings.host}:{self.settings.port} refused the connection: {reason}"
            if reason.value in (0x04, 0x05, 0x86, 0x87, 134, 135):  # bad credentials / not authorised
                message += "; check mqtt.username and the password source (retrying)"
            else:
                message += " (retrying)"
            if message != self.last_error:
                log.error("%s", message)
            self.last_error = message
            return
        with self._send_lock:
            client.drop_out_messages()  # the owner's spool, not paho, re-sends what was not acknowledged
            self.generation += 1
        self.connects += 1
        self.last_error = None
        own = self._ownership
        if own is None:
            self._claimed(client, self.generation)
            return
        own.reset()
        client.subscribe([(own.owner_topic, _AVAILABILITY_QOS), (own.availability_topic, _AVAILABILITY_QOS),
                          (own.sync_topic, _AVAILABILITY_QOS)])
        self._sync(client, str(self.generation).encode())

    def _sync(self, client: mqtt.Client, payload: bytes) -> None:
        self._sync_mid = client.publish(self._ownership.sync_topic, payload, qos=_AVAILABILITY_QOS).mid

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, *rest: Any) -> None:
        if mid == self._sync_mid:
            self._sync_mid = None
            if self._leave:
                client.disconnect()
        self._on_activity()

    def _claimed(self, client: mqtt.Client, gen: int) -> None:
        """This connection owns the camera: announce it, go ``online``, subscribe, let the owner send."""
        with self._send_lock:
            if gen != self.generation:
                return
            self._on_connected_cb(gen)
            self._connected.set()
        if self._ownership is not None:
            client.publish(self._ownership.owner_topic, self._ownership.payload(), qos=_AVAILABILITY_QOS, retain=True)
        client.publish(self.availability_topic, ONLINE, qos=_AVAILABILITY_QOS, retain=True)
        if self._subscriptions:
            client.subscribe(self._subscriptions)
        log.info("MQTT: connected to %s:%d", self.settings.host, self.settings.port)
        self._on_activity()

    def _refused(self, client: mqtt.Client, message: str) -> None:
        """Another live daemon owns the camera: leave without a word on its topics (clean disconnect:
        the broker drops the last will) and report the conflict once."""
        self._connected.clear()
        self._closing = True
        if self.conflict is None:
            self.conflict = message
            log.error("%s", message)
            if self._on_conflict is not None:
                self._on_conflict(message)
        # Disconnect only once the broker acknowledged the sync message: a socket closed with its
        # acknowledgement still unread is reset, the broker may lose our DISCONNECT and send the will.
        self._leave = True
        if self._sync_mid is None:
            client.disconnect()

    def _on_ownership(self, client: mqtt.Client, topic: str, payload: bytes) -> bool:
        """Messages of the ownership protocol; True when ``topic`` was one of them."""
        own = self._ownership
        if own is None or self.conflict is not None:
            return own is not None and topic.startswith(own.owner_topic)
        if topic == own.sync_topic:
            if payload != str(self.generation).encode() or self._connected.is_set():
                return True  # a late echo of an earlier connection's sync
            verdict = own.decide()
            if verdict.kind == "watch":
                client.subscribe(verdict.detail, _AVAILABILITY_QOS)
                self._sync(client, payload)
            elif verdict.kind == "refuse":
                self._refused(client, verdict.detail)
            else:
                self._claimed(client, self.generation)
            return True
        if topic != own.owner_topic and topic not in own.watched:
            return False
        if not self._connected.is_set():
            own.observe(topic, payload)  # retained state, before the sync comes back
            return True
        if self._closing:
            return True
        if topic == own.owner_topic:
            own.observe(topic, payload)
            other = own.other()
            if other is not None and own.beaten_by(other):
                self._refused(client, f"{own.refusal(other)} (it claimed the camera at the same time)")
            elif other is not None:
                log.warning("camera %s: %s claimed this camera too; keeping it (this daemon started first)",
                            own.camera_id, other.describe())
                client.publish(own.owner_topic, own.payload(), qos=_AVAILABILITY_QOS, retain=True)
        elif topic == self.availability_topic and payload.strip() == OFFLINE:
            log.warning("camera %s: another client marked this camera offline (a stale last will); "
                        "publishing online again", own.camera_id)
            client.publish(self.availability_topic, ONLINE, qos=_AVAILABILITY_QOS, retain=True)
        return True

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if self.conflict is not None:
            self._gone.set()
        if was and not self._closing:
            log.warning("MQTT: disconnected from %s:%d (%s); reconnecting, events are spooled",
                        self.settings.host, self.settings.port, reason)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.connect_failures += 1
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
        if message != self.last_error:
            log.warning("%s", message)
        self.last_error = message

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        size = len(msg.payload)
        if size > MAX_INBOUND:  # dropped before it is copied or decoded (paho holds it only until we return)
            self.oversized += 1
            self._oversized_warnings.warn(msg.topic, log, "MQTT: dropped a %d-byte message on %s (at most %d bytes); "
                                          "limit it at the broker too (mosquitto: max_packet_size)",
                                          size, msg.topic[:200], MAX_INBOUND)
            return
        try:
            payload = bytes(msg.payload)
            if self._on_ownership(client, msg.topic, payload):
                return
            if self._connected.is_set():
                self._on_message_cb(msg.topic, payload)
        except Exception:  # a bad message must never take down the network thread
            log.exception("MQTT: failed to handle a message on %s", msg.topic)
