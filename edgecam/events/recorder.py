"""``EventRecorder``: the event history as a publisher.

In the inference thread it only keeps references: per live event the frame where its object scored
best, and it names each ``end`` event's evidence (:meth:`name_evidence`, called by the pipeline before
any publisher sees the events).  A worker thread with a bounded queue encodes the JPEGs and writes the
store; the clip recorder (``clips.py``) and the software encoder (``encoder.py``) have their own threads.

A full disk (ENOSPC, EFBIG, a quota) stops recording for ``RETRY_S`` with one warning per
``WARN_EVERY_S`` and a counter in the stats; detection and publishing never wait for the disk.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from edgecam.domain import Event, Frame, FrameUpdate
from edgecam.events.settings import EventsSettings
from edgecam.events.store import EventRecord, EventStore, is_disk_full

log = logging.getLogger(__name__)

MiB = 1024 * 1024
RETRY_S = 60.0
WARN_EVERY_S = 600.0
_STOP = object()


def evidence_path(event_id: str, kind: str, base: str = "") -> str:
    """The live view's URL (path, or absolute under ``base``) of an event's evidence."""
    return f"{base}/api/events/{event_id}/{kind}"


@dataclass
class _Live:
    """A live event, seen from the inference thread."""

    event: Event
    frame: Frame | None = None
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    score: float = -1.0
    dirty: bool = False  # a better frame than the one written
    main: Frame | None = None  # the source's larger image right after ``frame`` (None: use ``frame``)
    wants_main: bool = False


@dataclass(frozen=True)
class _Save:
    record: EventRecord
    frame: Frame | None
    box: tuple[float, float, float, float]
    score: float
    main: Frame | None = None


class EvidenceNamingTracker:
    """A tracker (``update``/``flush`` → an output with ``events``) whose events pass through ``name`` first,
    so every publisher sees the ``end`` events with their evidence; everything else is the tracker's."""

    def __init__(self, tracker: Any, name: Callable[[Sequence[Event]], tuple[Event, ...]]) -> None:
        self._tracker, self._name = tracker, name

    def update(self, *args: Any, **kwargs: Any) -> Any:
        return self._named(self._tracker.update(*args, **kwargs))

    def flush(self, *args: Any, **kwargs: Any) -> Any:
        return self._named(self._tracker.flush(*args, **kwargs))

    def _named(self, out: Any) -> Any:
        return dataclasses.replace(out, events=self._name(out.events)) if out.events else out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)


