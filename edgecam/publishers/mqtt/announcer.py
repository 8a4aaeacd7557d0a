"""What to announce to Home Assistant, and the record of what was announced (for removals).

The record (``discovery.json`` in the state directory) keeps the components announced now, every
component ever announced and gone since (each sent again as a removal marker ``{"p": platform}`` in
*every* announcement: Home Assistant removes an entity only when it receives that marker, and a
config it missed must not leave stale entities), the labels/zones learnt at run time, and the stats
keys the diagnostic entities read.  With discovery switched off, a device announced before is removed
(empty retained config).  A corrupt record is moved aside (see ``edgecam/records.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from edgecam.names import slug_collisions
from edgecam.publishers.mqtt import discovery
from edgecam.publishers.mqtt.messages import encode
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.publishers.mqtt.topics import Topics, discovery_topic
from edgecam.records import load_record, save_record

log = logging.getLogger(__name__)

RECORD = "discovery.json"


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def _str_set(value: object) -> set[str]:
    return {str(v) for v in value} if isinstance(value, list) else set()


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
        qos: int = 1,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.camera_id = camera_id
        self.qos = qos
        self.path = Path(state_dir) / RECORD
        self.fixed_labels = tuple(labels)
        self.fixed_zones = tuple(zones)
        record = load_record(self.path)
        self.previous: dict[str, str] = _str_map(record.get("components"))
        self.removed: dict[str, str] = _str_map(record.get("removed"))
        self.labels: set[str] = set(self.fixed_labels) or _str_set(record.get("labels")) | set(default_labels)
        self.zones: set[str] = set(self.fixed_zones) or _str_set(record.get("zones"))
        recorded = _str_set(record.get("diagnostics")) & discovery.DIAGNOSTIC_KEYS
        self.diagnostics: set[str] = recorded or set(discovery.DEFAULT_DIAGNOSTICS)
        self._pending: tuple[dict[str, str], dict[str, str]] | None = None
        self._warned: dict[str, set[str]] = {}

    @property
    def topic(self) -> str:
        return discovery_topic(self.settings.prefix, discovery.node_id(self.camera_id))

    def observe(self, labels: Iterable[str], zones: Iterable[str]) -> bool:
        """Learn labels/zones seen at run time; True if the announced set grew."""
        grew = False
        if not self.fixed_labels:
            new = self._distinct(set(labels) - self.labels, self.labels, "label")
            if new:
                self.labels |= new
                grew = True
        if not self.fixed_zones:
            new = self._distinct(set(zones) - self.zones, self.zones, "zone")
            if new:
                self.zones |= new
                grew = True
        return grew and self.settings.discovery

    def _distinct(self, new: set[str], known: set[str], what: str) -> set[str]:
        """``new`` without names whose Home Assistant id collides with a known one (warned once each)."""
        for first, second in slug_collisions([*sorted(known), *sorted(new)]):
            if second in new:
                new.discard(second)
                known_bad = self._warned.setdefault(what, set())
                if second not in known_bad:
                    known_bad.add(second)
                    log.warning("%s %r has the same Home Assistant id as %r; it gets no entities of its own "
                                "(rename one of them)", what, second, first)
        return new

    def observe_stats(self, keys: Iterable[str]) -> bool:
        """The stats keys actually sent; True if the diagnostic entities must change to match them."""
        present = set(keys) & discovery.DIAGNOSTIC_KEYS
        if present == self.diagnostics:
            return False
        self.diagnostics = present
        return self.settings.discovery

    def messages(self) -> list[tuple[str, bytes]]:
        """Discovery messages to publish now (retained); call :meth:`commit` once they are sent."""
        if not self.settings.discovery:
            self._pending = ({}, {})
            return [(self.topic, b"")] if self.previous else []
        current = discovery.components(self.topics, self.camera_id, self.labels, self.zones,
                                       self.diagnostics, self.qos)
        gone = {**self.removed, **{cid: p for cid, p in self.previous.items()}}
        removed = {cid: p for cid, p in sorted(gone.items()) if cid not in current}
        cmps = {**current, **discovery.removals(removed, current)}
        payload = discovery.device_payload(self.topics, self.camera_id, cmps, self.settings.device_name, self.qos)
        self._pending = ({cid: cfg["p"] for cid, cfg in current.items()}, removed)
        return [(self.topic, encode(payload))]

    def commit(self) -> None:
        """Remember what the last :meth:`messages` announced (and what it marked removed)."""
        if self._pending is None:
            return
        (self.previous, self.removed), self._pending = self._pending, None
        if not self.previous:
            self.removed = {}
            self.path.unlink(missing_ok=True)
            return
        save_record(self.path, {
            "components": self.previous,
            "removed": self.removed,
            "labels": sorted(self.labels) if not self.fixed_labels else [],
            "zones": sorted(self.zones) if not self.fixed_zones else [],
            "diagnostics": sorted(self.diagnostics),
        }, durable=False)
