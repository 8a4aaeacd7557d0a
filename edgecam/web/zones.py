"""The zone/mask editor's server side: a drawn polygon → the exact TOML to paste, checked by the same
validation as ``edgecam check`` (handed in by the app as ``parse_config``: the live view sits below the
config that composes it), and tested live against the current tracks (counts per label).
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Sequence

import numpy as np

from edgecam.domain import TrackView
from edgecam.errors import ConfigError
from edgecam.tracking.settings import MaskSettings, ZoneSettings

MAX_POINTS = 64
MAX_LABELS = 100
MAX_TEXT = 64

# ``parse_config(text, filename=...)``: raises ConfigError (``FILE:LINE: problem``) where ``edgecam check`` would
ParseConfig = Callable[..., Any]


class DraftError(ValueError):
    """The request body is not a draft polygon at all (HTTP 400); config problems are reported instead."""


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise DraftError(f"{what} must be a string of at most {MAX_TEXT} characters")
    return value


def parse_draft(body: Any) -> dict:
    """Check the shape of ``{"kind", "name", "points", "labels"}`` (and ``replaces``: the name of the
    configured zone this one edits); points are rounded to 3 decimals."""
    if not isinstance(body, dict):
        raise DraftError("expected a JSON object {kind, name, points, labels}")
    unknown = set(body) - {"kind", "name", "points", "labels", "replaces"}
    if unknown:
        raise DraftError(f"unknown field(s) {', '.join(sorted(unknown))}")
    kind = body.get("kind", "zone")
    if kind not in ("zone", "mask"):
        raise DraftError("kind must be \"zone\" or \"mask\"")
    points = body.get("points", [])
    if not isinstance(points, list) or len(points) > MAX_POINTS:
        raise DraftError(f"points must be a list of at most {MAX_POINTS} [x, y] pairs")
    out_points = []
    for p in points:
        if (not isinstance(p, list) or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)):
            raise DraftError("every point must be [x, y] with finite numbers")
        out_points.append([round(float(p[0]), 3), round(float(p[1]), 3)])
    labels = body.get("labels", [])
    if not isinstance(labels, list) or len(labels) > MAX_LABELS:
        raise DraftError(f"labels must be a list of at most {MAX_LABELS} names")
    return {
        "kind": kind,
        "replaces": _text(body.get("replaces", ""), "replaces"),  # the configured zone being edited
        "name": _text(body.get("name", ""), "name") if kind == "zone" else "",
        "points": out_points,
        "labels": [_text(v, "label") for v in labels],
    }


def draft_toml(draft: dict) -> str:
    """The TOML table to paste into the config (relative coordinates)."""
    pts = ", ".join(f"[{float(x)!r}, {float(y)!r}]" for x, y in draft["points"])
    labels = ", ".join(json.dumps(v) for v in draft["labels"])
    lines = [f"[[{draft['kind']}s]]"]
    if draft["kind"] == "zone":
        lines.append(f"name = {json.dumps(draft['name'])}")
    lines += [f"points = [{pts}]", f"labels = [{labels}]", 'coordinates = "relative"']
    return "\n".join(lines) + "\n"


def draft_problem(toml_text: str, draft: dict, zone_names: Sequence[str], class_names: Sequence[str],
                  parse_config: ParseConfig | None) -> str | None:
    """Why the snippet would not pass ``edgecam check``, or None when it would (the file itself is
    checked only when a ``parse_config`` is given)."""
    if draft["kind"] == "zone" and draft["name"] in zone_names and draft["name"] != draft.get("replaces"):
        return f"a zone named {draft['name']!r} is already configured; pick another name"
    unknown = [v for v in draft["labels"] if class_names and v not in class_names]
    if unknown:
        return f"label(s) {', '.join(unknown)} are not classes of the model; pick from the list"
    if parse_config is None:
        return None
    try:
        parse_config(toml_text, filename="snippet")
    except ConfigError as exc:
        return str(exc).removeprefix("snippet:").lstrip("0123456789: ")
    return None


def draft_counts(draft: dict, tracks: Sequence[TrackView], width: int, height: int) -> dict[str, int]:
    """Current confirmed tracks per label inside the drawn polygon (zone) or dropped by it (mask)."""
    from edgecam.tracking.regions import Regions, bottom_centres

    if len(draft["points"]) < 3 or not tracks or width <= 0 or height <= 0:
        return {}
    points = tuple(tuple(p) for p in draft["points"])
    if draft["kind"] == "zone":
        regions = Regions([ZoneSettings(name="draft", points=points, labels=tuple(draft["labels"]))])
    else:
        regions = Regions(masks=[MaskSettings(points=points, labels=tuple(draft["labels"]))])
    centres = bottom_centres(np.asarray([t.box for t in tracks], np.float64))
    labels = np.asarray([t.label for t in tracks], dtype=object)
    if draft["kind"] == "zone":
        inside = regions.membership(centres, labels, width, height)[:, 0]
    else:
        inside = regions.masked(centres, labels, width, height)
    counts: dict[str, int] = {}
    for label in labels[inside].tolist():
        counts[label] = counts.get(label, 0) + 1
    return counts


def configured_regions(zones: Sequence[ZoneSettings], masks: Sequence[MaskSettings]) -> dict:
    """``GET /api/zones``: the configured zones and masks as the config has them."""
    return {
        "zones": [{"name": z.name, "points": [list(p) for p in z.points], "labels": list(z.labels),
                   "coordinates": z.coordinates} for z in zones],
        "masks": [{"points": [list(p) for p in m.points], "labels": list(m.labels),
                   "coordinates": m.coordinates} for m in masks],
    }