class EventRecorder:
    kind = "events"

    @classmethod
    def from_settings(cls, settings: EventsSettings, web: Any, camera: Any, context: Any) -> "EventRecorder":
        """``[events]``; ``[web] public_url`` for absolute evidence URLs; ``[camera]``: does its source hand
        over compressed packets (stream copy)?  The store lives in ``<state dir>/events``."""
        from edgecam.events.settings import clip_mode
        from edgecam.sources.base import load_source_class

        if context.state_dir is None:
            raise ValueError("the event history needs the camera's state directory")
        source = load_source_class(camera.source)
        has_packets = hasattr(source, "set_packet_sink")
        free = getattr(source, "packets_cost_nothing", None)
        if has_packets and free is not None and not free(camera):
            has_packets = False  # its packets would be encoded in software (a Pi 5's camera)
            if settings.clips == "auto":
                log.info("event clips off: this camera has no hardware H.264 encoder (a Raspberry Pi 5); "
                         "[events] clips = \"on\" records software-encoded clips of the detection frames")
        return cls(settings, context.camera_id, Path(context.state_dir) / "events",
                   url_base=getattr(web, "public_url", None) or "", clip_mode=clip_mode(settings.clips, has_packets))

    def __init__(self, settings: EventsSettings, camera_id: str, directory: Path, *, url_base: str = "",
                 clip_mode: str | None = None, on_snapshot: Callable[[str, bytes], None] | None = None) -> None:
        """``clip_mode``: ``"copy"`` (the source's packets, via :attr:`packet_sink`), ``"encode"`` (software)
        or None (no clips).  ``on_snapshot(label, jpeg)`` gets each ended event's boxed snapshot."""
        self.settings, self.camera_id, self.directory = settings, camera_id, Path(directory)
        self.url_base = url_base.rstrip("/")
        self.clip_mode, self.on_snapshot = clip_mode, on_snapshot
        self.store: EventStore | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=settings.queue_size)
        self._live: dict[str, _Live] = {}
        self._thread: threading.Thread | None = None
        self._full_until = -1e18
        self._warned_at = -1e18
        self.disk_full = 0
        self.dropped = 0
        self.saved = 0
        self.clips: Any = None
        self.encoder: Any = None
        from edgecam.events.mainimage import MainImageRequests

        self.main_images = MainImageRequests()  # for a source with ``set_main_image_sink`` (picamera2)
        if clip_mode is not None:
            from edgecam.events.clips import ClipRecorder

            self.clips = ClipRecorder(None, settings.pre_s, settings.post_s, recording=lambda: self.recording,
                                      on_disk_full=self._on_disk_full, on_clip=self._after_clip)
            if clip_mode == "encode":
                from edgecam.events.encoder import SoftwareEncoder

                self.encoder = SoftwareEncoder(self.clips.sink, settings.clip_width, settings.clip_fps)

    def _open_store(self) -> EventStore | None:
        """The store, opened (and made consistent after a crash) on first use; None while the disk refuses it."""
        if self.store is not None:
            return self.store
        if time.monotonic() < self._full_until:
            return None
        from edgecam.events.mp4 import salvage_clip

        try:
            store = EventStore(self.directory, int(self.settings.max_mb * MiB), self.settings.keep_days * 86400.0)
            store.recover(salvage_clip)
            store.enforce()
        except (OSError, sqlite3.Error) as exc:  # the daemon runs on without a history
            self._on_disk_full(exc, what="cannot open the event store")
            return None
        self.store = store
        return store

    @property
    def packet_sink(self) -> Callable[[Any, Any, float], None] | None:
        """For a source with ``set_packet_sink``: its compressed packets make the clips (stream copy)."""
        return self.clips.sink if self.clip_mode == "copy" else None

    @property
    def recording(self) -> bool:
        return self.store is not None and time.monotonic() >= self._full_until

    # -- Publisher ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="edgecam-events", daemon=True)
        self._thread.start()
        store = self._open_store()
        if store is None:  # retried by the writer; clips stay off for this run
            return
        n, size = store.totals()
        log.info("event history: %d event(s), %.1f MiB in %s%s", n, size / MiB, self.directory,
                 f"; clips by {self.clip_mode}" if self.clip_mode else "; no clips")
        if self.clips is not None:
            self.clips.store = store
            self.clips.start()
        if self.encoder is not None:
            self.encoder.start()

    def naming(self, tracker: Any) -> "EvidenceNamingTracker":
        """``tracker`` whose ``end`` events name their evidence (:meth:`name_evidence`), on every path the
        pipeline ends tracks by: each frame, a lost camera, shutdown."""
        return EvidenceNamingTracker(tracker, self.name_evidence)

    def name_evidence(self, events: Sequence[Event]) -> tuple[Event, ...]:
        """``events`` with each ``end`` naming its snapshot and clip (None when there is none)."""
        if not any(e.type == "end" for e in events):
            return tuple(events)
        recording = self.recording
        out = []
        for e in events:
            if e.type == "end" and e.id in self._live and recording:
                e = dataclasses.replace(
                    e, snapshot=evidence_path(e.id, "snapshot.jpg", self.url_base),
                    clip=evidence_path(e.id, "clip.mp4", self.url_base) if self.clips is not None and self.clips.running
                    else None)
            out.append(e)
        return tuple(out)

    def publish(self, update: FrameUpdate) -> None:
        frame = update.frame if update.frame.index >= 0 else None  # index -1: the shutdown update
        main = self.main_images.take()  # captured after every best frame chosen so far
        if main is not None:
            for live in self._live.values():
                if live.wants_main:
                    live.main, live.wants_main, live.dirty = main, False, True
        clips = self.clips if self.clips is not None and self.clips.running else None
        for e in update.events:
            if e.type == "new":
                live = self._live[e.id] = _Live(e, frame, e.box, e.top_score, False, wants_main=frame is not None)
                self.main_images.want()
                self._save(live, None)
                if clips is not None:
                    clips.open(e.id, e.start_time)
            elif e.type == "update" and e.id in self._live:
                self._live[e.id].event = e
        if frame is not None:
            for t in update.tracks:
                live = self._live.get(t.id)
                if live is not None and t.top_score > live.score:  # the object's best detection yet
                    live.frame, live.box, live.score, live.dirty = frame, t.box, t.top_score, True
                    live.main, live.wants_main = None, True
                    self.main_images.want()
        for e in update.events:
            if e.type == "end" and (live := self._live.pop(e.id, None)) is not None:
                live.event = e
                self._save(live, e.end_time)
                if clips is not None:
                    clips.close(e.id, e.end_time or e.start_time)
        if clips is not None and self.encoder is not None and frame is not None:
            self.encoder.offer(frame)

    def publish_stats(self, stats: Mapping[str, Any]) -> None:
        pass

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(30.0)
            self._thread = None
        if self.encoder is not None:
            self.encoder.stop()
        if self.clips is not None:
            self.clips.stop()
        if self.store is not None:
            self.store.close()

    def stats(self) -> dict[str, Any]:
        n, size = self.store.totals() if self.store is not None else (0, 0)
        out = {"stored": n, "mb": round(size / MiB, 2), "recording": self.recording, "disk_full": self.disk_full,
               "dropped": self.dropped, "saved": self.saved,
               "deleted": self.store.deleted if self.store is not None else 0}
        if self.main_images.delivered:  # a source with a larger stream (picamera2's main) gave snapshots
            out.update(main_images=self.main_images.delivered)
        if self.clips is not None:
            out.update(clips=self.clips.written, clip_failures=self.clips.failed,
                       clip_packets_dropped=self.clips.dropped_packets)
        if self.encoder is not None:
            out.update(clip_frames_encoded=self.encoder.encoded, clip_frames_skipped=self.encoder.skipped)
        return out

    # -- the inference thread's hand-off ----------------------------------------------------------------------------
    def _save(self, live: _Live, end_time: float | None) -> None:
        e = live.event
        record = EventRecord(e.id, e.label, tuple(e.zones), e.start_time, end_time, float(e.top_score),
                             getattr(e, "stationary", None))
        job = _Save(record, live.frame if (live.dirty or end_time is None) else None, live.box, live.score,
                    live.main)
        live.dirty = False
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.dropped += 1

    # -- the worker --------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while (job := self._queue.get()) is not _STOP:
            try:
                self._write(job)
            except Exception as exc:  # noqa: BLE001
                if is_disk_full(exc):
                    self._on_disk_full(exc)
                else:
                    log.exception("event history: cannot store event %s; continuing", job.record.id)

    def _write(self, job: _Save) -> None:
        from edgecam.events.snapshot import render_evidence

        store = self._open_store()
        if store is None or not self.recording:
            return
        files = {}
        if job.frame is not None:
            frame, box = job.frame, job.box
            if job.main is not None and job.main.width > frame.width:  # the same view, more pixels
                sx, sy = job.main.width / frame.width, job.main.height / frame.height
                frame, box = job.main, (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
            files = render_evidence(frame, box, job.record.label, max(job.score, 0.0),
                                    self.settings.snapshot_quality, self.settings.thumbnail_size)
        store.save_event(job.record, files)
        self.saved += 1
        store.enforce(keep=self.clips.recording_ids if self.clips is not None else ())
        if job.record.end_time is not None and self.on_snapshot is not None:
            boxed = files.get("boxed.jpg")
            if boxed is None:
                try:
                    boxed = store.path(job.record.id, "boxed.jpg").read_bytes()
                except OSError:
                    return
            self.on_snapshot(job.record.label, boxed)

    def _after_clip(self, event_id: str) -> None:
        if self.store is not None:
            self.store.enforce(keep=self.clips.recording_ids)

    def _on_disk_full(self, exc: BaseException, what: str = "") -> None:
        """A write failed for lack of space (or the store would not open): stop recording for ``RETRY_S``."""
        self.disk_full += 1
        now = time.monotonic()
        self._full_until = now + RETRY_S
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            if what:
                log.warning("event history: %s in %s (%s); recording is off, detection and MQTT go on; make "
                            "[output] state_dir writable with free space", what, self.directory, exc)
            else:
                log.warning("event history: the disk is full (%s) in %s; recording stops for %.0f s, detection and "
                            "MQTT go on; free space or lower [events] max_mb", exc, self.directory, RETRY_S)
