"""Names that would become one Home Assistant id (or one MQTT topic), found before anything is announced.

Entities are keyed by slugs: a label's by ``<node>_<label>_*``, a zone × label's by
``<node>_zone_<zone>_<label>_*``.  Different names can meet there: labels ``dog`` and ``hot dog`` with
zones ``front`` and ``front_hot`` both give ``…_zone_front_hot_dog_*``, and a label whose slug is
``zone_front_dog`` takes the id of zone ``front`` × ``dog``; Home Assistant keeps one and the other
silently vanishes.  A label named like one of the camera's own topics (``stats``, ``camera``, …) would
publish its count over that topic.  ``edgecam check`` refuses all of these, naming both sides.
"""

from __future__ import annotations

from typing import Iterable

from edgecam.names import slug
from edgecam.publishers.mqtt.topics import topic_level

# topic levels under <prefix>/<camera>/ that are not label counts
RESERVED_LEVELS = ("availability", "camera", "detections", "events", "owner", "set", "snapshot", "state",
                   "stats", "zone")


def id_collisions(labels: Iterable[str], zones: Iterable[tuple[str, Iterable[str]]]) -> list[tuple[str, str | None]]:
    """``(message, zone)`` per pair of names that share an entity id or topic; ``zone`` is the zone whose
    entry makes the second name (None: a label).

    ``labels`` get entities of their own; ``zones`` is ``(zone name, labels counted there)``."""
    owners: dict[str, str] = {}
    problems: list[tuple[str, str | None]] = []

    def claim(key: str, what: str, zone: str | None = None) -> None:
        first = owners.setdefault(key, what)
        if first != what:
            problems.append((f"{first} and {what} both become the Home Assistant id …_{key}_*; "
                             "rename one of them", zone))

    labels = list(dict.fromkeys(labels))
    for label in labels:
        if topic_level(label) in RESERVED_LEVELS:
            problems.append((f"label {label!r} would publish its count on the camera's own topic "
                             f"<prefix>/<camera>/{topic_level(label)}; leave it out of the labels or rename the class",
                             None))
        claim(slug(label), f"label {label!r}")
    for zone, zone_labels in zones:
        for label in list(dict.fromkeys(zone_labels)) or labels:
            claim(f"zone_{slug(zone)}_{slug(label)}", f"zone {zone!r} × label {label!r}", zone)
    return problems
