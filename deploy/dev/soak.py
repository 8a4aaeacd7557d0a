"""Soak test (``make soak``): many frames through the full daemon with a real broker, watching for leaks.

``python -m deploy.dev.soak --frames 20000 --size 320`` starts a local mosquitto (or uses
``--broker host:port``), a subscriber that counts what arrives, and ``edgecam run --max-frames N`` as a
subprocess on looped sample images.  While the daemon runs, its resident memory (``VmRSS``), peak
(``VmHWM``), open file descriptors (``/proc/<pid>/fd``) and CPU time are sampled together with the
frame count of its ``stats`` messages.  Latency percentiles come from the ``detections`` payloads:
``inference_ms`` (the forward pass) and capture → MQTT delivery (the payload's capture timestamp
against the arrival time).

Pass (exit 0): the daemon exits 0, RSS grows ≤ ``--rss-limit-mb`` (5 MB) between the end of warm-up
and the end of the run (medians of a few samples each, so one allocator burst does not decide), and
the fd count stays flat (the floor at the end is not above the floor after warm-up, and no sample
is more than 2 above it: an image file being read at that moment is one transient fd).
Otherwise exit 1.  The helpers here (:class:`ProcSampler`, :func:`daemon_config`) are also used by
``deploy.dev.report``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.errors import UsageError

CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "images"


def daemon_config(images: Path | str, port: int | None, state_dir: Path, model: str = "yolov5ss", size: int = 320,
                  threads: int = 2, fps: float = 50.0, motion: bool = False, stdout: bool = False,
                  camera_id: str = "soak", stats_interval_s: float = 1.0) -> str:
    """A daemon config playing looped images; MQTT to 127.0.0.1:``port`` (None: MQTT off)."""
    mqtt = f'enabled = true\nhost = "127.0.0.1"\nport = {port}' if port else "enabled = false"
    return f"""
[camera]
id = "{camera_id}"
source = "images"
path = "{images}"
fps = {fps}
loop = true
hold_s = 0  # every frame read and decoded, as a camera delivers new pictures

[model]
path = "{model}"
size = {size}
threads = {threads}

[mqtt]
{mqtt}

[output]
stdout = {str(stdout).lower()}
state_dir = "{state_dir}"
stats_interval_s = {stats_interval_s}
log_level = "WARNING"

[motion]
enabled = {str(motion).lower()}

[thermal]
enabled = false
"""


@dataclass
class Sample:
    t: float
    frames: int | None  # the daemon's processed-frame count (from its latest stats message), if known
    rss_kb: int
    hwm_kb: int
    fds: int
    cpu_s: float
    on_stats: bool = False  # taken when a stats message arrived (the daemon is processing frames)


def read_proc(pid: int) -> tuple[int, int, int, float] | None:
    """``(VmRSS kB, VmHWM kB, open fds, utime+stime s)`` of a live process; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = {k: v for k, _, v in (line.partition(":") for line in status.splitlines())}
    kb = lambda key: int(fields.get(key, "0 kB").split()[0])  # noqa: E731
    return kb("VmRSS"), kb("VmHWM"), fds, (int(stat[11]) + int(stat[12])) / CLK_TCK


class ProcSampler:
    """Samples a process every ``interval_s`` (and on demand) until it exits."""

    def __init__(self, pid: int, interval_s: float = 1.0) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.frames: int | None = None  # updated by whoever reads the daemon's stats
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proc-sampler", daemon=True)

    def start(self) -> "ProcSampler":
        self._thread.start()
        return self

    def sample(self, frames: int | None = None) -> Sample | None:
        got = read_proc(self.pid)
        if got is None:
            return None
        with self._lock:
            if frames is not None:
                self.frames = frames
            s = Sample(time.monotonic(), self.frames, *got, on_stats=frames is not None)
            self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.sample() is None:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def peak_rss_kb(self) -> int:
        return max((s.hwm_kb for s in self.samples), default=0)


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    qs = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"n": len(values), "p50": round(qs[49], 2), "p95": round(qs[94], 2), "p99": round(qs[98], 2),
            "max": round(max(values), 2)}


