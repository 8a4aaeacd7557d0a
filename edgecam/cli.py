"""Command line (CONTRACT §3). Exit 0 on success, 2 on usage/config/model errors, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edgecam import __version__, cliargs
from edgecam.confidence import CONF_DEFAULT, CONF_MAX, CONF_MIN
from edgecam.errors import EdgecamError, UsageError, one_line
from edgecam.limits import MAX_PIXELS_DEFAULT

log = logging.getLogger("edgecam")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_positive_int = cliargs.int_range(1, 2**62, "count")
_size = cliargs.size


def _add_model_args(p: argparse.ArgumentParser, conf: bool = True) -> None:
    p.add_argument("--model", default="yolov5ss", help="known name, bundle dir or .param path (default yolov5ss)")
    p.add_argument("--size", type=_size, default=None, help="input size, multiple of 32 (default: the model's)")
    p.add_argument("--threads", type=cliargs.threads, default=4,
                   help="ncnn threads, 1 to 64, or auto (bench --pipeline: per source, as the daemon) (default 4)")
    p.add_argument("--powersave", type=int, choices=(0, 1, 2), default=0, help="0 all, 1 little, 2 big cores")
    p.add_argument("--no-fp16", action="store_true", help="disable fp16 storage/arithmetic")
    p.add_argument("--max-pixels", type=cliargs.max_pixels, default=MAX_PIXELS_DEFAULT,
                   help=f"refuse images above this many pixels, read from the header before decoding (default {MAX_PIXELS_DEFAULT})")
    if conf:
        p.add_argument("--conf", type=cliargs.conf, default=CONF_DEFAULT,
                       help=f"score threshold, {CONF_MIN} to {CONF_MAX} (default {CONF_DEFAULT})")
        p.add_argument("--iou", type=cliargs.iou, default=0.45, help="NMS IoU threshold (default 0.45)")
        p.add_argument("--classes", default="", help="comma-separated labels to keep (default all)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edgecam", description="Raspberry Pi camera smart sensor: ncnn YOLO → MQTT")
    parser.add_argument("--version", action="version", version=f"edgecam {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("detect", help="detect objects in images")
    _add_model_args(p)
    p.add_argument("--format", choices=("jsonl", "text"), default="jsonl")
    p.add_argument("--annotate", metavar="DIR", type=Path, help="also write annotated JPEGs into DIR")
    p.add_argument("images", nargs="+", metavar="IMAGE")

    p = sub.add_parser("eval", help="COCO mAP on a YOLO-format dataset")
    _add_model_args(p, conf=False)
    p.add_argument("--conf", type=cliargs.eval_conf, default=0.001, help="score threshold (default 0.001)")
    p.add_argument("--iou", type=cliargs.iou, default=0.6, help="NMS IoU threshold (default 0.6)")
    p.add_argument("dataset", type=Path, metavar="DATASET")

    p = sub.add_parser("bench", help="benchmark inference (benchncnn-style) or the whole pipeline")
    _add_model_args(p)
    p.add_argument("--loops", type=cliargs.int_range(1, 1_000_000, "loops"), default=8)
    p.add_argument("--warmup", type=cliargs.int_range(0, 1_000_000, "warmup"), default=3)
    p.add_argument("--cooldown", action="store_true", help="before each model, wait for the SoC to cool to its start temperature")
    p.add_argument("--cooldown-timeout", type=cliargs.float_range(0.0, 86400.0, "seconds"), default=120.0)
    p.add_argument("--sysfs-root", default="/sys", help="sysfs root for temperature readings")
    p.add_argument("--image", type=Path, default=None, help="image to benchmark on (default: a synthetic 640x480 frame; forward and preprocess "
                   "times do not depend on content, decode+nms does: give a photo for that line)")
    p.add_argument("--pipeline", metavar="SOURCE", default=None, help="time the whole daemon data path on SOURCE")
    p.add_argument("--frames", type=_positive_int, default=60, help="frames per --pipeline round (default 60)")
    p.add_argument("--rounds", type=_positive_int, default=3,
                   help="--pipeline rounds, interleaved with raw blocks; medians are compared (default 3)")
    p.add_argument("--events", choices=("off", "auto", "clips"), default="auto",
                   help="--pipeline event history: off, auto (the default [events]: snapshots) or clips "
                        "(software-encoded clips, [events] clips = \"on\")")
    p.add_argument("--broker", default=None, help="host:port of an MQTT broker for --pipeline (default: start a local mosquitto)")
    p.add_argument("--lores", type=_lores, default=(640, 360), metavar="WxH",
                   help="frame size of a --pipeline yuv420: source (default 640x360, the picamera2 lores default)")
    p.add_argument("--stride", type=_positive_int, default=None,
                   help="row stride of the yuv420: buffers, >= width, even (default: the width; picamera2 pads rows)")
    p.add_argument("--json", type=cliargs.output_file, default=None, help="also write results as JSON")

    p = sub.add_parser("run", help="run the daemon")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--max-frames", type=_positive_int, default=None, help="process N frames, flush and exit")

    p = sub.add_parser("check", help="validate a config file")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--probe", action="store_true",
                   help="also open the camera once: codec, size and fps, or the camera's own error")

    return parser


def _detector(args, conf: float | None = None, iou: float | None = None, classes: tuple[str, ...] = ()):
    from edgecam.bundles.resolver import resolve
    from edgecam.detectors.ncnn_detector import NcnnDetector
    from edgecam.detectors.settings import DetectorSettings

    bundle = resolve(args.model)
    settings = DetectorSettings(
        path=args.model, size=args.size or bundle.manifest.input_size, threads=args.threads,
        conf=conf if conf is not None else CONF_DEFAULT, iou=iou if iou is not None else 0.45,
        classes=classes, fp16=not args.no_fp16, powersave=args.powersave, max_detections=300,
    )
    return NcnnDetector(bundle, settings)


def cmd_detect(args) -> int:
    import cv2

    from edgecam.files import FileProblem
    from edgecam.render import draw_detections
    from edgecam.sources.imagefile import read_image

    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    if args.annotate:
        _annotate_dir(args.annotate)
    det = _detector(args, args.conf, args.iou, classes)
    failures = 0
    for path in args.images:
        try:
            img = read_image(path, args.max_pixels)
        except FileProblem as exc:
            print(f"edgecam detect: {exc}", file=sys.stderr)
            failures += 1
            continue
        res = det.detect(img, "BGR")
        dets = res.detections.to_dicts()
        if args.format == "jsonl":
            print(json.dumps({"image": path, "width": res.width, "height": res.height,
                              "inference_ms": round(res.inference_ms, 2), "detections": dets}), flush=True)
        else:
            print(f"{path}: {res.width}x{res.height} {res.inference_ms:.1f} ms, {len(dets)} objects")
            for d in dets:
                print(f"  {d['label']:<14} {d['score']:.2f}  {d['box']}")
        if args.annotate:
            out = args.annotate / (Path(path).stem + ".jpg")
            if not cv2.imwrite(str(out), draw_detections(img, res.detections)):
                raise EdgecamError(f"--annotate: could not write {out}; check the directory's permissions and free space")
    if failures:
        return 2 if failures == len(args.images) else 1
    return 0


def _annotate_dir(path: Path) -> None:
    """Create the --annotate directory up front, so a bad path is one line before any work."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"--annotate {path}: exists and is not a directory; give a directory to write annotated JPEGs into") from None
    except OSError as exc:
        raise UsageError(f"--annotate {str(path)[:120]}: cannot create it ({exc.strerror or exc}); give a writable directory") from None


