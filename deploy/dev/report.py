"""``make bench``: ``python -m deploy.dev.report --out build/bench [--quick]``.

Measures everything of the benchmark issue and writes ``bench.json`` and ``bench.md`` (printed too):

* raw inference (``forward()`` only, benchncnn-style) for fp32/fp16/int8 × 320/416/640 × 1/2/4 threads
  — "fp32" is the seed's ``yolov5ss`` run with fp16 off, "fp16" the same model as shipped, "int8" the
  seed's ``yolov5ss-int8``; bundles in ``build/models/*/model.json`` (the deploy pipeline's) are added;
* preprocessing, decode+NMS, and ``detect()`` against ``forward()`` per frame;
* the pipeline ratio (``edgecam bench --pipeline``) at 320 and 640;
* the daemon (``edgecam run --max-frames``, real broker): peak RSS (``VmHWM``), and CPU seconds per
  frame with motion gating on a static scene vs a moving one;
* the systemd unit's exposure score (``systemd-analyze security --offline=true``) if available.

The machine is shared and noisy: variants are timed interleaved (one block of each in turn, several
rounds) and the medians of the block means are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SEED_VARIANTS = (("fp32", "yolov5ss", False), ("fp16", "yolov5ss", True), ("int8", "yolov5ss-int8", True))


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def variants() -> list[tuple[str, str, bool]]:
    """(label, model reference, fp16) of the seed models plus any deploy-pipeline bundles."""
    found = list(SEED_VARIANTS)
    for manifest in sorted((REPO / "build" / "models").glob("*/model.json")):
        found.append((manifest.parent.name, str(manifest.parent), True))
    return found


def make_detector(model: str, size: int, threads: int, fp16: bool = True, conf: float = 0.45):
    from edgecam.detectors.ncnn_detector import NcnnDetector
    from edgecam.detectors.settings import DetectorSettings

    return NcnnDetector.from_settings(DetectorSettings(path=model, size=size, threads=threads, fp16=fp16, conf=conf))


def sample_image() -> np.ndarray:
    import cv2

    img = cv2.imread(str(SHARED / "images" / "horse.jpg"))
    if img is None:
        raise SystemExit(f"{SHARED / 'images' / 'horse.jpg'}: sample image missing; is ../shared there?")
    return img


def interleaved(fns: dict[str, callable], loops: int, rounds: int, warmup: int = 2) -> dict[str, list[float]]:
    """Per name, the mean ms of each of ``rounds`` blocks of ``loops`` calls, blocks taken in turn."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    means: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(loops):
                fn()
            means[name].append((time.perf_counter() - t0) * 1e3 / loops)
    return means


def raw_grid(sizes, threads_list, loops: int, rounds: int) -> list[dict]:
    image = sample_image()
    rows = []
    for size in sizes:
        for threads in threads_list:
            dets = {label: make_detector(ref, size, threads, fp16) for label, ref, fp16 in variants()}
            mats = {label: d.preprocess(image, "BGR")[0] for label, d in dets.items()}
            means = interleaved({k: (lambda d=d, m=mats[k]: d.forward(m)) for k, d in dets.items()}, loops, rounds)
            for label, ms in means.items():
                med = statistics.median(ms)
                rows.append({"variant": label, "model": dets[label].name, "size": size, "threads": threads,
                             "median_ms": round(med, 2), "min_block_ms": round(min(ms), 2),
                             "fps": round(1e3 / med, 1), "blocks": len(ms), "loops": loops})
                log(f"raw {label:>5} size={size} threads={threads}: {med:7.2f} ms")
            for d in dets.values():
                d.close()
    return rows


def stages(sizes, threads: int, loops: int, rounds: int) -> list[dict]:
    """Preprocess, forward, decode+NMS and detect() per frame, interleaved, for the shipped fp16 model."""
    image = sample_image()
    rows = []
    for size in sizes:
        det = make_detector("yolov5ss", size, threads)
        mat, lb = det.preprocess(image, "BGR")
        outs = det.forward(mat)
        means = interleaved({
            "forward": lambda: det.forward(mat),
            "detect": lambda: det.detect(image, "BGR"),
            "preprocess": lambda: det.preprocess(image, "BGR"),
            "decode+nms": lambda: det.postprocess(outs, lb, det.settings.conf),
        }, loops, rounds)
        med = {k: statistics.median(v) for k, v in means.items()}
        row = {"size": size, "threads": threads, **{f"{k}_ms": round(v, 3) for k, v in med.items()},
               "detect_vs_forward_pct": round((med["detect"] / med["forward"] - 1) * 100, 1)}
        rows.append(row)
        log(f"stages size={size}: " + " ".join(f"{k}={v}" for k, v in row.items()))
        det.close()
    return rows


