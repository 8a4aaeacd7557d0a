"""The daemon's data path, top to bottom: frame → gate → detector → tracker → publishers.

The capture thread (``runtime/capture.py``) keeps only the freshest frame in a slot.  From there a
frame passes three stages, each in its own thread, joined by one-item hand-offs:

    prepare (thread "edgecam-prepare")   take the freshest frame; decide whether to infer (detection
                                         switched on, motion or live tracks); letterbox it
    infer   (the thread calling run())   the network's forward pass — nothing else
    finish  (thread "edgecam-finish")    decode + NMS, track, hand one ``FrameUpdate`` to every
                                         publisher, count, publish stats

ncnn releases the GIL in ``forward()``, so the next frame is prepared and the previous one finished
while the network runs: with a core to spare the pipeline runs at (nearly) the raw inference rate.
When the network's threads fill every core (``[model] threads`` = CPUs), the stages run one after
the other in the calling thread instead: concurrent work would preempt ncnn's spinning OpenMP
workers and slow every forward pass down far more than it saves (measured: 0.35 vs 0.64 ratio).
The prepare stage takes a new frame only once the infer stage has taken the previous one, so a
frame waits for at most one forward pass.  Publishers never block: the MQTT one queues to its own
thread.  ``process(frame)`` runs the same three stages in the caller's thread, one frame at a time.
At every stats interval the finish stage hands freed heap pages back to the system, so resident
memory stays flat over days (:func:`release_free_heap`).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from edgecam.domain import Detections, Frame, FrameUpdate, Inference

log = logging.getLogger(__name__)

_EMPTY_IMAGE = np.zeros((1, 1, 3), np.uint8)  # placeholder frame for the shutdown update
_POLL_S = 0.5  # how often waiting stages look at the stop flag (and stamp their health)


@functools.cache
def _glibc_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None


def release_free_heap() -> bool:
    """Hand freed heap pages back to the system (glibc ``malloc_trim``); False where unavailable.

    Frame-sized buffers (decoded images, network inputs and blobs) come and go every frame in several
    threads.  glibc keeps the freed pages of its per-thread heaps resident, so RSS creeps up while
    nothing leaks (soak: +9.6 MB over 20,000 frames).  Run at every stats interval; a millisecond."""
    trim = _glibc_malloc_trim()
    return bool(trim(0)) if trim is not None else False


def spare_core(detector) -> bool:
    """True unless the detector's worker threads (``detector.settings.threads``) fill every usable CPU."""
    threads = getattr(getattr(detector, "settings", None), "threads", None)
    if not isinstance(threads, int):
        return True
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return threads < cores


@dataclass
class PipelineStats:
    """Counters of the inference side; ``snapshot()`` renders the CONTRACT §6 ``stats`` fields."""

    started: float = field(default_factory=time.monotonic)
    frames: int = 0
    inferences: int = 0
    skipped: int = 0
    inference_ms: float = 0.0  # exponential moving average of the forward pass
    fps: float = 0.0
    _window: deque[float] = field(default_factory=deque)

    def record(self, now: float, inference: Inference | None) -> None:
        self.frames += 1
        if inference is None:
            self.skipped += 1
        else:
            self.inferences += 1
            a = 0.2 if self.inferences > 1 else 1.0
            self.inference_ms += a * (inference.inference_ms - self.inference_ms)
        self._window.append(now)
        cutoff = now - 10.0
        while self._window and self._window[0] < cutoff:
            self._window.popleft()
        span = self._window[-1] - self._window[0] if len(self._window) > 1 else 0.0
        self.fps = (len(self._window) - 1) / span if span > 0 else 0.0

    def snapshot(self) -> dict:
        return {
            "fps": round(self.fps, 2),
            "inference_ms": round(self.inference_ms, 2),
            "frames": self.frames,
            "inferences": self.inferences,
            "gated_frames": self.skipped,
            "uptime_s": round(time.monotonic() - self.started, 1),
        }


@dataclass
class Job:
    """One frame on its way through the stages."""

    frame: Frame
    infer: bool  # the gate's decision
    conf: float = 0.0
    mat: Any = None  # the letterboxed network input (staged detectors)
    letterbox: Any = None
    preprocess_ms: float = 0.0
    forward_ms: float = 0.0
    outputs: Any = None  # raw network outputs (staged detectors)
    inference: Inference | None = None  # set by detect() (plain detectors) or by finish


