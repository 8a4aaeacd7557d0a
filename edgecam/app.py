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
from edgecam.controls import Controls
from edgecam.latency import LatencyWindow
from edgecam.runtime.health import Health
from edgecam.runtime.pipeline import Pipeline

log = logging.getLogger(__name__)


def build_detector(settings: Settings):
    import dataclasses

    from edgecam.detectors.base import load_detector_class
    from edgecam.detectors.settings import resolve_threads

    threads = resolve_threads(settings.model.threads, settings.camera.decodes_in_process())
    if threads != settings.model.threads:
        log.info("model threads = %d (auto, source %s)", threads, settings.camera.source)
    model = dataclasses.replace(settings.model, threads=threads)
    return load_detector_class(model.backend).from_settings(model)


def warm_up_detector(detector, settings: Settings):
    """Thermal-aware warm-up (``runtime/warmup.py``): until latency and SoC temperature settle, or a cap."""
    from edgecam.runtime.thermal import ThermalReader
    from edgecam.runtime.warmup import warm_up

    w, h = settings.camera.frame_size_hint()
    image = np.full((h, w, 3), 114, np.uint8)
    t = settings.thermal
    reader = ThermalReader(t.sysfs_root)
    return warm_up(lambda: detector.detect(image, "RGB").inference_ms, lambda: reader.read().temperature_c,
                   min_runs=t.warmup_min_runs, max_runs=t.warmup_max_runs, tolerance=t.warmup_tolerance,
                   max_s=t.warmup_max_s, flat_c_per_run=t.warmup_flat_c_per_run)


def build_publishers(settings: Settings, controls: Controls, detector, state_dir: Path | None = None,
                     latency: LatencyWindow | None = None) -> list:
    """Every publisher the config turns on, in registry order; ``state_dir`` is the camera's (locked)
    state directory (default: ``<[output] state_dir>/<camera>``)."""
    from edgecam.config.loader import parse_config
    from edgecam.publishers.base import PUBLISHERS
    from edgecam.publishers.context import PublisherContext
    from edgecam.runtime.statedir import camera_state_dir

    context = PublisherContext(
        settings.camera.id, controls, tuple(detector.class_names), configured_labels(settings), settings.zones,
        settings.masks, state_dir or camera_state_dir(Path(settings.output.state_dir), settings.camera.id),
        parse_config, latency)
    pubs = []
    for plugin in PUBLISHERS:
        section, _, key = plugin.switch.partition(".")
        if getattr(getattr(settings, section), key):
            pubs.append(plugin.load().from_settings(*(getattr(settings, s) for s in plugin.sections), context))
    return pubs


def connect_event_history(publishers: list) -> object | None:
    """The event history publisher, wired to its neighbours: the live view serves its store, MQTT announces
    and publishes a "Last <label>" image per label.  None when ``[events]`` is off."""
    events = next((p for p in publishers if p.kind == "events"), None)
    if events is not None:
        for p in publishers:
            if p.kind == "web":
                p.events = events
            elif p.kind == "mqtt":
                p.announce_last_snapshots()
                events.on_snapshot = p.publish_last_snapshot
    return events


def build_capture(settings: Settings, base_dir: Path, packet_sink=None, main_image_sink=None):
    """The capture thread; ``packet_sink`` (the event history's clips) goes to a source that offers packets,
    ``main_image_sink`` (its snapshots) to one with a larger stream than the detection frame (picamera2)."""
    from edgecam.runtime.capture import CaptureThread
    from edgecam.sources.base import load_source_class

    cls = load_source_class(settings.camera.source)

    def open_source():
        source = cls.from_settings(settings.camera, base_dir=base_dir)
        if packet_sink is not None and hasattr(source, "set_packet_sink"):
            source.set_packet_sink(packet_sink)
        if main_image_sink is not None and hasattr(source, "set_main_image_sink"):
            source.set_main_image_sink(main_image_sink)
        return source

    return CaptureThread(open_source, settings.camera)


def build_tracker(settings: Settings):
    from edgecam.tracking.tracker import IouTracker

    return IouTracker(settings.tracking, settings.zones, settings.masks, filters=settings.filters)