def pipeline(sizes, threads_list, frames: int, rounds: int) -> list[dict]:
    from edgecam.evaluation.pipeline_bench import measure_pipeline

    rows = []
    for source in ("jpeg", "yuv420"):  # decoded JPEG files, and Pi-camera-like YUV420 buffers
        spec = str(SHARED / "images") if source == "jpeg" else f"yuv420:{SHARED / 'images'}"
        for size in sizes:
            for threads in threads_list:
                r = measure_pipeline(spec, size=size, threads=threads, frames=frames, rounds=rounds,
                                     progress=lambda t: log(f"  {t}"))
                log(f"pipeline {source} size={size} threads={threads}: {r.line()}")
                rows.append({**{k: v for k, v in r.to_json().items() if k != "source"}, "source": source})
    return rows


def scene_dirs(root: Path, n: int = 24) -> tuple[Path, Path]:
    """A static scene (one textured, empty frame) and a moving one (a bright patch crossing it)."""
    import cv2

    rng = np.random.default_rng(7)
    base = cv2.GaussianBlur(rng.integers(40, 200, (480, 640, 3), dtype=np.uint8), (0, 0), 6)
    static, moving = root / "static", root / "moving"
    static.mkdir()
    moving.mkdir()
    cv2.imwrite(str(static / "frame.png"), base)
    for i in range(n):
        frame = base.copy()
        x = 20 + i * (560 // n)
        frame[180:300, x:x + 80] = (235, 235, 235)
        cv2.imwrite(str(moving / f"f{i:03d}.png"), frame)
    return static, moving


def cpu_per_frame(samples) -> tuple[float | None, int]:
    running = [s for s in samples if s.on_stats]
    if len(running) < 2 or running[-1].frames <= running[0].frames:
        return None, 0
    return (running[-1].cpu_s - running[0].cpu_s) / (running[-1].frames - running[0].frames), \
        running[-1].frames - running[0].frames


def daemon(quick: bool) -> dict:
    """Peak RSS of a realistic run, and CPU per frame with motion gating on a static vs a moving scene."""
    from deploy.dev.soak import probe_daemon

    out: dict = {}
    say = lambda t: log(f"  {t}")  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="edgecam-report-") as tmp:
        static, moving = scene_dirs(Path(tmp))
        frames = 30 if quick else 150
        for name, scene in (("static", static), ("moving", moving)):
            run = probe_daemon(scene, frames, size=320, threads=1 if quick else 2, fps=20.0, motion=True, sample_s=0.5,
                               camera_id=f"bench{name}", progress=say)
            cpu, counted = cpu_per_frame(run.samples)
            stats = run.subscriber.counts
            out[f"cpu_s_per_frame_{name}"] = round(cpu, 4) if cpu is not None else None
            out[f"{name}_frames_counted"] = counted
            out[f"{name}_detections_messages"] = stats.get("detections", 0)
            out[f"{name}_exit_code"] = run.exit_code
            out["peak_rss_mb_320"] = max(out.get("peak_rss_mb_320", 0), round(max(s.hwm_kb for s in run.samples) / 1024, 1))
            log(f"daemon {name} scene: cpu {cpu} s/frame over {counted} frames")
        if not quick:
            run = probe_daemon(SHARED / "images", 60, size=640, threads=2, fps=20.0, sample_s=0.25,
                               camera_id="benchrss", progress=say)
            out["peak_rss_mb_640"] = round(max(s.hwm_kb for s in run.samples) / 1024, 1)
            out["rss_640_exit_code"] = run.exit_code
    out["peak_rss_mb"] = max(v for k, v in out.items() if k.startswith("peak_rss_mb_"))
    return out


