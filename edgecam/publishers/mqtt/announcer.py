"""What to announce to Home Assistant, and the record of what was announced (for removals).

The record (``discovery.json`` in the state directory) lists the component ids and platforms last
announced, plus labels/zones learnt at run time, so a label dropped from the config is removed
from Home Assistant even after a restart.  With discovery switched off, a device announced before
is removed (empty retained config).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterable

from edgecam.publishers.mqtt import discovery
from edgecam.publishers.mqtt.messages import encode
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.publishers.mqtt.topics import Topics, discovery_topic

log = logging.getLogger(__name__)

RECORD = "discovery.json"


class Announcer:
    """Builds discovery messages. Labels/zones given explicitly are fixed; when empty, the ones
    seen in counts are announced as they appear (and remembered across restarts), on top of
    ``default_labels`` announced from the start (so automations can exist before a first sighting)."""

    def __init__(
        self,
        settings: HomeAssistantSettings,
        topics: Topics,
        camera_id: str,
        state_dir: Path,
        labels: Iterable[str] = (),
        zones: Iterable[str] = (),
        default_labels: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.camera_id = camera_id
        self.path = Path(state_dir) / RECORD
        self.fixed_labels = tuple(labels)
        self.fixed_zones = tuple(zones)
        record = self._load()
        self.previous: dict[str, str] = dict(record.get("components", {}))
        self.labels: set[str] = set(self.fixed_labels) or set(record.get("labels", [])) | set(default_labels)
        self.zones: set[str] = set(self.fixed_zones) or set(record.get("zones", []))
        self._pending: dict[str, str] | None = None

    @property
    def topic(self) -> str:
        return discovery_topic(self.settings.prefix, discovery.node_id(self.camera_id))

    def observe(self, labels: Iterable[str], zones: Iterable[str]) -> bool:
        """Learn labels/zones seen at run time; True if the announced set grew."""
        grew = False
        if not self.fixed_labels:
            new = set(labels) - self.labels
            if new:
                self.labels |= new
                grew = True
        if not self.fixed_zones:
            new = set(zones) - self.zones
            if new:
                self.zones |= new
                grew = True
        return grew and self.settings.discovery

    def messages(self) -> list[tuple[str, bytes]]:
        """Discovery messages to publish now (retained); call :meth:`commit` once they are sent."""
        if not self.settings.discovery:
            self._pending = {}
            return [(self.topic, b"")] if self.previous else []
        current = discovery.components(self.topics, self.camera_id, self.labels, self.zones)
        cmps = {**current, **discovery.removals(self.previous, current)}
        payload = discovery.device_payload(self.topics, self.camera_id, cmps, self.settings.device_name)
        self._pending = {cid: cfg["p"] for cid, cfg in current.items()}
        return [(self.topic, encode(payload))]

    def commit(self) -> None:
        """Remember what the last :meth:`messages` announced."""
        if self._pending is None:
            return
        self.previous, self._pending = self._pending, None
        if not self.previous:
            self.path.unlink(missing_ok=True)
            return
        record = {
            "components": self.previous,
            "labels": sorted(self.labels) if not self.fixed_labels else [],
            "zones": sorted(self.zones) if not self.fixed_zones else [],
        }
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot write %s (%s); removed labels may linger in Home Assistant", self.path, exc)

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable discovery record %s (%s)", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}
