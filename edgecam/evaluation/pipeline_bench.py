"""``edgecam bench --pipeline SOURCE``: the whole daemon data path against raw inference (CONTRACT §3).

The daemon's own objects are built as ``edgecam/app.py`` builds them — detector, tracker, MQTT
publisher to a real broker (``--broker host:port``, else a local mosquitto on a free loopback port),
capture thread — from settings that play SOURCE as fast as possible: no fps pacing, looped, motion
gating off (every frame is inferred), thermal governor off.

A file source is played *losslessly* here: the capture thread reads one frame ahead and waits for the
pipeline to take it.  Otherwise a looped file at an unbounded frame rate would decode frames only to
throw them away, and the bench would measure that waste instead of the data path.

``yuv420:IMAGES`` replays the images as the Pi camera delivers frames (``evaluation/yuv_replay.py``):
YUV420 buffers at the lores size, scaled and converted by the picamera2 source's own code in the
pipeline, only for the frames it takes.  Plain IMAGES decode a JPEG per frame in the capture thread, as a USB
MJPEG camera does.  Every stage's mean wall and CPU time per frame is reported (``stage_ms``).

Noise on a shared machine hits both sides: raw blocks (``forward()`` over the same frames,
preprocessed once) and pipeline blocks alternate — raw, pipeline, raw, ..., raw — and the medians
are compared.  Pipeline fps is steady-state throughput: frames published per second between the
first and the last frame of a block.  The last printed line is
``pipeline_fps=F raw_fps=G ratio=R`` with ``R = F / G``; the line before it reports, among others,
``latency_ms p50=… p95=…``: each frame's capture time to the MQTT publish of its detections (the
daemon's ``latency_ms`` stats).  A ``rtsp://``/``http(s)://`` SOURCE is read by the ``stream`` source
(PyAV), live: frames the pipeline cannot take are dropped, as in the daemon.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecam.confidence import CONF_DEFAULT
from edgecam.errors import SourceError, UsageError
from edgecam.limits import MAX_PIXELS_DEFAULT

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg", ".h264", ".ts"})
UNPACED_FPS = 1000.0  # "as fast as possible" (the config's cap): a 1 ms pacing never binds


@dataclass(frozen=True)
class PipelineBenchResult:
    model: str
    size: int
    threads: int
    source: str
    frames_per_round: int
    pipeline_fps: float  # median over rounds
    raw_fps: float  # median over raw blocks (1000 / mean forward ms of a block)
    ratio: float
    rounds_pipeline_fps: tuple[float, ...] = ()
    rounds_raw_fps: tuple[float, ...] = ()
    raw_forward_ms: float = 0.0  # mean over all raw samples
    published: int = 0  # MQTT messages the publisher handed to the broker
    stage_ms: dict = field(default_factory=dict)  # {stage: {n, wall_ms, cpu_ms}} mean per call, all blocks
    overlap: bool = False  # stages overlapped in three threads (else run in turn)
    cpu_ms_per_frame: float = 0.0  # the whole process's CPU time (every thread) per pipeline frame
    events: str = "auto"  # the event history's mode (--events)
    latency_ms: dict = field(default_factory=dict)  # {"p50", "p95"}: capture → MQTT publish, timed rounds

    def line(self) -> str:
        return f"pipeline_fps={self.pipeline_fps:.2f} raw_fps={self.raw_fps:.2f} ratio={self.ratio:.3f}"

    def to_json(self) -> dict:
        return asdict(self)


def parse_source(spec: str) -> tuple[str, str]:
    """``(kind, path)`` for SOURCE: ``yuv420:IMAGES``, ``opencv:DEV``, a video file, or images (dir/glob/file)."""
    from edgecam.evaluation.yuv_replay import PREFIX
    from edgecam.sources.images import list_images

    if spec.split("://", 1)[0].lower() in ("rtsp", "rtsps", "http", "https") and "://" in spec:
        return "stream", spec
    if spec.startswith("opencv:"):
        target = spec.removeprefix("opencv:")
        if not target:
            raise UsageError("--pipeline opencv: needs a device, index, URL or file, e.g. opencv:/dev/video0")
        return "opencv", target
    if Path(spec).suffix.lower() in VIDEO_SUFFIXES:
        if not Path(spec).is_file():
            raise UsageError(f"--pipeline {spec}: video file not found; give an existing file, an image dir/glob or opencv:DEV")
        return "opencv", spec
    kind, path = ("yuv420", spec.removeprefix(PREFIX)) if spec.startswith(PREFIX) else ("images", spec)
    if not list_images(path):
        raise UsageError(f"--pipeline {spec}: names no images, video file or opencv: device; give e.g. "
                         "a directory of photos or yuv420:DIR")
    return kind, path


def source_factory(kind: str, settings, lores: tuple[int, int], stride: int | None):
    """A function making a fresh source for the bench: the camera's plugin, or the YUV420 replay."""
    from edgecam.sources.base import load_source_class

    if kind == "yuv420":
        if stride is not None and (stride < lores[0] or stride % 2):
            raise UsageError(f"--stride {stride}: must be even and at least the width {lores[0]}, e.g. {lores[0] + 64}")
        from edgecam.evaluation.yuv_replay import Yuv420ReplaySource
        from edgecam.sources.images import list_images

        files = list_images(settings.camera.path)
        return lambda: Yuv420ReplaySource(files, lores[0], lores[1], stride, max_pixels=settings.camera.max_pixels)
    cls = load_source_class(kind)
    return lambda: cls.from_settings(settings.camera, base_dir=Path.cwd())


