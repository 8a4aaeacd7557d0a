"""Benchmark: pipeline fps with and without a live-view viewer (prints numbers; not a test).

    OMP_WAIT_POLICY=PASSIVE python tests/web/bench_live_view.py [--source ../shared/images] [--size 320]
        [--threads 1] [--frames 60] [--rounds 3] [--stream-fps 5]

The daemon's own objects (detector, tracker, capture thread, the live view publisher on a free
loopback port) run SOURCE unpaced and losslessly, as ``edgecam bench --pipeline`` does.  Blocks
without a viewer and with one (a client reading ``/stream.mjpg`` as fast as it comes) alternate; the
medians are compared.  The last line is
``live_view pipeline_fps_no_viewer=F pipeline_fps_viewer=G ratio=R stream_fps=S render_ms=M``
(``render_ms``: the encoder thread's work per JPEG, the robust number on a noisy machine).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


class Viewer:
    """A separate process reading the MJPEG stream (as a browser elsewhere would); counts JPEG parts."""

    SCRIPT = """
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
conn.request("GET", "/stream.mjpg")
r = conn.getresponse()
while line := r.fp.readline():
    if line.lower().startswith(b"content-length:"):
        r.fp.readline()
        r.fp.read(int(line.split(b":")[1]))
        print(1, flush=True)
"""

    def __init__(self, port: int) -> None:
        self.port = port
        self.frames = 0
        self._proc = None
        self._thread = threading.Thread(target=self._count, name="bench-viewer", daemon=True)

    def _count(self) -> None:
        for _ in self._proc.stdout:
            self.frames += 1

    def __enter__(self) -> "Viewer":
        self._proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(self.port)], stdout=subprocess.PIPE,
                                      text=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._thread.join(10)


def _render_ms(web, n: int) -> float:
    """Median time of drawing + encoding the latest frame, the encoder thread's work per JPEG."""
    import time

    from edgecam.web.overlay import OverlayRenderer

    update = web.feed.latest()
    renderer = OverlayRenderer(web.zones, web.masks, web.settings.stream_width, web.settings.jpeg_quality)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        renderer.render(update)
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(SHARED / "images"))
    ap.add_argument("--model", default="yolov5ss")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stream-fps", type=float, default=5.0)
    args = ap.parse_args()
    os.environ.setdefault("EDGECAM_MODEL_DIR", str(SHARED / "models"))

    import dataclasses
    import time

    from edgecam.app import build_detector, build_publishers, build_tracker, warm_up_detector
    from edgecam.evaluation.pipeline_bench import FrameTimes, LosslessSource, bench_settings, parse_source
    from edgecam.runtime.capture import CaptureThread
    from edgecam.controls import Controls
    from edgecam.runtime.pipeline import Pipeline
    from edgecam.sources.base import load_source_class
    from edgecam.web.settings import WebSettings

    kind, path = parse_source(args.source)
    with tempfile.TemporaryDirectory(prefix="edgecam-bench-web-") as tmp, contextlib.ExitStack() as stack:
        settings = bench_settings(kind, path, args.model, args.size, args.threads, "127.0.0.1", 1, Path(tmp))
        settings = dataclasses.replace(settings, web=WebSettings(port=0, stream_fps=args.stream_fps))
        detector = build_detector(settings)
        stack.callback(detector.close)
        warm_up_detector(detector, settings)
        controls = Controls(conf=settings.model.conf)
        tracker = build_tracker(settings)
        (web,) = build_publishers(dataclasses.replace(settings, mqtt=dataclasses.replace(settings.mqtt, enabled=False)),
                                  controls, detector)
        web.start()
        stack.callback(web.close)
        source_cls = load_source_class(kind)
        capture = CaptureThread(lambda: LosslessSource(source_cls.from_settings(settings.camera, base_dir=Path.cwd())),
                                settings.camera)
        capture.start()
        stack.callback(capture.stop)

        def block() -> float:
            clock = FrameTimes()
            pipeline = Pipeline(settings.camera.id, capture.get, lambda: capture.done, detector, tracker,
                                [web, clock], controls, max_frames=args.frames)
            web.stats_source = pipeline.current_stats
            pipeline.run()
            return clock.fps()

        block()  # warm up, untimed
        without, with_viewer, streamed = [], [], []
        for r in range(args.rounds):
            without.append(block())
            with Viewer(web.server.url_port) as viewer:
                t0 = time.perf_counter()
                with_viewer.append(block())
                streamed.append(viewer.frames / (time.perf_counter() - t0))
            print(f"round {r + 1}/{args.rounds}: no viewer {without[-1]:.2f} fps, viewer {with_viewer[-1]:.2f} fps "
                  f"(viewer received {streamed[-1]:.2f} frames/s)", flush=True)
        render_ms = _render_ms(web, 50)
    a, b = statistics.median(without), statistics.median(with_viewer)
    print(f"one live-view JPEG (draw + encode, {settings.web.stream_width} px wide): {render_ms:.2f} ms median "
          f"= {render_ms * args.stream_fps / 10:.1f} % of one core at {args.stream_fps:g} fps", flush=True)
    print(f"live_view pipeline_fps_no_viewer={a:.2f} pipeline_fps_viewer={b:.2f} ratio={b / a:.3f} "
          f"stream_fps={statistics.median(streamed):.2f} render_ms={render_ms:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
