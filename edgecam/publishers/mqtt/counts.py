"""The retained count topics (``<base>/<label>``, ``<base>/zone/<zone>/<label>``), true after any start.

Each label also has ``<base>/<label>/attributes``, ``{"stationary": n}``: how many of the counted
objects are stationary (the count/occupancy entities' attributes in Home Assistant).

At start every announced label and zone × label reads 0 (a count left behind by a crash is
overwritten), and the retained count of a label or zone no longer announced (a config change) is
deleted with an empty retained payload; ``counts.json`` in the state directory remembers which
topics this camera publishes.  After that only changes are sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from edgecam.publishers.mqtt.messages import changed_counts, encode
from edgecam.publishers.mqtt.topics import Topics
from edgecam.records import load_record, save_record

RECORD = "counts.json"


def stationary_counts(tracks: Iterable[Any]) -> dict[str, int]:
    """How many of ``tracks`` (confirmed :class:`~edgecam.domain.TrackView`\\ s) are stationary, per label."""
    out: dict[str, int] = {}
    for t in tracks:
        if t.stationary:
            out[t.label] = out.get(t.label, 0) + 1
    return out


class RetainedCounts:
    def __init__(self, topics: Topics, state_dir: Path) -> None:
        self.topics = topics
        self.path = Path(state_dir) / RECORD
        self._published: dict[Any, int] = {}
        self._topics: set[str] = set()

    def _topic(self, key: Any) -> str:
        if isinstance(key, str):
            return self.topics.count(key)
        if key[0] == "stationary":
            return self.topics.attributes(key[1])
        return self.topics.zone_count(key[1], key[2])

    @staticmethod
    def _payload(key: Any, value: int) -> bytes:
        return encode({"stationary": value}) if isinstance(key, tuple) and key[0] == "stationary" else str(value).encode()

    def start(self, labels: Iterable[str], zones: Iterable[str],
              zone_labels: Mapping[str, Iterable[str]] | None = None) -> list[tuple[str, bytes]]:
        """The messages for a start: 0 for every label and zone × label (a zone in ``zone_labels``: its
        labels only), deletions for dropped topics."""
        labels, zones = sorted(set(labels)), sorted(set(zones))
        watched = {z: sorted(set(ls)) for z, ls in (zone_labels or {}).items() if ls}
        keys: list[Any] = [*labels, *(("zone", z, label) for z in zones for label in watched.get(z, labels)),
                           *(("stationary", label) for label in labels)]
        self._published = {k: 0 for k in keys}
        self._topics = {self._topic(k) for k in keys}
        out = [(self._topic(k), self._payload(k, 0)) for k in keys]
        recorded = load_record(self.path).get("topics")
        if isinstance(recorded, list):
            out += [(t, b"") for t in sorted({t for t in recorded if isinstance(t, str)} - self._topics)]
        self._save()
        return out

    def fold(self, counts: Mapping[str, int], zone_counts: Mapping[tuple[str, str], int],
             stationary: Mapping[str, int] | None = None) -> list[tuple[str, bytes]]:
        """The messages for the counts' changes since the last call (``stationary``: per label, 0 if absent)."""
        current: dict[Any, int] = dict(counts)
        current.update({("zone",) + k: v for k, v in zone_counts.items()})
        current.update({("stationary", label): (stationary or {}).get(label, 0) for label in counts})
        changed = changed_counts(self._published, current)
        self._published.update(changed)
        out = [(self._topic(k), self._payload(k, v)) for k, v in changed.items()]
        new = {t for t, _ in out} - self._topics
        if new:
            self._topics |= new
            self._save()
        return out

    def _save(self) -> None:
        save_record(self.path, {"topics": sorted(self._topics)}, durable=False)