def bench_settings(source: str, path: str, model: str, size: int, threads: int, host: str, port: int,
                   state_dir: Path, conf: float = CONF_DEFAULT, iou: float = 0.45, fp16: bool = True, powersave: int = 0,
                   max_pixels: int = MAX_PIXELS_DEFAULT, events: str = "auto"):
    """Daemon settings that play SOURCE unpaced with every frame inferred and published over MQTT.

    ``events``: ``off`` (no event history), ``auto`` (the default ``[events]``: snapshots, clips only by stream
    copy, which a file source cannot offer), ``clips`` (``clips = "on"``: software-encoded clips)."""
    from edgecam.config.plugins import CAMERA_SETTINGS
    from edgecam.config.schema import OutputSettings, Settings
    from edgecam.detectors.settings import DetectorSettings
    from edgecam.events.settings import EventsSettings
    from edgecam.publishers.mqtt.settings import MqttSettings
    from edgecam.runtime.settings import MotionSettings, ThermalSettings
    from edgecam.tracking.settings import TrackerSettings
    from edgecam.web.settings import WebSettings

    loop = {} if source == "stream" else {"loop": True}
    return Settings(
        camera=CAMERA_SETTINGS["images" if source == "yuv420" else source](
            id="bench", path=path, fps=UNPACED_FPS, max_pixels=max_pixels, **loop,
            **({} if source in ("opencv", "stream") else {"hold_s": 0.0})),  # every frame read and decoded
        model=DetectorSettings(path=model, size=size, threads=threads, conf=conf, iou=iou, fp16=fp16,
                               powersave=powersave),
        mqtt=MqttSettings(host=host, port=port, client_id="edgecam-bench"),
        output=OutputSettings(state_dir=str(state_dir), stats_interval_s=1.0, log_level="WARNING"),
        motion=MotionSettings(enabled=False),
        thermal=ThermalSettings(enabled=False),
        tracking=TrackerSettings(publish_detections="all"),  # every frame's detections: the heaviest feed
        web=WebSettings(enabled=False),  # the bench measures the MQTT path
        events=EventsSettings(enabled=events != "off", clips="on" if events == "clips" else "auto"),
    )