def cmd_eval(args) -> int:
    from edgecam.evaluation.coco import evaluate, list_images, require_pycocotools
    from edgecam.evaluation.progress import Progress

    require_pycocotools()  # before any work: a runtime install has no pycocotools (the [eval] extra)
    list_images(args.dataset)  # fail fast on a bad dataset path, before loading the model
    det = _detector(args, args.conf, args.iou)

    def progress(items):
        bar = Progress(len(items), "eval")
        for item in items:
            yield item
            bar.update()
        bar.close()

    result = evaluate(
        args.dataset,
        lambda img: det.detect(img, "BGR", multi_label=True, max_det=300).detections,
        len(det.class_names), progress, max_pixels=args.max_pixels,
    )
    print(result.line())
    return 0


def cmd_bench(args) -> int:
    from edgecam.evaluation.bench import bench_detector, cool_down

    if args.pipeline:
        from edgecam.evaluation.pipeline_bench import run_pipeline_bench

        return run_pipeline_bench(args)
    img = _bench_image(args.image, args.max_pixels)
    start_temp = None
    results = []
    for model in args.model.split(","):
        if args.cooldown:
            say = lambda text: print(f"edgecam bench: {text}", file=sys.stderr, flush=True)  # noqa: E731
            if start_temp is None:
                start_temp = cool_down(args.sysfs_root, None, 0)
                if start_temp is None:
                    say(f"cool-down: no temperature sensor under {args.sysfs_root}/class/thermal; not waiting")
                else:
                    say(f"cool-down: start temperature {start_temp:.1f} °C")
            cool_down(args.sysfs_root, start_temp, args.cooldown_timeout, say=say)
        ns = argparse.Namespace(**{**vars(args), "model": model})
        det = _detector(ns, args.conf, args.iou)
        for t in bench_detector(det, img, args.loops, args.warmup):
            print(t.line(), flush=True)
            results.append(t.to_json())
        det.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _bench_image(path: Path | None, max_pixels: int):
    """The image to time on: ``--image``, else a fixed synthetic 640×480 frame (no files needed)."""
    import numpy as np

    from edgecam.files import FileProblem
    from edgecam.sources.imagefile import read_image

    if path is None:
        return np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    try:
        return read_image(path, max_pixels, "benchmark image")
    except FileProblem as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args) -> int:
    from edgecam.app import run_daemon

    return run_daemon(args.config, max_frames=args.max_frames)


