"""Assemble the daemon from a validated config: the only place that picks concrete plugins.

Resources are opened on an ExitStack, so shutdown is start-up in reverse: the pipeline ends every
live track, capture stops, publishers flush what they owe and announce ``offline``, the network is
released.  systemd hears READY=1 only after the model is loaded and warmed up.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from pathlib import Path

import numpy as np

from edgecam.config.schema import Settings
from edgecam.runtime.controls import Controls
from edgecam.runtime.health import Health
from edgecam.runtime.pipeline import Pipeline

log = logging.getLogger(__name__)


def build_detector(settings: Settings):
    from edgecam.detectors.base import load_detector_class

    return load_detector_class(settings.model.backend).from_settings(settings.model)


def warm_up_detector(detector, settings: Settings) -> list[float]:
    """Thermal-aware warm-up: at least 3 inferences, until latency settles (or a cap)."""
    from edgecam.runtime.thermal import warm_up

    cam = settings.camera
    w = cam.lores_width if cam.source == "picamera2" else (cam.width or 640)
    h = cam.lores_height if cam.source == "picamera2" else (cam.height or 480)
    image = np.full((h, w, 3), 114, np.uint8)
    t = settings.thermal
    return warm_up(lambda: detector.detect(image, "RGB").inference_ms,
                   t.warmup_min_runs, t.warmup_max_runs, t.warmup_tolerance)


# Home Assistant entities announced from the start when the config names no labels; any other
# label gets its entities when it is first seen.
DEFAULT_ENTITY_LABELS = ("person", "car", "dog", "cat")


def build_publishers(settings: Settings, controls: Controls, detector, zones: tuple[str, ...]) -> list:
    from edgecam.publishers.base import load_publisher_class

    pubs = []
    if settings.output.stdout:
        pubs.append(load_publisher_class("stdout")(settings.camera.id))
    if settings.mqtt.enabled:
        pubs.append(load_publisher_class("mqtt")(
            settings.mqtt, settings.homeassistant, settings.camera.id, controls,
            Path(settings.output.state_dir).expanduser(), labels=configured_labels(settings), zones=zones,
            default_labels=tuple(c for c in DEFAULT_ENTITY_LABELS if c in detector.class_names),
        ))
    return pubs


def build_web(settings: Settings, controls: Controls, detector):
    """The live view (a publisher), or None when ``[web] enabled = false``."""
    if not settings.web.enabled:
        return None
    from edgecam.publishers.base import load_publisher_class

    return load_publisher_class("web")(settings.web, settings.camera.id, controls, settings.zones, settings.masks,
                                       class_names=tuple(detector.class_names))


def build_capture(settings: Settings, base_dir: Path):
    from edgecam.runtime.capture import CaptureThread
    from edgecam.sources.base import load_source_class

    cls = load_source_class(settings.camera.source)
    return CaptureThread(lambda: cls(settings.camera, base_dir=base_dir), settings.camera)


def build_tracker(settings: Settings):
    from edgecam.tracking.tracker import IouTracker

    return IouTracker(settings.tracking, settings.zones, settings.masks)


def configured_labels(settings: Settings) -> tuple[str, ...]:
    """Labels the config restricts tracking/detection to (Home Assistant entities exactly for them)."""
    return tuple(settings.tracking.labels) or tuple(settings.model.classes)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGTERM/SIGINT set ``stop`` (main thread only); previous handlers are restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum, _frame):
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_daemon(config_path: Path, max_frames: int | None = None) -> int:
    from edgecam.config.loader import load_config
    from edgecam.runtime.logs import setup_logging
    from edgecam.runtime.motion import MotionGate
    from edgecam.runtime.systemd import SystemdNotifier, WatchdogThread, status_line
    from edgecam.runtime.thermal import ThermalGovernor

    settings = load_config(config_path)
    setup_logging(settings.output.log_level, fields={"CAMERA": settings.camera.id})
    cam = settings.camera
    notifier = SystemdNotifier()
    health = Health()
    stop = threading.Event()
    with contextlib.ExitStack() as stack, stop_on_signals(stop):
        # The watchdog pings from the start (no stage registered yet); a hung start-up is caught by
        # the unit's TimeoutStartSec.  Stages are registered once the pipeline exists.
        status_text = ["starting"]
        watchdog = WatchdogThread(notifier, health, status_provider=lambda: status_text[0])
        watchdog.start()
        stack.callback(watchdog.stop)
        notifier.status("loading model")

        t0 = time.monotonic()
        detector = build_detector(settings)
        stack.callback(detector.close)
        latencies = warm_up_detector(detector, settings)
        log.info("model %s loaded and warmed up in %.1f s (%d runs, last %.1f ms)",
                 detector.name, time.monotonic() - t0, len(latencies), latencies[-1])

        controls = Controls(detection_enabled=True, conf=settings.model.conf)
        tracker = build_tracker(settings)
        publishers = build_publishers(settings, controls, detector, tracker.zone_names)
        web = build_web(settings, controls, detector)
        publishers += [web] if web is not None else []
        for p in publishers:
            p.start()
            stack.callback(p.close)

        capture = build_capture(settings, Path(config_path).resolve().parent)
        capture.start()
        stack.callback(capture.stop)

        thermal = ThermalGovernor(settings.thermal, base_fps=cam.fps) if settings.thermal.enabled else None
        motion = MotionGate(settings.motion) if settings.motion.enabled else None
        health.register("capture", max(10.0, 3.0 / cam.fps, 2 * capture.stall_timeout_s))
        health.register("inference", 20.0)
        ready = ["running: {} at {}, camera {}".format(detector.name, settings.model.size, cam.id)]

        def on_first_frame() -> None:  # READY=1 once the model is warm and the camera delivers
            notifier.ready(ready[0])
            log.info("edgecam running: camera %s (%s), model %s", cam.id, cam.source, detector.name)

        pipeline = Pipeline(
            cam.id, capture.get, lambda: capture.done, detector, tracker, publishers, controls,
            motion=motion, thermal=thermal, set_fps=capture.set_fps, health=health,
            extra_stats=lambda: {**capture.stats(), **_publisher_stats(publishers)},
            stats_interval_s=settings.output.stats_interval_s, max_frames=max_frames,
            on_first_frame=on_first_frame,
        )

        if web is not None:
            web.stats_source = pipeline.current_stats  # live numbers between stats messages

        def on_stop() -> None:
            stop.wait()
            notifier.stopping("stopping: flushing events")
            pipeline.stop()

        threading.Thread(target=on_stop, name="edgecam-stop", daemon=True).start()

        def status() -> str:
            s = pipeline.current_stats()
            return status_line(s.get("fps"), s.get("temperature_c"), s.get("inference_ms"),
                               throttled=bool(s.get("throttled")), dropped_frames=s.get("dropped_frames"))

        watchdog.status_provider = status
        pipeline.run()
        if not stop.is_set():
            notifier.stopping("stopping: flushing events")
        if capture.error is not None and not stop.is_set():
            log.error("camera %s failed: %s", cam.id, capture.error)
            return 1
    return 0


def _publisher_stats(publishers) -> dict:
    out: dict = {}
    for p in publishers:
        stats = getattr(p, "stats", None)
        if callable(stats):
            out.update({f"mqtt_{k}" if not k.startswith("mqtt") else k: v for k, v in stats().items()})
    return out
