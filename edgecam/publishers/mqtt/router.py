"""The command router: ``<base>/set/<name>`` through the one command table, and Home Assistant's birth.

- ``<base>/set/+`` is subscribed; a command of :data:`commands.COMMANDS` has its payload parsed strictly
  and applied to the live :class:`~edgecam.controls.Controls` (which echo it on ``state/<name>``
  through the publisher); a bad payload, or a command not in the table, is logged as one warning and
  ignored (the daemon runs on).
- Home Assistant's birth topic: ``online`` asks for discovery to be sent again.  Home Assistant (or a
  flapping broker bridge) may repeat its birth thousands of times; the log gets one line per
  ``birth_log_s`` with the number of births since the last line.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from edgecam.controls import Controls
from edgecam.publishers.mqtt import commands
from edgecam.publishers.mqtt.topics import Topics

log = logging.getLogger(__name__)

BIRTH_LOG_S = 300.0
_COMMAND_QOS = 1


class CommandRouter:
    def __init__(
        self,
        topics: Topics,
        ha_status_topic: str | None,
        controls: Controls,
        on_ha_online: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        birth_log_s: float = BIRTH_LOG_S,
    ) -> None:
        self.controls = controls
        self._on_ha_online = on_ha_online
        self._clock = clock
        self.birth_log_s = birth_log_s
        self.births = 0
        self._births_unlogged = 0
        self._last_birth_log = -float("inf")
        self.topics = topics
        self.ha_status_topic = ha_status_topic

    def subscriptions(self) -> list[tuple[str, int]]:
        topics = [self.topics.command("+"), *([self.ha_status_topic] if self.ha_status_topic else [])]
        return [(topic, _COMMAND_QOS) for topic in topics]

    def handle(self, topic: str, payload: bytes) -> None:
        if topic == self.ha_status_topic:
            self._ha_status(payload)
            return
        name = self.topics.command_name(topic)
        if name is not None:
            self._command(name, payload)

    def _command(self, name: str, payload: bytes) -> None:
        command = commands.COMMANDS.get(name)
        if command is None:
            log.warning("MQTT command refused: set/%s is not a command; use one of %s", name[:64],
                        ", ".join(f"set/{known}" for known in commands.COMMANDS))
            return
        try:
            value = command.parse(payload)
            command.apply(self.controls, value)
        except ValueError as exc:
            log.warning("MQTT command ignored: %s", exc)
            return
        log.info("MQTT command accepted: %s = %s", name, value)

    def _ha_status(self, payload: bytes) -> None:
        if payload.strip() != b"online":
            return
        self.births += 1
        self._births_unlogged += 1
        now = self._clock()
        if now - self._last_birth_log >= self.birth_log_s:
            more = f" ({self._births_unlogged} births since the last such line)" if self.births > 1 else ""
            log.info("Home Assistant is online; re-sending discovery%s", more)
            self._last_birth_log = now
            self._births_unlogged = 0
        self._on_ha_online()
