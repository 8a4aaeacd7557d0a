"""Names that must stay distinct after normalisation (labels, classes, zones → MQTT / Home Assistant ids)."""

from __future__ import annotations

from collections.abc import Iterable

from edgecam.publishers.mqtt.topics import slug


def unique_names(names: Iterable[str], what: str) -> tuple[str, ...]:
    """``names`` as a tuple if none is blank and no two share a slug; else ValueError naming both spellings."""
    seen: dict[str, str] = {}
    out = tuple(names)
    for name in out:
        if not name.strip():
            raise ValueError(f"a {what} name is empty; remove it or give it a name")
        key = slug(name)
        if key in seen:
            first = seen[key]
            same = "are listed twice" if first == name else f"become the same id {key!r}"
            raise ValueError(f"{what} names {first!r} and {name!r} {same}; keep one of them")
        seen[key] = name
    return out