class Subscriber:
    """Counts everything under ``<prefix>/<camera>/`` and keeps latencies and the stats frame count."""

    def __init__(self, port: int, camera: str, on_frames=None) -> None:
        import paho.mqtt.client as mqtt

        self.camera = camera
        self.counts: dict[str, int] = {}
        self.inference_ms: list[float] = []
        self.delivery_ms: list[float] = []
        self.on_frames = on_frames
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edgecam-soak-{os.getpid()}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"edgecam/{camera}/#", qos=0)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the soak subscriber could not subscribe within 10 s")

    def _on_message(self, client, userdata, msg) -> None:
        kind = msg.topic.rsplit("/", 1)[1]
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "detections":
            d = json.loads(msg.payload)
            if d.get("inference_ms") is not None:
                self.inference_ms.append(float(d["inference_ms"]))
                self.delivery_ms.append((time.time() - float(d["timestamp"])) * 1e3)
        elif kind == "stats" and self.on_frames is not None:
            frames = json.loads(msg.payload).get("frames")
            if frames is not None:
                self.on_frames(int(frames))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class SoakResult:
    frames: int
    exit_code: int
    wall_s: float
    rss_start_mb: float
    rss_warm_mb: float
    rss_end_mb: float
    rss_growth_mb: float
    peak_rss_mb: float
    fds_start: int
    fds_warm: int
    fds_end: int
    fds_max: int
    cpu_s_per_frame: float
    inference_ms: dict
    delivery_ms: dict
    messages: dict
    rss_limit_mb: float
    passed: bool
    reasons: list = field(default_factory=list)

    def lines(self) -> list[str]:
        inf, dl = self.inference_ms, self.delivery_ms
        return [
            f"frames={self.frames} exit={self.exit_code} wall={self.wall_s:.0f}s cpu/frame={self.cpu_s_per_frame * 1e3:.1f}ms",
            f"rss start={self.rss_start_mb:.1f}MB after-warm-up={self.rss_warm_mb:.1f}MB end={self.rss_end_mb:.1f}MB "
            f"growth={self.rss_growth_mb:+.2f}MB (limit {self.rss_limit_mb}) peak={self.peak_rss_mb:.1f}MB",
            f"fds start={self.fds_start} after-warm-up={self.fds_warm} end={self.fds_end} max={self.fds_max}",
            f"inference_ms p50={inf.get('p50')} p95={inf.get('p95')} p99={inf.get('p99')} (n={inf.get('n')})",
            f"capture->mqtt ms p50={dl.get('p50')} p95={dl.get('p95')} p99={dl.get('p99')}",
            "messages " + " ".join(f"{k}={v}" for k, v in sorted(self.messages.items())),
            ("PASS" if self.passed else "FAIL: " + "; ".join(self.reasons)),
        ]


def _median_mb(samples: list[Sample]) -> float:
    return statistics.median(s.rss_kb for s in samples) / 1024.0


