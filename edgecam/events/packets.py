"""Compressed video packets kept for clips: a copy of each packet with its wall-clock time, the stream's
codec parameters (:class:`StreamTemplate`) and a time-bounded ring that always starts at a keyframe,
so a clip can begin ``pre_s`` before its event without re-encoding."""

from __future__ import annotations

import io
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any


class StreamTemplate:
    """An own copy of a video stream's codec parameters: a stream of a never-started in-memory MP4
    container.  A clip can then be written after the camera's own container was closed (reconnect)."""

    def __init__(self, stream: Any) -> None:
        import av

        self._container = av.open(io.BytesIO(), "w", format="mp4")
        self.stream = self._container.add_stream_from_template(stream, opaque=True)
        self.codec = stream.codec_context.name
        self.time_base = stream.time_base or Fraction(1, 90000)


@dataclass(frozen=True, slots=True)
class StoredPacket:
    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool
    time_base: Fraction
    wall: float  # epoch seconds the packet's frame was captured (or received)
    template: StreamTemplate


class PacketRing:
    """Packets of the last ``keep_s`` seconds (plus the rest of the GOP the window starts in)."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = float(keep_s)
        self._packets: deque[StoredPacket] = deque()
        self._keys: deque[float] = deque()  # wall times of the keyframes in the ring, in order

    def __len__(self) -> int:
        return len(self._packets)

    def append(self, packet: StoredPacket) -> None:
        if self._packets and packet.template is not self._packets[-1].template:
            self.clear()  # a new stream (the camera reconnected): older packets do not decode with it
        if not self._packets and not packet.keyframe:
            return  # nothing decodes before the first keyframe
        self._packets.append(packet)
        if packet.keyframe:
            self._keys.append(packet.wall)
        horizon = packet.wall - self.keep_s
        while len(self._keys) >= 2 and self._keys[1] <= horizon:  # the window starts in the next GOP
            self._keys.popleft()
            self._packets.popleft()
            while not self._packets[0].keyframe:
                self._packets.popleft()

    @property
    def newest(self) -> float | None:
        """Wall time of the newest packet, None when empty."""
        return self._packets[-1].wall if self._packets else None

    def since(self, wall: float) -> list[StoredPacket]:
        """Packets from the last keyframe at or before ``wall`` (else the oldest one) to the newest."""
        start = 0
        for i, p in enumerate(self._packets):
            if p.keyframe and p.wall <= wall:
                start = i
            elif p.wall > wall:
                break
        return list(self._packets)[start:]

    def clear(self) -> None:
        self._packets.clear()
        self._keys.clear()
