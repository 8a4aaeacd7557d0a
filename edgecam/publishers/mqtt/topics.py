"""Topic names (CONTRACT §6), built by pure functions.

Layout under ``<prefix>/<camera>/``:

- ``availability``            ``online``/``offline`` (retained, also the last will)
- ``camera``                  ``online`` while the camera delivers frames, ``offline`` when lost (retained)
- ``detections``              per-frame JSON feed
- ``events``                  track lifecycle JSON (QoS ``qos_events``)
- ``<label>``                 current count of confirmed tracks with that label (retained)
- ``zone/<zone>/<label>``     the same, inside one zone (retained)
- ``snapshot``                JPEG with boxes (retained)
- ``<label>/snapshot``        the last ended event's best snapshot with that label (event history; retained)
- ``stats``                   health JSON (retained)
- ``set/<name>``              commands (``commands.py``): ``set/detection`` (ON/OFF), ``set/conf`` (a number in the range of ``confidence.py``)
- ``state/<name>``            accepted command state, echoed (retained)

Labels are used verbatim except that the MQTT special characters ``/ + #`` (and NUL) become ``_``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgecam.names import slug

_UNSAFE = re.compile(r"[/+#\x00]")


def topic_level(name: str) -> str:
    """``name`` made safe as one topic level (no separators or wildcards, never empty)."""
    level = _UNSAFE.sub("_", name)
    return level or "_"


@dataclass(frozen=True)
class Topics:
    prefix: str
    camera: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{topic_level(self.camera)}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def camera_status(self) -> str:
        """``<base>/camera``: the camera's own availability (CONTRACT §6)."""
        return f"{self.base}/camera"

    @property
    def detections(self) -> str:
        return f"{self.base}/detections"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def snapshot(self) -> str:
        return f"{self.base}/snapshot"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    def count(self, label: str) -> str:
        return f"{self.base}/{topic_level(label)}"

    def last_snapshot(self, label: str) -> str:
        """The best snapshot of the last ended event with ``label`` (event history; retained)."""
        return f"{self.base}/{topic_level(label)}/snapshot"

    def attributes(self, label: str) -> str:
        """Retained JSON attributes of a label's count/occupancy entities (``{"stationary": n}``)."""
        return f"{self.count(label)}/attributes"

    def zone_count(self, zone: str, label: str) -> str:
        return f"{self.base}/zone/{topic_level(zone)}/{topic_level(label)}"

    def command(self, name: str) -> str:
        return f"{self.base}/set/{name}"

    def state(self, name: str) -> str:
        return f"{self.base}/state/{name}"

    def command_name(self, topic: str) -> str | None:
        """The ``name`` if ``topic`` is ``<base>/set/<name>`` (known command or not), else None."""
        head = f"{self.base}/set/"
        name = topic[len(head):]
        return name if topic.startswith(head) and "/" not in name else None


def owner_topic(prefix: str, camera: str) -> str:
    """The retained owner record of a camera, keyed by its slug (``Front-Door`` and ``front_door`` meet)."""
    return f"{prefix}/{slug(camera)}/owner"


def discovery_topic(ha_prefix: str, node_id: str) -> str:
    """Home Assistant device-based discovery topic."""
    return f"{ha_prefix}/device/{node_id}/config"


def ha_status_topic(ha_prefix: str, configured: str = "") -> str:
    """The topic where Home Assistant announces ``online`` (its birth message)."""
    return configured or f"{ha_prefix}/status"