def judge(samples: list[Sample], frames: int, warmup_frames: int, rss_limit_mb: float, exit_code: int,
          wall_s: float, sub: Subscriber | None) -> SoakResult:
    """Pass/fail from the samples: RSS growth after warm-up and fd flatness."""
    if not samples:
        raise RuntimeError("no sample of the daemon was taken (did it start?)")
    # Judge on the samples taken as stats arrived (the daemon running), not during start-up or shutdown.
    running = [s for s in samples if s.on_stats]
    warm = [s for s in running if s.frames >= warmup_frames]
    reasons = []
    if len(warm) < 2:
        reasons.append(f"too few samples after warm-up ({len(warm)}); run more frames")
        warm = samples
    k = max(1, min(5, len(warm) // 4))
    head, tail = warm[:k], warm[-k:]
    growth = _median_mb(tail) - _median_mb(head)
    # An fd leak raises the floor; a file being read at the moment of a sample adds one transiently.
    fds_warm, fds_end = min(s.fds for s in head), min(s.fds for s in tail)
    fds_max = max(s.fds for s in warm)
    counted = running or samples
    cpu = ((counted[-1].cpu_s - counted[0].cpu_s) / (counted[-1].frames - counted[0].frames)
           if len(counted) > 1 and (counted[-1].frames or 0) > (counted[0].frames or 0) else 0.0)
    if exit_code != 0:
        reasons.append(f"the daemon exited with {exit_code}")
    if growth > rss_limit_mb:
        reasons.append(f"RSS grew {growth:.2f} MB after warm-up (limit {rss_limit_mb} MB)")
    if fds_end > fds_warm or fds_max > fds_warm + 2:
        reasons.append(f"open fds not flat: {fds_warm} after warm-up, {fds_end} at the end, max {fds_max}")
    return SoakResult(
        frames=frames, exit_code=exit_code, wall_s=wall_s, rss_start_mb=counted[0].rss_kb / 1024.0,
        rss_warm_mb=_median_mb(head), rss_end_mb=_median_mb(tail), rss_growth_mb=growth,
        peak_rss_mb=max(s.hwm_kb for s in samples) / 1024.0, fds_start=counted[0].fds, fds_warm=fds_warm,
        fds_end=fds_end, fds_max=fds_max, cpu_s_per_frame=cpu,
        inference_ms=percentiles(sub.inference_ms) if sub else {}, delivery_ms=percentiles(sub.delivery_ms) if sub else {},
        messages=dict(sub.counts) if sub else {}, rss_limit_mb=rss_limit_mb, passed=not reasons, reasons=reasons,
    )


@dataclass
class DaemonRun:
    samples: list[Sample]
    subscriber: Subscriber
    exit_code: int
    wall_s: float
    stderr: str


def probe_daemon(images: Path | str, frames: int, size: int = 320, threads: int = 1, model: str = "yolov5ss",
                 fps: float = 50.0, motion: bool = False, sample_s: float = 2.0, timeout_s: float | None = None,
                 camera_id: str = "soak", progress=print) -> DaemonRun:
    """``edgecam run --max-frames N`` with a local mosquitto and a subscriber, sampled while it runs."""
    from edgecam.evaluation.local_broker import start_broker

    timeout_s = timeout_s or 120.0 + frames * 0.5
    with tempfile.TemporaryDirectory(prefix="edgecam-probe-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        broker, port = start_broker(work)
        stack.callback(lambda: (broker.terminate(), broker.wait(5)))
        cfg = work / "edgecam.toml"
        cfg.write_text(daemon_config(images, port, work / "state", model, size, threads, fps, motion=motion,
                                     camera_id=camera_id))
        holder: dict = {}
        sub = Subscriber(port, camera_id, on_frames=lambda n: holder["sampler"].sample(n) if "sampler" in holder else None)
        stack.callback(sub.close)
        err_path = work / "stderr.log"
        t0 = time.monotonic()
        with open(err_path, "w") as err_file:
            proc = subprocess.Popen([sys.executable, "-m", "edgecam", "run", "--config", str(cfg), "--max-frames", str(frames)],
                                    stdout=subprocess.DEVNULL, stderr=err_file)
        sampler = ProcSampler(proc.pid, sample_s)
        sampler.sample()
        holder["sampler"] = sampler
        sampler.start()
        progress(f"daemon pid {proc.pid}: {frames} frames of {images} at size {size}, {threads} thread(s), "
                 f"motion {'on' if motion else 'off'}, broker 127.0.0.1:{port}")
        last_report = t0
        try:
            while proc.poll() is None:
                time.sleep(0.2)
                now = time.monotonic()
                if now - t0 > timeout_s:
                    raise RuntimeError(f"the daemon did not finish {frames} frames within {timeout_s:.0f} s")
                if now - last_report >= 30 and sampler.samples:
                    last_report = now
                    s = sampler.samples[-1]
                    progress(f"  {now - t0:5.0f}s frames={s.frames} rss={s.rss_kb / 1024:.1f}MB fds={s.fds}")
        finally:
            sampler.stop()
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        wall = time.monotonic() - t0
        time.sleep(0.5)  # the last messages in flight
        err = err_path.read_text(errors="replace")
        if proc.returncode != 0:
            progress(err.strip()[-2000:])
        return DaemonRun(sampler.samples, sub, proc.returncode, wall, err)


def run_soak(frames: int, size: int = 320, threads: int = 1, model: str = "yolov5ss", images: Path = DEFAULT_IMAGES,
             fps: float = 50.0, warmup_frames: int | None = None, rss_limit_mb: float = 5.0,
             sample_s: float = 2.0, progress=print) -> SoakResult:
    images = Path(images).resolve()
    if not images.exists():
        raise UsageError(f"{images}: sample images not found; pass --images DIR")
    warmup_frames = warmup_frames if warmup_frames is not None else min(1000, max(1, frames // 10))
    run = probe_daemon(images, frames, size, threads, model, fps, sample_s=sample_s, progress=progress)
    return judge(run.samples, frames, warmup_frames, rss_limit_mb, run.exit_code, run.wall_s, run.subscriber)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.dev.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=20000)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--threads", type=int, default=1, help="ncnn threads (default 1: leaves cores to the other stages)")
    p.add_argument("--model", default="yolov5ss")
    p.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="image dir/glob played in a loop")
    p.add_argument("--fps", type=float, default=50.0, help="camera frame rate (the daemon's maximum is 120)")
    p.add_argument("--warmup-frames", type=int, default=None, help="default: 10%% of the frames, at most 1000")
    p.add_argument("--rss-limit-mb", type=float, default=5.0)
    p.add_argument("--sample-s", type=float, default=2.0)
    p.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    args = p.parse_args(argv)
    if args.frames < 50:
        p.error("--frames must be at least 50 (there must be something after the warm-up)")
    try:
        result = run_soak(args.frames, args.size, args.threads, args.model, args.images, args.fps,
                          args.warmup_frames, args.rss_limit_mb, args.sample_s,
                          progress=lambda text: print(text, flush=True))
    except UsageError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    for line in result.lines():
        print(line, flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.__dict__, indent=2))
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
