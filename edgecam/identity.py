"""Who this daemon is: the default camera id (from the host name) and the instance record it announces.

Two Pis left on defaults must not share one camera id (they would be one Home Assistant device whose
entities flip between them), so with no ``[camera] id`` the id is the host name as a Home Assistant id
(``Pi-Kitchen.local`` → ``pi_kitchen``).  The config has one camera, so no index is added.

Each running daemon also has an *instance*: host name, pid, a random instance id and its start time.
The MQTT link announces it (``<prefix>/<camera>/owner``, see ``publishers/mqtt/ownership.py``).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass

from edgecam.names import slug

FALLBACK_ID = "camera"
MAX_ID = 64


def host_name() -> str:
    """This machine's host name ("" if the system has none)."""
    try:
        return socket.gethostname().strip()
    except OSError:
        return ""


def camera_id_from_host(host: str) -> str:
    """The camera id a host gets by default: its first name label as a Home Assistant id, ``camera`` if empty."""
    first = host.split(".", 1)[0]
    if not any(ch.isascii() and ch.isalnum() for ch in first):
        return FALLBACK_ID
    return slug(first)[:MAX_ID].strip("_") or FALLBACK_ID


def default_camera_id() -> str:
    """``[camera] id`` when the config sets none: derived from this machine's host name."""
    return camera_id_from_host(host_name())


@dataclass(frozen=True)
class Instance:
    """One running daemon, as announced to the broker."""

    host: str
    pid: int
    instance: str
    started: str  # UTC, ISO 8601

    @classmethod
    def here(cls) -> "Instance":
        return cls(host_name() or "unknown", os.getpid(), secrets.token_hex(8),
                   time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def to_payload(self) -> dict:
        return asdict(self)

    @classmethod
    def from_payload(cls, data: object) -> "Instance | None":
        """The instance a record describes, or None when it is not one (a hand-made or foreign message)."""
        if not isinstance(data, dict):
            return None
        host, pid, instance, started = (data.get(k) for k in ("host", "pid", "instance", "started"))
        if not (isinstance(host, str) and isinstance(pid, int) and isinstance(instance, str) and instance
                and isinstance(started, str)):
            return None
        return cls(host, pid, instance, started)

    def describe(self) -> str:
        return f"host {self.host} (pid {self.pid}, running since {self.started})"
