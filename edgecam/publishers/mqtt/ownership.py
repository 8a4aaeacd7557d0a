"""One live daemon per camera on a broker: the owner record and the rule that tells live from stale.

Each daemon announces itself on ``<prefix>/<camera slug>/owner`` (retained JSON: ``host``, ``pid``,
``instance``, ``started``, ``camera``, ``availability``).  The topic is keyed by the camera id's slug,
the id Home Assistant devices use, so ``Front-Door`` and ``front_door`` meet there too.

**At every connect**, before anything else is published, the link subscribes to the owner record and
its own availability topic, then publishes a private sync message to itself: when it comes back, the
broker has already delivered whatever is retained.  The record found then decides:

- none, or this instance's own: claim;
- from this host: live if its pid is still a running edgecam here (then refuse), else stale (claim);
- from another host: live if that owner's availability topic says ``online`` (refuse), stale if it
  says ``offline`` (its clean stop, or its last will after a crash) or nothing.

Claiming publishes the record, then ``online``; refusing disconnects cleanly (the broker discards the
last will, so nothing is published over the live owner) and the daemon exits 2 with one line naming
the other host and pid.  A crash of another host is seen as live until the broker notices it (1.5 ×
its keepalive) and publishes its will.

**While running**, the owner keeps both true: a foreign ``offline`` on its availability (the will of
a daemon that crashed before it could refuse, or of an earlier run of this one that the broker only
now gave up on) is answered by ``online`` again; a foreign owner record (two daemons deciding at the
same instant) is settled by age: the earlier ``started`` (then the smaller instance id) keeps the
camera, the other stops as if refused.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from edgecam.identity import Instance

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


def pid_is_edgecam(pid: int) -> bool:
    """True if ``pid`` is a running process on this machine that looks like edgecam (or cannot be read)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc here: a running pid is taken as live
    return b"edgecam" in cmdline


@dataclass(frozen=True)
class Verdict:
    kind: str  # "claim" | "refuse" | "watch"
    detail: str = ""  # the refusal line, or the topic to watch


class Ownership:
    """The decision state of one connection (pure: the link feeds it messages and acts on verdicts)."""

    def __init__(self, me: Instance, camera_id: str, owner_topic: str, availability_topic: str) -> None:
        self.me = me
        self.camera_id = camera_id
        self.owner_topic = owner_topic
        self.availability_topic = availability_topic
        self.record: dict | None = None
        self.seen: dict[str, bytes] = {}
        self.watched: set[str] = {availability_topic}

    @property
    def sync_topic(self) -> str:
        return f"{self.owner_topic}/sync/{self.me.instance}"

    def payload(self) -> bytes:
        return json.dumps({**self.me.to_payload(), "camera": self.camera_id,
                           "availability": self.availability_topic}, sort_keys=True).encode()

    def reset(self) -> None:
        """A new connection: forget what the last one saw."""
        self.record = None
        self.seen.clear()
        self.watched = {self.availability_topic}

    def observe(self, topic: str, payload: bytes) -> None:
        if topic == self.owner_topic:
            try:
                data = json.loads(payload) if payload else None
            except ValueError:
                data = None
            self.record = data if isinstance(data, dict) else None
        else:
            self.seen[topic] = payload.strip()

    def other(self) -> Instance | None:
        """The owner the record names, if it is not this instance."""
        other = Instance.from_payload(self.record)
        return other if other is not None and other.instance != self.me.instance else None

    def decide(self) -> Verdict:
        """What to do once the retained state has arrived (at connect)."""
        other = self.other()
        if other is None:
            return Verdict("claim")
        if other.host == self.me.host:
            if other.pid != self.me.pid and pid_is_edgecam(other.pid):
                return Verdict("refuse", self.refusal(other))
            log.info("camera %s: taking over from an earlier edgecam on this host (pid %d is gone)",
                     self.camera_id, other.pid)
            return Verdict("claim")
        topic = self.record.get("availability") if isinstance(self.record, dict) else None
        topic = topic if isinstance(topic, str) and topic and "#" not in topic and "+" not in topic \
            else self.availability_topic
        if topic not in self.watched:
            self.watched.add(topic)
            return Verdict("watch", topic)
        if self.seen.get(topic) == ONLINE:
            return Verdict("refuse", self.refusal(other))
        log.info("camera %s: taking over from %s, which is offline", self.camera_id, other.describe())
        return Verdict("claim")

    def beaten_by(self, other: Instance) -> bool:
        """Two live claims: the earlier start (then the smaller instance id) keeps the camera."""
        return (other.started, other.instance) < (self.me.started, self.me.instance)

    def refusal(self, other: Instance) -> str:
        return (f"camera {self.camera_id!r} is already run by edgecam on {other.describe()}; give this "
                "daemon another [camera] id (or stop the other one)")
