"""What to announce to Home Assistant, and the record of what was announced (for removals).

The record (``discovery.json`` in the state directory) keeps the components announced now, every
component ever announced and gone since (each sent again as a removal marker ``{"p": platform}`` in
*every* announcement: Home Assistant removes an entity only when it receives that marker, and a
config it missed must not leave stale entities), the last config of each (``configs``), the labels/zones
learnt at run time, and the stats keys the diagnostic entities read.  With discovery switched off, a
device announced before is removed (empty retained config).  A corrupt record is moved aside (see
``edgecam/records.py``).

**Removals that land.**  Home Assistant honours a removal marker only for a component it discovered
since its own last start (``homeassistant/components/mqtt/discovery.py``: an empty component config
for a hash not in ``discovery_already_discovered`` is dropped); the entities it merely restored from
its registry stay, ``unavailable``, forever.  So a component removed while Home Assistant was down, or
before it restarted, is ``unsettled``: on Home Assistant's next birth message, before the regular
announcement, each unsettled component is sent as its own device message with its full config (Home
Assistant discovers it again), then as its own device message with only the marker (Home Assistant
removes it; one component per message, because Home Assistant skips the rest of a device message
once it meets a component whose previous discovery is still being set up).  Both are sent without
``retain``: the retained config stays the regular one.  After that the component is settled and is
never sent in full again (the record keeps that across restarts).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable, Mapping

from edgecam.names import slug_collisions
from edgecam.publishers.mqtt import discovery
from edgecam.publishers.mqtt.messages import encode
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.publishers.mqtt.topics import Topics, discovery_topic
from edgecam.records import load_record, move_aside, save_record

log = logging.getLogger(__name__)

RECORD = "discovery.json"


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)}


def _str_set(value: object) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _record_problem(record: dict) -> str | None:
    """Why a discovery record read back is not one this module wrote, or None."""
    for key in ("components", "removed"):
        value = record.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return f'"{key}" is not an object of strings'
    for key in ("labels", "zones", "diagnostics"):
        value = record.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f'"{key}" is not a list of strings'
    return None


def _configs(value: object) -> dict[str, dict]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, dict) and isinstance(v.get("p"), str)}


def _stand_in(topics: Topics, cid: str, platform: str) -> dict:
    """A config Home Assistant accepts for any of our platforms, when the real one was not recorded."""
    topic = f"{topics.base}/removed"
    return {"p": platform, "unique_id": cid, "name": "Removed", "state_topic": topic, "command_topic": topic,
            "image_topic": topic}


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
        zone_labels: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.camera_id = camera_id
        self.qos = qos
        self.path = Path(state_dir) / RECORD
        self.fixed_labels = tuple(labels)
        self.fixed_zones = tuple(zones)
        self.zone_labels = {z: tuple(ls) for z, ls in (zone_labels or {}).items() if ls}  # zones that watch some labels
        record = load_record(self.path)
        problem = _record_problem(record)
        if problem is not None:
            move_aside(self.path, problem)
            record = {}
        self.previous: dict[str, str] = _str_map(record.get("components"))
        self.removed: dict[str, str] = _str_map(record.get("removed"))
        self.configs: dict[str, dict] = _configs(record.get("configs"))
        # removed components Home Assistant has not yet been seen to drop after one of its births (a
        # record from before this field: every removed one)
        self.unsettled: set[str] = (_str_set(record["unsettled"]) if "unsettled" in record
                                    else set(self.removed)) & set(self.removed)
        self.labels: set[str] = set(self.fixed_labels) or _str_set(record.get("labels")) | set(default_labels)
        self.zones: set[str] = set(self.fixed_zones) or _str_set(record.get("zones"))
        recorded = _str_set(record.get("diagnostics")) & discovery.DIAGNOSTIC_KEYS
        self.diagnostics: set[str] = recorded or set(discovery.DEFAULT_DIAGNOSTICS)
        self._pending: tuple[dict[str, str], dict[str, str], dict[str, dict], set[str]] | None = None
        self._resent: set[str] = set()
        self._read: set[str] = set()  # stats keys that carried a reading in this run
        self._warned: dict[str, set[str]] = {}
        self.last_snapshots = False  # the event history feeds a "Last <label>" image per label

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

    def observe_stats(self, keys: Iterable[str], readings: Iterable[str] | None = None) -> bool:
        """The stats keys actually sent, and those of them with a reading (not None); True if the
        diagnostic entities must change to match.  An entity is announced once its key has had a
        reading in this run (a SoC temperature with no sensor never does) and kept while the key is sent."""
        keys = set(keys)
        self._read |= set(keys if readings is None else readings)
        present = keys & self._read & discovery.DIAGNOSTIC_KEYS
        if present == self.diagnostics:
            return False
        self.diagnostics = present
        return self.settings.discovery

    def send(self, publish: Callable[[str, bytes, bool], bool], birth: bool = False) -> bool:
        """Hand everything to ``publish(topic, payload, retain)`` — after a birth the re-sent removals
        first (not retained), then the regular config (retained) — and :meth:`commit`; False (nothing
        committed) as soon as ``publish`` refuses one."""
        for topic, payload in self.birth_messages() if birth else []:
            if not publish(topic, payload, False):
                return False
        for topic, payload in self.messages():
            if not publish(topic, payload, True):
                return False
        self.commit()
        return True

    def birth_messages(self) -> list[tuple[str, bytes]]:
        """On Home Assistant's birth, before :meth:`messages`: for every unsettled removed component,
        its full config, then its removal marker, each alone in a device message (not retained)."""
        self._resent = set()
        if not self.settings.discovery:
            return []
        current = self._current()
        out: list[tuple[str, bytes]] = []
        for cid, platform in sorted(self._removed_now(current).items()):
            if cid not in self.unsettled and cid in self.removed:
                continue
            config = dict(self.configs.get(cid) or _stand_in(self.topics, cid, platform))
            config["qos"] = self.qos
            for cmps in ({cid: config}, {cid: {"p": platform}}):
                payload = discovery.device_payload(self.topics, self.camera_id, cmps, self.settings.device_name,
                                                   self.qos)
                out.append((self.topic, encode(payload)))
            self._resent.add(cid)
        if out:
            log.info("Home Assistant started: re-discovering and removing %d component(s) it may still hold",
                     len(self._resent))
        return out

    def _current(self) -> dict[str, dict]:
        return discovery.components(self.topics, self.camera_id, self.labels, self.zones, self.diagnostics, self.qos,
                                   self.zone_labels, self.last_snapshots)

    def _removed_now(self, current: dict[str, dict]) -> dict[str, str]:
        gone = {**self.removed, **self.previous}
        return {cid: p for cid, p in sorted(gone.items()) if cid not in current}

    def messages(self) -> list[tuple[str, bytes]]:
        """Discovery messages to publish now (retained); call :meth:`commit` once they are sent."""
        if not self.settings.discovery:
            self._pending = ({}, {}, {}, set())
            return [(self.topic, b"")] if self.previous else []
        current = self._current()
        removed = self._removed_now(current)
        cmps = {**current, **discovery.removals(removed, current)}
        payload = discovery.device_payload(self.topics, self.camera_id, cmps, self.settings.device_name, self.qos)
        configs = {cid: cfg for cid, cfg in self.configs.items() if cid in removed}
        configs.update(current)
        unsettled = (self.unsettled | (set(removed) - set(self.removed))) & set(removed)
        self._pending = ({cid: cfg["p"] for cid, cfg in current.items()}, removed, configs, unsettled)
        return [(self.topic, encode(payload))]

    def commit(self) -> None:
        """Remember what the last :meth:`messages` announced (and what it marked removed); components
        re-sent by :meth:`birth_messages` before it are settled."""
        if self._pending is None:
            return
        (self.previous, self.removed, self.configs, unsettled), self._pending = self._pending, None
        self.unsettled = unsettled - self._resent
        self._resent = set()
        if not self.previous:
            self.removed, self.configs, self.unsettled = {}, {}, set()
            self.path.unlink(missing_ok=True)
            return
        save_record(self.path, {
            "components": self.previous,
            "removed": self.removed,
            "unsettled": sorted(self.unsettled),
            "configs": self.configs,
            "labels": sorted(self.labels) if not self.fixed_labels else [],
            "zones": sorted(self.zones) if not self.fixed_zones else [],
            "diagnostics": sorted(self.diagnostics),
        }, durable=False)