class Handoff:
    """A one-item mailbox between two stages. ``put`` waits until the previous item was taken;
    ``get`` returns :data:`Handoff.END` once the mailbox is closed and empty."""

    END = object()

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self._closed = False

    def wait_empty(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._full or self._closed, timeout)

    def put(self, item: Any) -> bool:
        """Hand ``item`` over (waiting for room); False if the mailbox was closed meanwhile."""
        with self._cond:
            self._cond.wait_for(lambda: not self._full or self._closed)
            if self._closed:
                return False
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Any:
        """The next item, END when closed and drained, or None after ``timeout`` s."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout):
                return None
            if not self._full:
                return Handoff.END
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Pipeline:
    """One camera's processing loop. ``run()`` blocks until stopped, the source ends, or max_frames."""

    def __init__(
        self,
        camera_id: str,
        next_frame: Callable[[float], Frame | None],
        source_exhausted: Callable[[], bool],
        detector,
        tracker,
        publishers: Sequence,
        controls,
        *,
        motion=None,
        thermal=None,
        set_fps: Callable[[float], None] | None = None,
        health=None,
        extra_stats: Callable[[], dict] | None = None,
        stats_interval_s: float = 10.0,
        max_frames: int | None = None,
        on_first_frame: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        overlap: bool | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.next_frame = next_frame
        self.source_exhausted = source_exhausted
        self.detector = detector
        # A detector with preprocess/forward/postprocess is run in stages; any other only via detect().
        self.staged = all(callable(getattr(detector, n, None)) for n in ("preprocess", "forward", "postprocess"))
        # Three threads only pay when a core is left over for prepare/finish while the network runs;
        # on a CPU the network fills, they preempt its spinning OpenMP workers and slow every forward.
        self.overlap = spare_core(detector) if overlap is None else overlap
        self.tracker = tracker
        self.publishers = list(publishers)
        self.controls = controls
        self.motion = motion
        self.thermal = thermal
        self.set_fps = set_fps
        self._fps = None
        self.health = health
        self.extra_stats = extra_stats
        self.stats_interval_s = stats_interval_s
        self.max_frames = max_frames
        self.on_first_frame = on_first_frame
        self.clock = clock
        self.stats = PipelineStats()
        self.stop_event = threading.Event()
        self._last_stats = -1e18
        self._errors: list[BaseException] = []

    # -- the loop: three stages in three threads (or in one) ---------------------------------------
    def run(self) -> None:
        if not self.overlap:
            try:
                self._feed(self._process_inline, ready=self._inline_ready)
            finally:
                self.finish()
            return
        prepared, inferred = Handoff(), Handoff()
        helpers = [
            threading.Thread(target=self._guard, args=(self._prepare_loop, prepared), name="edgecam-prepare", daemon=True),
            threading.Thread(target=self._guard, args=(self._finish_loop, inferred), name="edgecam-finish", daemon=True),
        ]
        for t in helpers:
            t.start()
        try:
            self._infer_loop(prepared, inferred)
        except BaseException as exc:
            self._errors.append(exc)
            self.stop_event.set()
        finally:
            prepared.close()
            inferred.close()  # the finish stage drains what it was handed, then ends
            for t in helpers:
                t.join()
            self.finish()
        if self._errors:
            raise self._errors[0]

    def _guard(self, loop: Callable[[Handoff], None], handoff: Handoff) -> None:
        """Run a helper stage; an error stops the whole pipeline and is re-raised by run()."""
        try:
            loop(handoff)
        except BaseException as exc:  # noqa: BLE001 - handed to run()
            self._errors.append(exc)
            self.stop_event.set()
        finally:
            handoff.close()

    def _feed(self, deliver: Callable[[Job], bool], ready: Callable[[], bool]) -> None:
        """Take frames, prepare each and ``deliver`` it, until stopped, the source ends, or max_frames."""
        handed = 0
        while not self.stop_event.is_set():
            if not ready():
                continue
            self._govern()
            frame = self.next_frame(_POLL_S)
            if frame is None:
                if self.source_exhausted():
                    log.info("source exhausted after %d frames", handed)
                    return
                self._stats_if_due()  # keep stats fresh while the camera is gone
                continue
            self._stamp("capture")
            if not deliver(self.prepare(frame)):
                return
            handed += 1
            if self.max_frames is not None and handed >= self.max_frames:
                return

    def _prepare_loop(self, prepared: Handoff) -> None:
        # take a frame only once the infer stage took the previous one: frames stay fresh
        self._feed(prepared.put, ready=lambda: prepared.wait_empty(_POLL_S))

    def _inline_ready(self) -> bool:
        self._stamp("inference")
        return True

    def _process_inline(self, job: Job) -> bool:
        self.finish_frame(self.infer(job))
        return True

    def _infer_loop(self, prepared: Handoff, inferred: Handoff) -> None:
        while True:
            self._stamp("inference")
            job = prepared.get(_POLL_S)
            if job is Handoff.END:
                return
            if job is not None and not inferred.put(self.infer(job)):
                return

    def _finish_loop(self, inferred: Handoff) -> None:
        while (job := inferred.get(_POLL_S)) is not Handoff.END:
            if job is not None:
                self.finish_frame(job)

    # -- the stages -----------------------------------------------------------------------------
    def process(self, frame: Frame) -> FrameUpdate:
        """Gate → detect → track → publish one frame, in the caller's thread."""
        return self.finish_frame(self.infer(self.prepare(frame)))

    def prepare(self, frame: Frame) -> Job:
        """Gate the frame; letterbox it if it is to be inferred."""
        tracker = self.tracker
        infer = self.controls.detection_enabled and (
            self.motion is None or self.motion.should_infer(frame, tracker.has_live_tracks, self.clock())
        )
        job = Job(frame, bool(infer), conf=self.controls.conf)
        if job.infer and self.staged:
            t0 = time.perf_counter()
            job.mat, job.letterbox = self.detector.preprocess(frame.image, frame.pixel_format)
            job.preprocess_ms = (time.perf_counter() - t0) * 1e3
        return job

    def infer(self, job: Job) -> Job:
        """The network's forward pass (or the whole detect() of a plain detector)."""
        if not job.infer:
            return job
        if not self.staged:
            job.inference = self.detector.detect(job.frame.image, job.frame.pixel_format, conf=job.conf)
            return job
        t0 = time.perf_counter()
        job.outputs = self.detector.forward(job.mat)
        job.forward_ms = (time.perf_counter() - t0) * 1e3
        job.mat = None
        return job

    def finish_frame(self, job: Job) -> FrameUpdate:
        """Decode + NMS, track, publish, count."""
        if job.infer and self.staged:
            t0 = time.perf_counter()
            detections = self.detector.postprocess(job.outputs, job.letterbox, job.conf)
            lb = job.letterbox
            job.inference = Inference(detections, lb.src_w, lb.src_h, job.forward_ms, job.preprocess_ms,
                                      (time.perf_counter() - t0) * 1e3)
            job.outputs = None
        inference = job.inference
        detections = inference.detections if inference is not None else Detections.empty(self.detector.class_names)
        frame = job.frame
        out = self.tracker.update(detections, frame.timestamp, frame.width, frame.height)
        update = FrameUpdate(
            camera=self.camera_id, frame=frame, inference=inference, detections=out.detections,
            events=out.events, tracks=out.tracks, counts=out.counts, zone_counts=out.zone_counts,
        )
        for p in self.publishers:
            p.publish(update)
        self.stats.record(self.clock(), inference)
        if self.stats.frames == 1 and self.on_first_frame is not None:
            self.on_first_frame()
        self._stats_if_due()
        return update

    def _stats_if_due(self) -> None:
        now = self.clock()
        if now - self._last_stats >= self.stats_interval_s:
            self._last_stats = now
            self.publish_stats()
            release_free_heap()

    def finish(self) -> None:
        """End every live track so subscribers never hold dangling events; publish final stats."""
        out = self.tracker.flush(time.time())
        if out.events:
            log.info("shutdown: ending %d live track(s)", sum(e.type == "end" for e in out.events))
        empty = Frame(image=_EMPTY_IMAGE, index=-1, timestamp=time.time())
        update = FrameUpdate(
            camera=self.camera_id, frame=empty, inference=None,
            detections=Detections.empty(self.detector.class_names), events=out.events, tracks=out.tracks,
            counts=out.counts, zone_counts=out.zone_counts,
        )
        for p in self.publishers:
            p.publish(update)
        self.publish_stats()

    # -- helpers -----------------------------------------------------------------------------------
    def _govern(self) -> None:
        """Apply the thermal governor's target frame rate to the capture side when it changes."""
        if self.thermal is None:
            return
        fps = self.thermal.update(self.clock())
        if fps != self._fps:
            if self._fps is not None:
                log.warning("thermal: target frame rate %.2f → %.2f fps", self._fps, fps)
            self._fps = fps
            if self.set_fps is not None:
                self.set_fps(fps)

    def _stamp(self, stage: str) -> None:
        if self.health is not None:
            self.health.stamp(stage)

    def current_stats(self) -> dict:
        stats = self.stats.snapshot()
        if self.thermal is not None:
            stats.update(self.thermal.stats())
        if self.motion is not None:
            stats.update({f"motion_{k}": v for k, v in self.motion.stats().items()})
        if self.extra_stats is not None:
            stats.update(self.extra_stats())
        stats["detection_enabled"] = self.controls.detection_enabled
        stats["conf"] = self.controls.conf
        return stats

    def publish_stats(self) -> None:
        stats = self.current_stats()
        for p in self.publishers:
            p.publish_stats(stats)

    def stop(self) -> None:
        self.stop_event.set()