def configured_labels(settings: Settings) -> tuple[str, ...]:
    """Labels the config restricts tracking/detection to (Home Assistant entities exactly for them)."""
    return tuple(settings.tracking.labels) or tuple(settings.model.classes)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGTERM, SIGINT and SIGHUP set ``stop`` (main thread only): a clean stop, exit 0, every open track
    ended.  SIGHUP is a stop, not a reload (a closed terminal or ``systemctl kill -s HUP`` must not
    leave tracks open); restart the service to apply a changed config.  Previous handlers are
    restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

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
    from edgecam.config.loader import load_checked
    from edgecam.runtime.logs import setup_logging
    from edgecam.runtime.motion import MotionGate
    from edgecam.runtime.systemd import SystemdNotifier, WatchdogThread, status_line
    from edgecam.runtime.thermal import ThermalGovernor

    settings, warnings = load_checked(config_path)  # the same validation as `edgecam check`
    setup_logging(settings.output.log_level, fields={"CAMERA": settings.camera.id})
    for line in warnings:
        log.warning("%s", line)
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
        notifier.status("warming up")
        warm = warm_up_detector(detector, settings)
        log.info("model %s loaded and warmed up in %.1f s; %s", detector.name, time.monotonic() - t0, warm.summary())
        status_text[0] = warm.summary()
        notifier.status(status_text[0])

        controls = Controls(detection_enabled=True, conf=settings.model.conf)
        tracker = build_tracker(settings)
        state_dir = None
        if settings.mqtt.enabled or settings.web.enabled or settings.events.enabled:  # spool, journal, controls, history
            from edgecam.runtime.controlstore import ControlStore
            from edgecam.runtime.statedir import claim_state_dir

            state_dir = stack.enter_context(claim_state_dir(Path(settings.output.state_dir), cam.id))
            ControlStore(state_dir).restore(controls)  # values set over MQTT / the live view win over the config
        latency = LatencyWindow()  # capture → MQTT publish (without MQTT: → hand-over to the publishers)
        publishers = build_publishers(settings, controls, detector, state_dir, latency)
        web = next((p for p in publishers if getattr(p, "kind", None) == "web"), None)
        if web is not None:  # the page's zone/mask editor saves to this config and applies to this tracker
            from edgecam.config.loader import check_text

            web.attach_editor(Path(config_path), tracker.set_regions, check_text)
        events = connect_event_history(publishers)
        if events is not None:
            tracker = events.naming(tracker)  # every end event names its snapshot and clip
        for p in publishers:
            if hasattr(p, "on_fatal"):  # e.g. another live daemon owns this camera on the broker
                p.on_fatal = stop.set
            p.start()
            stack.callback(p.close)

        capture = build_capture(settings, Path(config_path).resolve().parent,
                                events.packet_sink if events is not None else None,
                                events.main_images if events is not None else None)
        # the capture supervisor's heartbeat, not the camera's frames: an outage is no hang
        # (it stops only while an abandoned read does not return: a hung read, or a dead thread)
        health.register("capture", max(10.0, 3.0 / cam.fps, 2 * capture.stall_timeout_s))
        capture.heartbeat = lambda: health.stamp("capture")
        capture.start()
        stack.callback(capture.stop)

        thermal = ThermalGovernor(settings.thermal, base_fps=cam.fps) if settings.thermal.enabled else None
        if thermal is not None:  # already at the soft limit after the warm-up: start throttled
            capture.set_fps(thermal.prime(warm.end_c, time.monotonic()))
        motion = MotionGate(settings.motion) if settings.motion.enabled else None
        health.register("inference", 20.0)
        ready = ["running: {} at {}, camera {}; {}".format(detector.name, settings.model.size, cam.id, warm.summary())]

        def on_first_frame() -> None:
            log.info("edgecam running: camera %s (%s), model %s", cam.id, cam.source, detector.name)

        pipeline = Pipeline(
            cam.id, capture.get, lambda: capture.done, detector, tracker, publishers, controls,
            motion=motion, thermal=thermal, set_fps=capture.set_fps, health=health,
            extra_stats=lambda: {**warm.stats(), **capture.stats(), **_publisher_stats(publishers)},
            stats_interval_s=settings.output.stats_interval_s, max_frames=max_frames,
            on_first_frame=on_first_frame,
            camera=lambda: (capture.camera, capture.losses), latency=latency,
            measure_latency=not settings.mqtt.enabled,
        )

        for p in publishers:
            if hasattr(p, "stats_source"):  # the live view: live numbers between stats messages
                p.stats_source = pipeline.current_stats

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
        # READY=1 once the model is warm and capture runs, camera or not: an outage is no failed start
        notifier.ready(ready[0])
        pipeline.run()
        fatal = next((e for e in (getattr(p, "fatal_error", None) for p in publishers) if e is not None), None)
        if fatal is not None:
            raise fatal
        if not stop.is_set():
            notifier.stopping("stopping: flushing events")
        if capture.error is not None and not stop.is_set():
            log.error("camera %s failed: %s", cam.id, capture.error)
            return getattr(capture.error, "exit_code", 1)  # 2 for a usage/config error
    return 0


def _publisher_stats(publishers) -> dict:
    """Each publisher's own counters under its kind (``{"mqtt": {...}}``): one shape everywhere."""
    out: dict = {}
    for p in publishers:
        stats = getattr(p, "stats", None)
        if callable(stats):
            out[p.kind] = stats()
    return out