class LosslessSource:
    """Wraps a file source so the capture thread hands over every frame (reads one frame ahead)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.name = getattr(inner, "name", "source")
        self.live = getattr(inner, "live", True)
        self.lossless = not self.live

    def open(self) -> None:
        self._inner.open()
        self.live = getattr(self._inner, "live", self.live)  # opencv knows after parsing its target
        self.lossless = not self.live

    def read(self, timeout: float):
        return self._inner.read(timeout)

    def close(self) -> None:
        self._inner.close()


class FrameTimes:
    """A publisher that notes when each frame leaves the pipeline (steady-state throughput)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.inferred = 0

    def start(self) -> None:
        pass

    def publish(self, update) -> None:
        if update.frame.index < 0:  # the shutdown update
            return
        self.times.append(time.perf_counter())
        self.inferred += update.inference is not None

    def publish_stats(self, stats) -> None:
        pass

    def close(self) -> None:
        pass

    def fps(self) -> float:
        t = self.times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0


def _sample_mats(detector, make_source, settings, count: int) -> list:
    """Up to ``count`` frames of the source, preprocessed once, for the raw blocks."""
    src = make_source()
    mats = []
    try:
        src.open()
        deadline = time.monotonic() + 30.0
        while len(mats) < count and time.monotonic() < deadline:
            try:
                frame = src.read(0.5)
            except EOFError:
                break
            if frame is not None:
                mats.append(detector.preprocess_frame(frame)[0])
    except SourceError as exc:  # e.g. every image refused: an input problem of this command
        raise UsageError(f"--pipeline {settings.camera.path}: {exc}") from None
    finally:
        src.close()
    if not mats:
        raise UsageError(f"--pipeline {settings.camera.path}: the source delivered no frame within 30 s")
    return mats


