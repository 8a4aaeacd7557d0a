"""The daemon's data path, top to bottom: frame → gate → detector → tracker → publishers.

The capture thread (``runtime/capture.py``) keeps only the freshest frame in a slot; this loop,
running in the inference thread, takes it, decides whether to run the detector (detection switched
on, motion or live tracks), tracks, and hands one ``FrameUpdate`` to every publisher.  Publishers
never block here: the MQTT one queues to its own thread.  ncnn releases the GIL while it runs, so
capture and publishing overlap inference.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from edgecam.domain import Detections, Frame, FrameUpdate, Inference

log = logging.getLogger(__name__)

_EMPTY_IMAGE = np.zeros((1, 1, 3), np.uint8)  # placeholder frame for the shutdown update


@dataclass
class PipelineStats:
    """Counters of the inference side; ``snapshot()`` renders the CONTRACT §6 ``stats`` fields."""

    started: float = field(default_factory=time.monotonic)
    frames: int = 0
    inferences: int = 0
    skipped: int = 0
    inference_ms: float = 0.0  # exponential moving average of the forward pass
    fps: float = 0.0
    _window: list[float] = field(default_factory=list)

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
            self._window.pop(0)
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
    ) -> None:
        self.camera_id = camera_id
        self.next_frame = next_frame
        self.source_exhausted = source_exhausted
        self.detector = detector
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

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> None:
        last_stats = -1e18
        try:
            while not self.stop_event.is_set():
                self._govern()
                frame = self.next_frame(0.5)
                self._stamp("inference")
                if frame is None:
                    if self.source_exhausted():
                        log.info("source exhausted after %d frames", self.stats.frames)
                        break
                    continue
                self._stamp("capture")
                self.process(frame)
                if self.stats.frames == 1 and self.on_first_frame is not None:
                    self.on_first_frame()
                now = self.clock()
                if now - last_stats >= self.stats_interval_s:
                    last_stats = now
                    self.publish_stats()
                if self.max_frames is not None and self.stats.frames >= self.max_frames:
                    break
        finally:
            self.finish()

    def process(self, frame: Frame) -> FrameUpdate:
        """Gate → detect → track → publish one frame."""
        tracker = self.tracker
        inference: Inference | None = None
        if self.controls.detection_enabled and (
            self.motion is None or self.motion.should_infer(frame, tracker.has_live_tracks, self.clock())
        ):
            inference = self.detector.detect(frame.image, frame.pixel_format, conf=self.controls.conf)
            detections = inference.detections
        else:
            detections = Detections.empty(self.detector.class_names)
        out = tracker.update(detections, frame.timestamp, frame.width, frame.height)
        update = FrameUpdate(
            camera=self.camera_id, frame=frame, inference=inference, detections=out.detections,
            events=out.events, tracks=out.tracks, counts=out.counts, zone_counts=out.zone_counts,
        )
        for p in self.publishers:
            p.publish(update)
        self.stats.record(self.clock(), inference)
        return update

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