def cmd_check(args) -> int:
    from edgecam.config.check import check_config
    from edgecam.errors import ConfigError, one_line

    try:
        lines = check_config(args.config)
    except ConfigError as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:
            print(f"edgecam check: {one_line(line)}", file=sys.stderr)
        return exc.exit_code
    for line in lines:
        print(line)
    if getattr(args, "probe", False):
        return _probe(args.config)
    return 0


def _probe(config: Path) -> int:
    from edgecam.config.loader import load_checked
    from edgecam.errors import SourceError, one_line
    from edgecam.sources.probe import probe_camera

    settings, _ = load_checked(config)
    try:
        line = probe_camera(settings.camera, base_dir=Path(config).resolve().parent)
    except SourceError as exc:
        print(f"edgecam check: camera {settings.camera.id}: {one_line(str(exc))}", file=sys.stderr)
        return 1
    print(f"camera {settings.camera.id}: {line}")
    return 0


COMMANDS = {"detect": cmd_detect, "eval": cmd_eval, "bench": cmd_bench, "run": cmd_run, "check": cmd_check}


def _lores(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit() and 32 <= int(w) <= 4096 and 32 <= int(h) <= 4096
            and int(w) % 2 == 0 and int(h) % 2 == 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, even numbers from 32 to 4096, e.g. 640x360, got {text!r}")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    from edgecam.runtime.openmp import configure_openmp

    configure_openmp()  # before anything loads ncnn
    args = build_parser().parse_args(argv)
    if args.command != "run":
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except EdgecamError as exc:
        print(f"edgecam {args.command}: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `edgecam bench | head`: the reader is gone, nothing to report
        sys.stderr.close()
        return 0