def systemd_exposure() -> str | None:
    exe, unit = shutil.which("systemd-analyze"), REPO / "systemd" / "edgecam.service"
    if not exe or not unit.exists():
        return None
    try:
        proc = subprocess.run([exe, "security", "--offline=true", str(unit)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    return lines[-1].lstrip("→ ").strip() if lines else None


def machine() -> dict:
    import ncnn

    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith(("model name", "Model"))), platform.machine())
    return {"cpu": model, "cores": os.cpu_count(), "arch": platform.machine(), "python": platform.python_version(),
            "ncnn": getattr(ncnn, "__version__", "?"), "loadavg_start": os.getloadavg()[0],
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", "default")}


def to_markdown(r: dict) -> str:
    m = r["machine"]
    out = [f"# edgecam benchmarks{' (quick)' if r['quick'] else ''}", "",
           f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, ncnn {m['ncnn']}; load average "
           f"{m['loadavg_start']:.1f} → {m['loadavg_end']:.1f} (a shared machine: medians of interleaved blocks).", "",
           "## Raw inference (forward only, ms, median)", ""]
    threads = sorted({row["threads"] for row in r["raw"]})
    out += ["| variant | size | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |",
            "|---|---|" + "---|" * len(threads)]
    keys = sorted({(row["variant"], row["size"]) for row in r["raw"]}, key=lambda k: (k[1], k[0]))
    cell = {(row["variant"], row["size"], row["threads"]): row for row in r["raw"]}
    for v, s in keys:
        out.append(f"| {v} | {s} | " + " | ".join(
            f"{cell[(v, s, t)]['median_ms']:.1f} ({cell[(v, s, t)]['fps']:.0f} fps)" if (v, s, t) in cell else "–"
            for t in threads) + " |")
    out += ["", "## Per-frame stages (yolov5ss fp16, ms, median)", "",
            "| size | threads | preprocess | forward | decode+NMS | detect() | detect vs forward |", "|---|---|---|---|---|---|---|"]
    for s in r["stages"]:
        out.append(f"| {s['size']} | {s['threads']} | {s['preprocess_ms']:.2f} | {s['forward_ms']:.2f} | "
                   f"{s['decode+nms_ms']:.2f} | {s['detect_ms']:.2f} | {s['detect_vs_forward_pct']:+.1f} % |")
    out += ["", "## Pipeline ratio (`edgecam bench --pipeline [yuv420:]../shared/images`, real mosquitto)", "",
            "| source | model | size | threads | raw fps | pipeline fps | ratio |", "|---|---|---|---|---|---|---|"]
    for p in r["pipeline"]:
        out.append(f"| {p.get('source', 'jpeg')} | {p['model']} | {p['size']} | {p['threads']} | {p['raw_fps']:.1f} | "
                   f"{p['pipeline_fps']:.1f} | {p['ratio']:.3f} |")
    d = r["daemon"]
    fmt = lambda v: f"{v * 1e3:.1f} ms" if v is not None else "n/a"  # noqa: E731
    out += ["", "## Daemon (`edgecam run`, real mosquitto)", "",
            f"- peak RSS (VmHWM): {d['peak_rss_mb']} MB",
            f"- CPU per frame, motion gating on, size 320: static scene {fmt(d['cpu_s_per_frame_static'])}, "
            f"moving scene {fmt(d['cpu_s_per_frame_moving'])}",
            f"- systemd exposure: {r['systemd_exposure'] or 'systemd-analyze not available'}", ""]
    soak = r.get("soak")
    if soak:
        out += ["## Soak (last `make soak`)", "",
                f"- {soak['frames']} frames: RSS {soak['rss_warm_mb']:.1f} MB after warm-up → {soak['rss_end_mb']:.1f} MB "
                f"({soak['rss_growth_mb']:+.2f} MB), open fds {soak['fds_warm']} → {soak['fds_end']}, "
                f"inference p50/p95/p99 {soak['inference_ms'].get('p50')}/{soak['inference_ms'].get('p95')}/"
                f"{soak['inference_ms'].get('p99')} ms: {'PASS' if soak['passed'] else 'FAIL'}", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.dev.report", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    p.add_argument("--quick", action="store_true", help="a small subset with few loops (tests, smoke checks)")
    args = p.parse_args(argv)
    from edgecam.runtime.openmp import configure_openmp

    configure_openmp()  # as the daemon and `edgecam bench` do, before ncnn loads
    q = args.quick
    t0 = time.monotonic()
    report: dict = {"quick": q, "machine": machine()}
    log("raw inference grid ...")
    report["raw"] = raw_grid((320,) if q else (320, 416, 640), (1,) if q else (1, 2, 4), 2 if q else 8, 2 if q else 3)
    log("stages ...")
    report["stages"] = stages((320,) if q else (320, 640), 1, 2 if q else 10, 2 if q else 3)
    log("pipeline ratio ...")
    cores = len(os.sched_getaffinity(0))  # threads = cores and cores - 1
    report["pipeline"] = pipeline((320,) if q else (320, 640), (1,) if q else sorted({max(1, cores - 1), cores}),
                                  12 if q else 40, 1 if q else 3)
    log("daemon runs ...")
    report["daemon"] = daemon(q)
    report["systemd_exposure"] = systemd_exposure()
    soak = args.out / "soak.json"
    if soak.exists():
        report["soak"] = json.loads(soak.read_text())
    report["machine"]["loadavg_end"] = os.getloadavg()[0]
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(report, indent=2))
    md = to_markdown(report)
    (args.out / "bench.md").write_text(md)
    print(md, flush=True)
    log(f"wrote {args.out / 'bench.json'} and {args.out / 'bench.md'} in {report['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
