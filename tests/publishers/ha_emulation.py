"""A small emulation of Home Assistant's MQTT discovery rule, on a real broker, for removal tests.

Written from Home Assistant's own code (home-assistant/core, read for issue #24):

- ``homeassistant/components/mqtt/discovery.py``, ``async_start`` →
  ``async_discovery_message_received``: a device config (``<prefix>/device/<object_id>/config``) is
  split into one payload per component; a component whose config is only ``{"p": platform}`` becomes
  an empty payload; the discovery hash is ``(platform, "<device object_id> <component id>")``; when a
  hash still has a discovery in progress (``discovery_pending_discovered``) the payload is queued and
  the handler **returns**, skipping the device message's remaining components.
- ``async_process_discovery_payload``: a non-empty payload for an unknown hash adds it to
  ``discovery_already_discovered`` and creates the entity; any payload for an already discovered hash
  is an update (an empty one removes the entity); an empty payload for a hash *not* discovered since
  this start is dropped ("unhandled discovery message").  ``discovery_already_discovered`` lives in
  memory: a restart empties it, while the entity registry keeps the entities (restored unavailable).
- ``homeassistant/components/mqtt/entity.py``, ``MqttDiscoveryUpdateMixin`` / ``send_discovery_done``:
  an update received on another discovery topic than the entity's own is ignored; an empty update
  removes the entity and its registry entry and clears the hash; each handled payload ends with
  "discovery done", which processes the next queued payload of that hash.

Entity set-up is asynchronous in Home Assistant.  ``lag`` chooses when the emulation runs it:
``"next-message"`` (the harsh case: an entity created by one message is only set up after the next
message was handled, so that message finds the hash pending) or ``"immediate"``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import paho.mqtt.client as mqtt

from broker import Mosquitto, free_port

TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")


@dataclass
class Entity:
    platform: str
    unique_id: str
    topic: str  # the discovery topic it was discovered on
    config: dict


@dataclass
class HomeAssistantEmulation:
    """Registry (survives restarts) + discovery state (per start)."""

    prefix: str = "homeassistant"
    lag: str = "next-message"
    registry: dict[tuple[str, str], str] = field(default_factory=dict)  # (platform, unique_id) -> name
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._client: mqtt.Client | None = None
        self._reset()

    # ---------------------------------------------------------------- lifetime
    def _reset(self) -> None:
        self.already_discovered: set[tuple[str, str]] = set()
        self.pending: dict[tuple[str, str], deque] = {}
        self.entities: dict[tuple[str, str], Entity] = {}
        self._jobs: list[Callable[[], None]] = []

    def start(self, broker: Mosquitto, birth: bool = True) -> None:
        """Start: subscribe to discovery, take in the retained configs, then send the birth message."""
        self._reset()
        synced = threading.Event()
        sync_topic = f"emulated-ha/sync/{free_port()}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"emulated-ha-{free_port()}")

        def on_connect(c, userdata, flags, reason, properties):
            c.subscribe([(f"{self.prefix}/+/+/config", 0), (f"{self.prefix}/+/+/+/config", 0), (sync_topic, 0)])
            c.publish(sync_topic, b"x")

        def on_message(c, userdata, msg):
            if msg.topic == sync_topic:
                synced.set()
                return
            self.handle(msg.topic, bytes(msg.payload))

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect(broker.host, broker.port, 30)
        client.loop_start()
        self._client = client
        if not synced.wait(10):
            raise RuntimeError("emulated Home Assistant could not subscribe")
        self.settle()
        if birth:
            self.birth()

    def birth(self) -> None:
        assert self._client is not None
        self._client.publish(f"{self.prefix}/status", b"online").wait_for_publish(10)

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        with self._lock:
            self._reset()  # discovery state is in memory only; the registry stays

    # ---------------------------------------------------------------- what a test looks at
    def registered(self) -> set[str]:
        with self._lock:
            return {uid for _, uid in self.registry}

    def settle(self) -> None:
        """Run every set-up Home Assistant would have run by now."""
        with self._lock:
            while self._jobs:
                jobs, self._jobs = self._jobs, []
                for job in jobs:
                    job()

    def wait_registered(self, expected: set[str], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.settle()
            got = self.registered()
            if got == expected:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"registry never became the expected set: extra {sorted(got - expected)}, "
                                     f"missing {sorted(expected - got)}")
            time.sleep(0.05)

    # ---------------------------------------------------------------- discovery.py
    def handle(self, topic: str, payload: bytes) -> None:
        with self._lock:
            earlier, self._jobs = self._jobs, []
            self._message(topic, payload)
            if self.lag == "immediate":
                earlier, self._jobs = earlier + self._jobs, []
            for job in earlier:  # set-ups scheduled before this message ran while it was handled
                job()

    def _message(self, topic: str, payload: bytes) -> None:
        match = TOPIC_MATCHER.match(topic.replace(f"{self.prefix}/", "", 1))
        if not match:
            return
        component, node_id, object_id = match.groups()
        found: list[tuple[str, str, str | None, dict]] = []
        if component == "device":
            if not payload:
                for platform, did in list(self.already_discovered):  # _generate_device_config: clean-up
                    node, _, obj = did.partition(" ")
                    if node == object_id:
                        found.append((platform, obj, object_id, {}))
            else:
                device = json.loads(payload)
                for cid, config in device.get("cmps", {}).items():
                    config = dict(config)
                    platform = config.pop("p")
                    found.append((platform, cid, object_id, config))
        else:
            found.append((component, object_id, node_id, json.loads(payload) if payload else {}))
        for platform, obj, node, config in found:
            discovery_id = f"{node} {obj}" if node else obj
            key = (platform, discovery_id)
            if key in self.pending:
                self.pending[key].appendleft((config, topic))
                self.log.append(f"queued {key}")
                return  # as Home Assistant does: the rest of this message is not looked at
            self._process(key, config, topic)

    def _process(self, key: tuple[str, str], config: dict, topic: str) -> None:
        already = key in self.already_discovered
        if (already or config) and key not in self.pending:
            self.pending[key] = deque()
        if config and not already:
            self.already_discovered.add(key)
            self._jobs.append(lambda: self._add_entity(key, config, topic))
        elif already:
            self._jobs.append(lambda: self._update_entity(key, config, topic))
        else:
            self.log.append(f"unhandled {key}")  # a removal for something not discovered since this start

    def _done(self, key: tuple[str, str]) -> None:
        queue = self.pending.get(key)
        if queue is None:
            return
        if not queue:
            del self.pending[key]
            return
        config, topic = queue.pop()
        self._process(key, config, topic)

    # ---------------------------------------------------------------- entity.py
    def _add_entity(self, key: tuple[str, str], config: dict, topic: str) -> None:
        platform = key[0]
        uid = config.get("unique_id", key[1])
        self.entities[key] = Entity(platform, uid, topic, config)
        self.registry[(platform, uid)] = config.get("name", "")
        self.log.append(f"added {key}")
        self._done(key)

    def _update_entity(self, key: tuple[str, str], config: dict, topic: str) -> None:
        entity = self.entities.get(key)
        if entity is None or entity.topic != topic:
            self.log.append(f"ignored {key} (other topic)")
        elif not config:
            del self.entities[key]
            self.already_discovered.discard(key)
            self.registry.pop((entity.platform, entity.unique_id), None)
            self.log.append(f"removed {key}")
        else:
            entity.config = config
            self.registry[(entity.platform, entity.unique_id)] = config.get("name", "")
        self._done(key)