def _raw_block(detector, mats: list, n: int) -> list[float]:
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        detector.forward(mats[i % len(mats)])
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def measure_pipeline(source_spec: str, model: str = "yolov5ss", size: int | None = None, threads: int = 4,
                     frames: int = 60, rounds: int = 3, broker: tuple[str, int] | None = None,
                     conf: float = CONF_DEFAULT, iou: float = 0.45, fp16: bool = True, powersave: int = 0,
                     progress=None, lores: tuple[int, int] = (640, 360), stride: int | None = None,
                     overlap: bool | None = None, max_pixels: int = MAX_PIXELS_DEFAULT,
                     events: str = "auto") -> PipelineBenchResult:
    """Interleave raw and pipeline blocks of ``frames`` frames, ``rounds`` times; compare medians."""
    from edgecam.app import build_detector, build_publishers, build_tracker, warm_up_detector
    from edgecam.bundles.resolver import resolve
    from edgecam.runtime.capture import CaptureThread
    from edgecam.controls import Controls
    from edgecam.latency import LatencyWindow
    from edgecam.runtime.pipeline import Pipeline
    from edgecam.runtime.stats import StageTimes

    kind, path = parse_source(source_spec)
    size = size or resolve(model).manifest.input_size
    say = progress or (lambda text: None)
    with tempfile.TemporaryDirectory(prefix="edgecam-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        if broker is None:
            from edgecam.evaluation.local_broker import start_broker

            proc, port = start_broker(work)
            stack.callback(lambda: (proc.terminate(), proc.wait(5)))
            broker = ("127.0.0.1", port)
            say(f"mosquitto on 127.0.0.1:{port}")
        settings = bench_settings(kind, path, model, size, threads, broker[0], broker[1], work / "state",
                                  conf=conf, iou=iou, fp16=fp16, powersave=powersave, max_pixels=max_pixels,
                                  events=events)
        detector = build_detector(settings)
        stack.callback(detector.close)
        warm_up_detector(detector, settings)
        controls = Controls(detection_enabled=True, conf=settings.model.conf)
        tracker = build_tracker(settings)
        latency = LatencyWindow()
        publishers = build_publishers(settings, controls, detector, latency=latency)
        mqtt = next(p for p in publishers if p.kind == "mqtt")
        recorder = next((p for p in publishers if p.kind == "events"), None)
        if recorder is not None:
            tracker = recorder.naming(tracker)
        for p in publishers:
            p.start()
            stack.callback(p.close)
        if not mqtt.wait_connected(10.0):
            raise UsageError(f"MQTT broker {broker[0]}:{broker[1]} did not accept a connection within 10 s; "
                             "check --broker or that mosquitto runs")
        make_source = source_factory(kind, settings, lores, stride)
        mats = _sample_mats(detector, make_source, settings, min(frames, 16))
        capture = CaptureThread(lambda: LosslessSource(make_source()), settings.camera)
        capture.start()
        stack.callback(capture.stop)

        times = StageTimes()
        modes: list[bool] = []
        cpu = [0.0, 0]  # process CPU seconds and frames over the timed pipeline blocks

        def pipeline_block() -> FrameTimes:
            clock = FrameTimes()
            pipe = Pipeline(settings.camera.id, capture.get, lambda: capture.done, detector, tracker,
                            [*publishers, clock], controls, stats_interval_s=settings.output.stats_interval_s,
                            max_frames=frames, overlap=overlap)
            pipe.times = times
            modes.append(pipe.overlap)
            cpu0 = time.process_time()
            pipe.run()
            cpu[0] += time.process_time() - cpu0
            cpu[1] += len(clock.times)
            if capture.error is not None:
                raise UsageError(f"--pipeline {source_spec}: {capture.error}")
            return clock

        pipeline_block()  # warm the path (threads, caches, broker connection) once, untimed
        times.reset()
        cpu[:] = [0.0, 0]
        latency.clear()
        raw_fps: list[float] = []
        pipe_fps: list[float] = []
        raw_all: list[float] = []
        for r in range(rounds + 1):
            samples = _raw_block(detector, mats, frames)
            raw_all += samples
            raw_fps.append(1e3 / statistics.fmean(samples))
            if r == rounds:
                break
            clock = pipeline_block()
            pipe_fps.append(clock.fps())
            say(f"round {r + 1}/{rounds}: raw_fps={raw_fps[-1]:.2f} pipeline_fps={pipe_fps[-1]:.2f} "
                f"({len(clock.times)} frames)")
        published = mqtt.stats().get("published", 0)
    pf, rf = statistics.median(pipe_fps), statistics.median(raw_fps)
    return PipelineBenchResult(
        model=detector.name, size=size, threads=detector.settings.threads, source=source_spec, frames_per_round=frames,
        pipeline_fps=pf, raw_fps=rf, ratio=pf / rf if rf > 0 else 0.0,
        rounds_pipeline_fps=tuple(round(x, 2) for x in pipe_fps), rounds_raw_fps=tuple(round(x, 2) for x in raw_fps),
        raw_forward_ms=statistics.fmean(raw_all), published=published,
        stage_ms=times.summary(), overlap=modes[-1], cpu_ms_per_frame=1e3 * cpu[0] / max(1, cpu[1]), events=events,
        latency_ms=latency.percentiles(),
    )


def parse_broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--broker {text!r}: expected host:port, e.g. 127.0.0.1:1883")
    return host, int(port)


def run_pipeline_bench(args) -> int:
    """The ``edgecam bench --pipeline SOURCE`` command; the last stdout line is the CONTRACT §3 line."""
    broker = parse_broker(args.broker) if args.broker else None
    result = measure_pipeline(
        args.pipeline, model=args.model, size=args.size, threads=args.threads, frames=args.frames,
        rounds=args.rounds, broker=broker, conf=args.conf, iou=args.iou, fp16=not args.no_fp16,
        powersave=args.powersave, progress=lambda text: print(text, flush=True),
        lores=args.lores, stride=args.stride, max_pixels=args.max_pixels, events=args.events,
    )
    stages = "  ".join(f"{k}={v['wall_ms']:.2f}/{v['cpu_ms']:.2f}" for k, v in result.stage_ms.items())
    print(f"{result.model} size={result.size} threads={result.threads} "
          f"stages {'overlapped' if result.overlap else 'in turn'}: raw forward avg {result.raw_forward_ms:.2f} ms; "
          f"per frame wall/cpu ms {stages}; mqtt published {result.published}; events {result.events}: "
          f"process cpu {result.cpu_ms_per_frame:.1f} ms/frame; "
          f"latency_ms p50={result.latency_ms.get('p50')} p95={result.latency_ms.get('p95')}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), indent=2))
    print(result.line(), flush=True)
    return 0
