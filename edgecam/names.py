"""Names as ids: the slug Home Assistant ids and state directories use, and names that must stay distinct after it
(labels, classes, zones → MQTT / Home Assistant ids)."""

from __future__ import annotations

import re
from collections.abc import Iterable

_SLUG = re.compile(r"[^a-z0-9_]+")


def slug(name: str) -> str:
    """Lower-case ``[a-z0-9_]`` form of ``name`` for Home Assistant ids (``traffic light`` → ``traffic_light``)."""
    return _SLUG.sub("_", name.lower()).strip("_") or "x"


def slug_collisions(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of different names that :func:`slug` maps to the same id (``person``/``Person``), in input
    order; such names would share one Home Assistant entity (or topic), so one of them would vanish."""
    first: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for name in names:
        key = slug(name)
        if key in first and first[key] != name:
            pairs.append((first[key], name))
        first.setdefault(key, name)
    return pairs


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
