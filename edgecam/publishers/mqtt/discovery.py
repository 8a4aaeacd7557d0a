"""Home Assistant MQTT discovery payloads, built by pure functions.

Uses device-based discovery (one retained config per camera on ``<ha>/device/<node_id>/config`` with
``dev``, ``o`` and ``cmps``).  A component that was announced before but is no longer wanted is sent
once more as ``{"p": <platform>}`` only, which tells Home Assistant to remove that entity.

Entities per camera:

Names follow one style (:func:`entity_name`: ``Person count``, ``Driveway person occupancy``); counts
have a unit; every control has an icon.

- per label: ``binary_sensor`` occupancy and ``sensor`` count (state: ``<base>/<label>``)
- per zone × label: ``binary_sensor`` occupancy and ``sensor`` count (``<base>/zone/<zone>/<label>``), for
  the labels the zone lists (``zone_labels``), or every label when it lists none
- ``image`` snapshot (``<base>/snapshot``, ``image/jpeg``)
- ``binary_sensor`` camera connectivity (``<base>/camera``: ``online``/``offline``)
- with the event history on (``last_snapshots``), per label an ``image`` "Last <label>": the best snapshot of
  the last ended event with that label (``<base>/<label>/snapshot``)
- diagnostic: fps, inference ms, SoC temperature, dropped frames (``sensor``), throttled
  (``binary_sensor``), read from the stats JSON with ``value_template``; only those whose stats key
  carries a reading (``diagnostics``: no entity that could only ever be unknown), and each template
  renders ``None`` (Home Assistant: unknown) rather
  than warning when its key is missing from one message
- ``switch`` detection on/off and ``number`` confidence threshold (``set/…`` and ``state/…``), whose
  range is the one of :mod:`edgecam.confidence`

Every component carries ``qos``: Home Assistant does not inherit the device-level option.

Availability is per component (a list, so no component mixes it with a device-level
``availability_topic``): every entity follows the daemon's ``availability``; the counts, occupancies
and the snapshot also follow the camera (``<base>/camera``) with ``availability_mode: all``, so they
read *unavailable* rather than a stale number while the camera is down.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from edgecam import __version__
from edgecam.confidence import CONF_MAX, CONF_MIN, CONF_STEP
from edgecam.names import slug
from edgecam.publishers.mqtt.topics import Topics

ORIGIN = {"name": "edgecam", "sw": __version__, "url": "https://github.com/edgecam/edgecam"}

_OCCUPIED = "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}"


def _stats_value(key: str) -> str:
    return "{{ value_json.%s if value_json.%s is defined else None }}" % (key, key)


def _stats_flag(key: str) -> str:
    return ("{{ None if value_json.%s is not defined or value_json.%s is none "
            "else ('ON' if value_json.%s else 'OFF') }}" % (key, key, key))

# (object id, name, stats key, extra config) of the diagnostic sensors fed by the stats JSON
_DIAGNOSTIC_SENSORS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("fps", "FPS", "fps", {"unit_of_measurement": "fps", "state_class": "measurement"}),
    ("inference_ms", "Inference time", "inference_ms",
     {"unit_of_measurement": "ms", "state_class": "measurement", "device_class": "duration"}),
    ("temperature", "SoC temperature", "temperature_c",
     {"unit_of_measurement": "°C", "state_class": "measurement", "device_class": "temperature"}),
    ("dropped_frames", "Dropped frames", "dropped_frames",
     {"unit_of_measurement": "frames", "state_class": "total_increasing", "icon": "mdi:image-off-outline"}),
    ("reconnects", "Camera reconnects", "reconnects",
     {"unit_of_measurement": "reconnects", "state_class": "total_increasing", "icon": "mdi:camera-retake"}),
    ("camera_error", "Camera last error", "last_error",
     {"icon": "mdi:camera-off",  # a state holds at most 255 characters
      "value_template": "{{ (value_json.last_error or '')[:250] if value_json.last_error is defined else None }}"}),
)
_THROTTLED_KEY = "throttled"

# Every stats key a diagnostic entity reads; DEFAULT_DIAGNOSTICS are sent by every pipeline.
DIAGNOSTIC_KEYS = frozenset({key for _, _, key, _ in _DIAGNOSTIC_SENSORS} | {_THROTTLED_KEY})
DEFAULT_DIAGNOSTICS = frozenset({"fps", "inference_ms", "dropped_frames"})


def _availability(topics: Topics, camera: bool) -> dict[str, Any]:
    """The daemon's availability, and with ``camera`` also the camera's (both must be ``online``)."""
    daemon = [{"topic": topics.availability, "payload_available": "online", "payload_not_available": "offline"}]
    if not camera:
        return {"availability": daemon}
    both = daemon + [{"topic": topics.camera_status, "payload_available": "online",
                      "payload_not_available": "offline"}]
    return {"availability": both, "availability_mode": "all"}


def node_id(camera_id: str) -> str:
    """The Home Assistant node / device identifier of a camera."""
    return f"edgecam_{slug(camera_id)}"


COUNT_UNIT = "objects"


def entity_name(*words: str) -> str:
    """One naming style for every entity: words joined, ``_`` shown as a space, first letter capital
    (``("driveway", "person", "occupancy")`` → ``Driveway person occupancy``)."""
    text = " ".join(w.replace("_", " ").strip() for w in words if w.strip())
    return text[:1].upper() + text[1:]


def _label_components(topics: Topics, node: str, label: str, zone: str | None) -> dict[str, dict[str, Any]]:
    attributes: dict[str, str] = {}
    if zone is None:
        key, state, words = f"{node}_{slug(label)}", topics.count(label), (label,)
        attributes = {"json_attributes_topic": topics.attributes(label)}  # {"stationary": n}
    else:
        key, state, words = f"{node}_zone_{slug(zone)}_{slug(label)}", topics.zone_count(zone, label), (zone, label)
    return {
        f"{key}_occupancy": {
            "p": "binary_sensor",
            "name": entity_name(*words, "occupancy"),
            "unique_id": f"{key}_occupancy",
            "state_topic": state,
            "value_template": _OCCUPIED,
            "device_class": "occupancy",
            **attributes,
            **_availability(topics, camera=True),
        },
        f"{key}_count": {
            "p": "sensor",
            "name": entity_name(*words, "count"),
            "unique_id": f"{key}_count",
            "state_topic": state,
            "state_class": "measurement",
            "unit_of_measurement": COUNT_UNIT,
            "icon": "mdi:counter",
            **attributes,
            **_availability(topics, camera=True),
        },
    }


def components(
    topics: Topics,
    camera_id: str,
    labels: Iterable[str],
    zones: Iterable[str] = (),
    diagnostics: Iterable[str] = DEFAULT_DIAGNOSTICS,
    qos: int = 1,
    zone_labels: Mapping[str, Iterable[str]] | None = None,
    last_snapshots: bool = False,
) -> dict[str, dict[str, Any]]:
    """Every component config (keyed by component id) for a camera tracking ``labels`` in ``zones``
    (a zone listed in ``zone_labels`` with labels: only those), with diagnostic entities for the stats
    keys in ``diagnostics``; each with ``qos``."""
    diagnostics = set(diagnostics)
    node = node_id(camera_id)
    labels = sorted(set(labels))
    zones = sorted(set(zones))
    out: dict[str, dict[str, Any]] = {}
    for label in labels:
        out.update(_label_components(topics, node, label, None))
        if last_snapshots:
            out[f"{node}_{slug(label)}_last"] = {"p": "image", "name": f"Last {label}",
                                                  "unique_id": f"{node}_{slug(label)}_last",
                                                  "image_topic": topics.last_snapshot(label), "content_type": "image/jpeg"}
    for zone in zones:
        for label in sorted(set((zone_labels or {}).get(zone, ()))) or labels:
            out.update(_label_components(topics, node, label, zone))
    out[f"{node}_snapshot"] = {
        "p": "image",
        "name": "Snapshot",
        "unique_id": f"{node}_snapshot",
        "image_topic": topics.snapshot,
        "content_type": "image/jpeg",
        **_availability(topics, camera=True),
    }
    out[f"{node}_camera"] = {
        "p": "binary_sensor",
        "name": "Camera",
        "unique_id": f"{node}_camera",
        "state_topic": topics.camera_status,
        "payload_on": "online",
        "payload_off": "offline",
        "device_class": "connectivity",
        "entity_category": "diagnostic",
    }
    for obj, name, key, extra in _DIAGNOSTIC_SENSORS:
        if key not in diagnostics:
            continue
        out[f"{node}_{obj}"] = {
            "p": "sensor",
            "name": name,
            "unique_id": f"{node}_{obj}",
            "state_topic": topics.stats,
            "value_template": _stats_value(key),
            "entity_category": "diagnostic",
            **extra,
        }
    if _THROTTLED_KEY in diagnostics:
        out[f"{node}_throttled"] = {
            "p": "binary_sensor",
            "name": "Throttled",
            "unique_id": f"{node}_throttled",
            "state_topic": topics.stats,
            "value_template": _stats_flag(_THROTTLED_KEY),
            "device_class": "problem",
            "entity_category": "diagnostic",
        }
    out[f"{node}_detection"] = {
        "p": "switch",
        "name": "Detection",
        "unique_id": f"{node}_detection",
        "command_topic": topics.command("detection"),
        "state_topic": topics.state("detection"),
        "payload_on": "ON",
        "payload_off": "OFF",
        "entity_category": "config",
        "icon": "mdi:motion-sensor",
    }
    out[f"{node}_conf"] = {
        "p": "number",
        "name": "Confidence threshold",
        "unique_id": f"{node}_conf",
        "command_topic": topics.command("conf"),
        "state_topic": topics.state("conf"),
        "min": CONF_MIN,
        "max": CONF_MAX,
        "step": CONF_STEP,
        "mode": "slider",
        "entity_category": "config",
        "icon": "mdi:target",
    }
    for cfg in out.values():
        cfg["qos"] = qos
        cfg.setdefault("availability", _availability(topics, camera=False)["availability"])
    return out


def removals(previous: dict[str, str], current: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """``{"p": platform}`` entries for components announced before (``previous``: id → platform) but gone now."""
    return {cid: {"p": platform} for cid, platform in sorted(previous.items()) if cid not in current}


def stats_template_keys(cmps: dict[str, dict[str, Any]]) -> set[str]:
    """The stats JSON keys the components' value templates read (for checks against the stats sent)."""
    keys: set[str] = set()
    for cfg in cmps.values():
        template = cfg.get("value_template", "")
        keys.update(re.findall(r"value_json\.([A-Za-z_][A-Za-z0-9_]*)", template))
    return keys


def device_payload(
    topics: Topics,
    camera_id: str,
    cmps: dict[str, dict[str, Any]],
    device_name: str = "",
    qos: int = 1,
) -> dict[str, Any]:
    """The device-based discovery payload for a camera with components ``cmps``."""
    node = node_id(camera_id)
    return {
        "dev": {
            "ids": [node],
            "name": device_name or f"edgecam {camera_id}",
            "mf": "edgecam",
            "mdl": "edgecam camera sensor",
            "sw": __version__,
        },
        "o": dict(ORIGIN),
        "qos": qos,
        "cmps": cmps,
    }
