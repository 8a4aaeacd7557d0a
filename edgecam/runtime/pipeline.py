"""The daemon's data path, top to bottom: frame → gate → detector → tracker → publishers.

take     the freshest frame from the capture slot (after the thermal governor set the capture rate)
prepare  gate (detection switched on, motion or live tracks), letterbox (a YUV camera frame is
         scaled to the network's size before it is converted; nothing makes a full-size RGB copy
         unless a snapshot or a live-view client asks for it)
infer    the network's forward pass — nothing else
finish   decode + NMS, track, hand one ``FrameUpdate`` to every publisher, count, stats

How the stages share the CPU (``runtime/stages.py``): when ncnn's threads fill every core they
run in turn in one thread, so nothing competes with the forward pass; with a core to spare they
overlap in three threads.  ``process(frame)`` runs the stages for one frame in the caller's thread.

Camera state (``camera()`` → ``(state, losses)`` from the capture thread) is followed in ``take``:
a change travels through the stages as a :class:`CameraChange` item, so ``finish`` (the thread that
owns the tracker) ends every live track with ``"reason": "camera_lost"`` on a loss, publishes the
counts (0) and hands ``online``/``offline`` to every publisher that has ``publish_camera``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgecam import records
from edgecam.domain import Detections, Frame, FrameUpdate, Inference
from edgecam.latency import LatencyWindow
from edgecam.runtime.stages import END, POLL_S, run_in_turn, run_overlapped
from edgecam.runtime.stats import PipelineStats, StageTimes, release_free_heap

log = logging.getLogger(__name__)

_EMPTY_IMAGE = np.zeros((1, 1, 3), np.uint8)  # placeholder frame for the shutdown update


def spare_core(detector) -> bool:
    """True unless the detector's worker threads (``detector.settings.threads``) fill every usable CPU."""
    threads = getattr(getattr(detector, "settings", None), "threads", None)
    if not isinstance(threads, int):
        return True
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return threads < cores


@dataclass(frozen=True)
class CameraChange:
    """The camera went ``state`` (``online``/``offline``); ``lost``: it was lost since the last change."""

    state: str | None
    lost: bool


@dataclass
class Job:
    """One frame on its way through the stages."""

    frame: Frame
    infer: bool  # the gate's decision
    conf: float
    mat: Any = None  # the letterboxed network input
    letterbox: Any = None
    preprocess_ms: float = 0.0
    forward_ms: float = 0.0
    outputs: Any = None  # raw network outputs


