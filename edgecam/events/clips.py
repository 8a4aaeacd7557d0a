"""Clip recording: a packet sink (the camera's compressed packets, or the software encoder's) feeding a
ring of the last ``pre_s`` seconds; each event gets a clip from ``start - pre_s`` to ``end + post_s``.

Threads: :meth:`ClipRecorder.sink` runs in the capture thread and only copies the packet into a bounded
queue (a full queue drops packets and counts them); :meth:`open`/:meth:`close` come from the evidence
writer; one worker thread keeps the ring and writes the MP4 files (``<id>.clip.mp4.part``, moved to
``<id>.clip.mp4`` by the store when complete).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from edgecam.events.mp4 import ClipWriter
from edgecam.events.packets import PacketRing, StoredPacket, StreamTemplate
from edgecam.events.store import EventStore, is_disk_full

log = logging.getLogger(__name__)

_WAKE = object()
_STOP = object()
GRACE_S = 2.0  # an ended event's clip is finished after this long without a packet (the camera is gone)


@dataclass
class _Clip:
    event_id: str
    start: float
    stop_at: float | None = None  # wall time of the last packet wanted, once the event ended
    writer: ClipWriter | None = None
    started: bool = False  # the ring reached ``start``: the backlog was written


class ClipRecorder:
    def __init__(self, store: EventStore | None, pre_s: float, post_s: float, *, queue_size: int = 1000,
                 recording: Callable[[], bool] = lambda: True,
                 on_disk_full: Callable[[BaseException], None] = lambda exc: None,
                 on_clip: Callable[[str], None] = lambda event_id: None) -> None:
        self.store, self.pre_s, self.post_s = store, float(pre_s), float(post_s)
        self.recording, self.on_disk_full, self.on_clip = recording, on_disk_full, on_clip
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._controls: deque[tuple[str, str, float]] = deque()
        self._ring = PacketRing(self.pre_s + 1.0)
        self._clips: dict[str, _Clip] = {}
        self._stream: Any = None
        self._template: StreamTemplate | None = None
        self._thread: threading.Thread | None = None
        self._last_packet = time.monotonic()
        self.dropped_packets = 0
        self.written = 0
        self.failed = 0

    # -- the capture thread ------------------------------------------------------------------------------
    def sink(self, packet: Any, stream: Any, wall_time: float) -> None:
        """One demuxed video packet (``av.Packet``) of ``stream``, captured at ``wall_time`` (epoch s)."""
        if packet.size == 0 or self._thread is None:
            return  # a flush packet, or not recording (not started, or the store could not open)
        if stream is not self._stream:
            self._template = StreamTemplate(stream)
            self._stream = stream
        stored = StoredPacket(bytes(packet), packet.pts, packet.dts, bool(packet.is_keyframe),
                              packet.time_base or self._template.time_base, float(wall_time), self._template)
        try:
            self._queue.put_nowait(stored)
        except queue.Full:
            self.dropped_packets += 1

    # -- the evidence writer ------------------------------------------------------------------------------
    def open(self, event_id: str, start_time: float) -> None:
        self._control("open", event_id, start_time)

    def close(self, event_id: str, end_time: float) -> None:
        self._control("close", event_id, end_time)

    def _control(self, what: str, event_id: str, t: float) -> None:
        self._controls.append((what, event_id, t))
        try:
            self._queue.put_nowait(_WAKE)
        except queue.Full:
            pass  # the worker is busy anyway and reads the controls before each packet

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def recording_ids(self) -> list[str]:
        return list(self._clips)

    # -- life ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer (``store`` set by then)."""
        assert self.store is not None
        self._thread = threading.Thread(target=self._run, name="edgecam-clips", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, finish every open clip where it is, end the worker."""
        if self._thread is None:
            return
        while True:
            try:
                self._queue.put(_STOP, timeout=timeout)
                break
            except queue.Full:
                continue
        self._thread.join(timeout)
        self._thread = None

    # -- the worker ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                item = None
            try:
                self._apply_controls()
                if item is _STOP:
                    for clip in list(self._clips.values()):
                        self._finish(clip)
                    return
                if isinstance(item, StoredPacket):
                    self._last_packet = time.monotonic()
                    self._packet(item)
                elif time.monotonic() - self._last_packet > GRACE_S:
                    self._finish_ended()
            except Exception:  # noqa: BLE001 - the recorder must outlive any one clip
                log.exception("clips: unexpected error; continuing")

    def _apply_controls(self) -> None:
        while self._controls:
            what, event_id, t = self._controls.popleft()
            if what == "open":
                if event_id in self._clips or not self.recording():
                    continue
                clip = _Clip(event_id, t - self.pre_s)
                self._clips[event_id] = clip
                self._try_begin(clip)
            elif event_id in self._clips:
                self._clips[event_id].stop_at = t + self.post_s

    def _packet(self, p: StoredPacket) -> None:
        self._ring.append(p)
        for clip in list(self._clips.values()):
            if not clip.started:
                self._try_begin(clip)  # the backlog includes this packet
                continue
            if clip.writer is not None and clip.writer.template is not p.template:
                self._finish(clip)  # the stream changed: this clip ends here
                continue
            if clip.stop_at is not None and p.wall > clip.stop_at:
                self._finish(clip)
                continue
            if clip.writer is None:
                if not p.keyframe:
                    continue
                self._begin(clip, p.template)
            self._write(clip, p)

    def _try_begin(self, clip: _Clip) -> None:
        """Once the ring reaches the clip's start, write it from the keyframe at or before the start."""
        newest = self._ring.newest
        if newest is None or newest < clip.start:
            return  # packets still queued are older than the start: wait for them
        clip.started = True
        backlog = self._ring.since(clip.start)
        if backlog:
            self._begin(clip, backlog[0].template)
            for p in backlog:
                self._write(clip, p)

    def _begin(self, clip: _Clip, template: StreamTemplate) -> None:
        try:
            clip.writer = ClipWriter(self.store.part_path(clip.event_id), template)
        except Exception as exc:  # noqa: BLE001
            self._fail(clip, exc)

    def _write(self, clip: _Clip, p: StoredPacket) -> None:
        if clip.writer is None:
            return
        try:
            clip.writer.write(p)
        except Exception as exc:  # noqa: BLE001
            self._fail(clip, exc)

    def _finish_ended(self) -> None:
        for clip in list(self._clips.values()):
            if clip.stop_at is not None:
                self._finish(clip)

    def _finish(self, clip: _Clip) -> None:
        self._clips.pop(clip.event_id, None)
        writer = clip.writer
        if writer is None:
            return
        try:
            writer.close()
            if writer.packets and self.store.finish_clip(clip.event_id, writer.first_wall, writer.last_wall):
                self.written += 1
                self.on_clip(clip.event_id)
            else:
                writer.path.unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001
            self._fail(clip, exc)

    def _abort(self, clip: _Clip) -> None:
        self._clips.pop(clip.event_id, None)
        if clip.writer is not None:
            clip.writer.abort()
            clip.writer = None
        self.store.part_path(clip.event_id).unlink(missing_ok=True)
        self.failed += 1

    def _fail(self, clip: _Clip, exc: BaseException) -> None:
        self._abort(clip)
        if is_disk_full(exc):
            self.on_disk_full(exc)
            for other in list(self._clips.values()):  # the disk is full for them too
                self._abort(other)
        else:
            log.warning("clips: the clip of event %s failed: %s", clip.event_id, exc)