class Pipeline:
    """One camera's processing loop. ``run()`` blocks until stopped, the source ends, or max_frames."""

    def __init__(
        self, camera_id: str, next_frame: Callable[[float], Frame | None],
        source_exhausted: Callable[[], bool], detector, tracker, publishers: Sequence, controls, *,
        motion=None, thermal=None, set_fps: Callable[[float], None] | None = None, health=None,
        extra_stats: Callable[[], dict] | None = None, stats_interval_s: float = 10.0,
        max_frames: int | None = None, on_first_frame: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic, overlap: bool | None = None,
        camera: Callable[[], tuple[str | None, int]] | None = None, latency: LatencyWindow | None = None,
        measure_latency: bool = True,
    ) -> None:
        self.camera_id, self.next_frame, self.source_exhausted = camera_id, next_frame, source_exhausted
        self.detector, self.tracker, self.publishers, self.controls = detector, tracker, list(publishers), controls
        self.motion, self.thermal, self.set_fps, self.health = motion, thermal, set_fps, health
        self.extra_stats, self.stats_interval_s, self.max_frames = extra_stats, stats_interval_s, max_frames
        self.on_first_frame, self.clock = on_first_frame, clock
        self.overlap = spare_core(detector) if overlap is None else overlap
        self.stats, self.times = PipelineStats(), StageTimes()
        self.stop_event = threading.Event()
        self._fps: float | None = None
        self._taken = 0
        self._last_stats = -1e18
        self.camera = camera
        self._camera_state: str | None = None
        self._camera_losses = 0
        self._last_frame: Frame | None = None
        self.latency = latency if latency is not None else LatencyWindow()
        self.measure_latency = measure_latency  # False: a publisher records it (MQTT: at the publish)
        self._no_detections = Detections.empty(detector.class_names)  # a frame not inferred (made once)

    def run(self) -> None:
        tick = lambda: self._stamp("inference")  # noqa: E731 - the inference stage's heartbeat
        try:
            if self.overlap:
                run_overlapped(self.take, self.prepare, self.infer, self.finish_frame, tick, self.stop_event)
            else:
                run_in_turn(self.take, self.prepare, self.infer, self.finish_frame, tick)
        finally:
            self.finish()

    def process(self, frame: Frame) -> FrameUpdate:
        """All stages for one frame, in the caller's thread."""
        return self.finish_frame(self.infer(self.prepare(frame)))

    def take(self) -> Frame | None | object:
        """The next frame, None if none came within a poll interval, END when the run is over."""
        if self.stop_event.is_set() or (self.max_frames is not None and self._taken >= self.max_frames):
            return END
        self._govern()
        change = self._camera_change()
        if change is not None:
            return change
        frame = self.next_frame(POLL_S)
        if frame is None:
            if self.source_exhausted():
                log.info("source exhausted after %d frames", self._taken)
                return END
            self._stats_if_due()  # keep stats fresh while the camera is gone
            return None
        self._taken += 1
        return frame

    def prepare(self, frame: Frame) -> Job:
        """Gate, letterbox."""
        if isinstance(frame, CameraChange):
            return frame  # type: ignore[return-value] - passed through to finish
        with self.times.measure("gate"):
            infer = self.controls.detection_enabled and (
                self.motion is None or self.motion.should_infer(frame, self.tracker.has_live_tracks, self.clock()))
        job = Job(frame, bool(infer), self.controls.conf)
        if job.infer:
            t0 = time.perf_counter()
            with self.times.measure("preprocess"):
                job.mat, job.letterbox = self.detector.preprocess_frame(frame)
            job.preprocess_ms = (time.perf_counter() - t0) * 1e3
        return job

    def infer(self, job: Job) -> Job:
        """The network's forward pass."""
        if isinstance(job, CameraChange):
            return job
        if job.infer:
            t0 = time.perf_counter()
            with self.times.measure("forward"):
                job.outputs = self.detector.forward(job.mat)
            job.forward_ms, job.mat = (time.perf_counter() - t0) * 1e3, None
        return job

    def finish_frame(self, job: Job) -> FrameUpdate:
        """Decode + NMS, track, publish, count."""
        if isinstance(job, CameraChange):
            return self._apply_camera(job)  # type: ignore[return-value]
        inference = None
        if job.infer:
            t0 = time.perf_counter()
            with self.times.measure("postprocess"):
                detections = self.detector.postprocess(job.outputs, job.letterbox, job.conf)
            lb, job.outputs = job.letterbox, None
            inference = Inference(detections, lb.src_w, lb.src_h, job.forward_ms, job.preprocess_ms,
                                  (time.perf_counter() - t0) * 1e3)
        detections = inference.detections if inference is not None else self._no_detections
        frame = job.frame
        with self.times.measure("track"):
            out = self.tracker.update(detections, frame.timestamp, frame.width, frame.height)
        update = FrameUpdate(
            camera=self.camera_id, frame=frame, inference=inference, detections=out.detections,
            events=out.events, tracks=out.tracks, counts=out.counts, zone_counts=out.zone_counts,
        )
        with self.times.measure("publish"):
            for p in self.publishers:
                p.publish(update)
        if self.measure_latency and inference is not None:
            self.latency.record(frame.timestamp, time.time())
        self._last_frame = frame
        self.stats.record(self.clock(), inference)
        if self.stats.frames == 1 and self.on_first_frame is not None:
            self.on_first_frame()
        self._stats_if_due()
        return update

    def finish(self) -> None:
        """End every live track so subscribers never hold dangling events; publish final stats."""
        out = self.tracker.flush(time.time())
        if out.events:
            log.info("shutdown: ending %d live track(s)", sum(e.type == "end" for e in out.events))
        self._publish_flushed(out, Frame(image=_EMPTY_IMAGE, index=-1, timestamp=time.time()))
        self.publish_stats()

    def _publish_flushed(self, out, frame: Frame) -> None:
        """Hand a tracker flush (its ``end`` events and counts, no inference) to every publisher."""
        update = FrameUpdate(
            camera=self.camera_id, frame=frame, inference=None, detections=self._no_detections,
            events=out.events, tracks=out.tracks, counts=out.counts, zone_counts=out.zone_counts,
        )
        for p in self.publishers:
            p.publish(update)

    def stop(self) -> None:
        self.stop_event.set()

    # -- camera state ----------------------------------------------------------------------------
    def _camera_change(self) -> CameraChange | None:
        """A change of the capture thread's camera state since the last look (take's thread)."""
        if self.camera is None:
            return None
        state, losses = self.camera()
        lost = losses != self._camera_losses
        if not lost and state == self._camera_state:
            return None
        self._camera_losses, self._camera_state = losses, state
        return CameraChange(state, lost)

    def _apply_camera(self, change: CameraChange) -> None:
        """End the tracks of a lost camera, publish the counts and the camera state (finish's thread)."""
        if change.lost:
            out = self.tracker.flush(time.time(), reason="camera_lost")
            ended = sum(e.type == "end" for e in out.events)
            if ended:
                log.warning("camera %s lost: ending %d live track(s)", self.camera_id, ended)
            self._publish_flushed(out, self._last_frame or Frame(image=_EMPTY_IMAGE, index=-1, timestamp=time.time()))
        states = (["offline"] if change.lost and change.state == "online" else []) + [change.state]
        for state in states:
            if state is None:
                continue
            for p in self.publishers:
                publish_camera = getattr(p, "publish_camera", None)
                if publish_camera is not None:
                    publish_camera(state)
        self._last_stats = -1e18  # stats at once: the camera state and its cause
        self._stats_if_due()

    # -- stats, thermal, health ------------------------------------------------------------------
    def _stats_if_due(self) -> None:
        now = self.clock()
        if now - self._last_stats >= self.stats_interval_s:
            self._last_stats = now
            self.publish_stats()
            release_free_heap()

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
        stats = self.stats.snapshot(self.clock())
        stats["latency_ms"] = self.latency.percentiles()
        if self.thermal is not None:
            stats.update(self.thermal.stats())
        if self.motion is not None:
            stats.update({f"motion_{k}": v for k, v in self.motion.stats().items()})
        tracker_stats = getattr(self.tracker, "stats", None)
        if callable(tracker_stats):
            stats.update(tracker_stats())  # "filtered": detections dropped per filter
        if self.extra_stats is not None:
            stats.update(self.extra_stats())
        stats["detection_enabled"] = self.controls.detection_enabled
        stats["conf"] = self.controls.conf
        stats["state_write_errors"] = records.write_errors()
        return stats

    def publish_stats(self) -> None:
        stats = self.current_stats()
        for p in self.publishers:
            p.publish_stats(stats)
