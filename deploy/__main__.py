"""``python -m deploy`` — the workstation conversion pipeline (see deploy/README.md).

    python -m deploy models --weights W.pt --calib DIR --out OUT      # everything (make models)
    python -m deploy convert --weights W.pt --out OUT                  # fp32 + fp16 bundles only
    python -m deploy push --host user@pi --bundle OUT/name-int8        # make push

Exit codes: 0 ok, 2 usage / unsafe or unusable input (one line on stderr naming the fix), 1 other failures.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy", description="YOLOv5-Lite .pt → ncnn fp32/fp16/int8 bundles")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="convert, calibrate, quantize, measure and report (make models)")
    m.add_argument("--weights", type=Path, required=True, help="YOLOv5-style checkpoint (.pt)")
    m.add_argument("--calib", type=Path, required=True, help="calibration images (DIR/*.jpg); if DIR is X/images "
                   "with X/labels beside it, X is also the evaluation set and half of it the search's validation split")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--size", type=int, default=640, help="the bundles' default input size, and the size of the "
                   "report's whole-set mAP (default 640)")
    m.add_argument("--sizes", default="320,640", help="calibrate, select and test at each of these sizes (default 320,640)")
    m.add_argument("--method", choices=("max", "kl", "aciq", "mse", "auto"), help="fix the calibration method (default: search)")
    m.add_argument("--methods", default="kl,max,mse",
                   help="methods the search tries: any of max,kl,aciq,mse,auto (auto: per layer the best of "
                   "kl/max/mse; default kl,max,mse)")
    m.add_argument("--fp32-layers", default="search",
                   help="search | default (first conv + head convs) | none | comma-separated layer names")
    m.add_argument("--budget", type=float, default=0.003,
                   help="allowed mAP@.5:.95 drop vs fp32, applied to the lower confidence bound at every size (default 0.003)")
    m.add_argument("--level", type=float, default=0.9, help="one-sided confidence level of that bound (default 0.9)")
    m.add_argument("--bootstrap", type=int, default=500, help="paired bootstrap resamples (default 500)")
    m.add_argument("--holdout", type=int, default=40, help="labelled images held out as the test split, never used "
                   "for calibration or selection (default 40; 0: none)")
    m.add_argument("--extra-steps", default="4,8,12",
                   help="the search also tries first+heads + the k most sensitive layers in fp32, for these k")
    m.add_argument("--sensitivity-images", type=int, default=4, help="images used to rank layer sensitivity")
    m.add_argument("--bias-correction", choices=("search", "on", "off"), default="search",
                   help="per-channel bias correction of the int8 convs: search (default: score every method with and "
                        "without it, as method+bc), on, off")
    m.add_argument("--bias-kind", choices=("weights", "empirical"), default="weights",
                   help="weights: analytic correction of the weight rounding (default); empirical: measured "
                        "layer by layer on the int8 net (slower; hurt on coco128, see deploy/README.md)")
    m.add_argument("--bias-images", type=int, default=8,
                   help="calibration images (at every size) bias correction averages over (default 8)")
    m.add_argument("--select", "--val", dest="val", type=Path, help="labelled DATASET (images/ + labels/) for the "
                   "search and the test split; then --calib may be any folder of unlabelled photos (no shared names)")
    m.add_argument("--eval", dest="eval_dataset", type=Path, help="labelled DATASET for the report's mAP")
    m.add_argument("--calib-limit", type=int, default=0, help="use only the first N calibration images")
    m.add_argument("--threads", type=int, default=None)
    m.add_argument("--no-fuse", action="store_true", help="no requantize fusion between int8 convs")
    m.add_argument("--parity-sizes", default="320,416,640")
    m.add_argument("--no-report", action="store_true")
    m.add_argument("--baselines", default="yolov5ss,yolov5ss-int8",
                   help="known models added to the report and plot (default: the seed's yolov5ss,yolov5ss-int8; '' for none)")

    c = sub.add_parser("convert", help="fp32 + fp16 bundles only")
    c.add_argument("--weights", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--size", type=int, default=640)

    s = sub.add_parser("push", help="copy a bundle to the Pi (or a local root dir), point the config at it, restart, check")
    s.add_argument("--host", required=True, help="user@pi, or a local directory standing for the Pi's root")
    s.add_argument("--bundle", type=Path, required=True)
    s.add_argument("--models-dir", default="/var/lib/edgecam/models")
    s.add_argument("--config", default="/etc/edgecam/edgecam.toml")
    s.add_argument("--service", default="edgecam")
    s.add_argument("--restart-cmd", default=None, help="override the restart (remote default: sudo systemctl restart edgecam)")
    s.add_argument("--check-cmd", default="edgecam check --config {config}")
    s.add_argument("--dry-run", action="store_true")
    return p


def _say(msg: str) -> None:
    print(msg, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from deploy.checkpoint import CheckpointError  # noqa: PLC0415

    try:
        if args.command == "models":
            from deploy.pipeline import Options, run  # noqa: PLC0415

            if args.budget < 0:
                raise ValueError(f"--budget must be ≥ 0 (got {args.budget}); it is an allowed mAP drop, e.g. 0.002")
            if not 0 < args.level < 1:
                raise ValueError(f"--level must be between 0 and 1 (got {args.level}), e.g. 0.9")
            if args.bootstrap < 20:
                raise ValueError(f"--bootstrap must be ≥ 20 resamples (got {args.bootstrap})")
            if args.bias_images < 1:
                raise ValueError(f"--bias-images must be ≥ 1 (got {args.bias_images})")
            try:
                sizes = tuple(int(x) for x in args.sizes.split(",") if x.strip())
            except ValueError:
                raise ValueError(f"--sizes takes comma-separated integers, e.g. 320,640 (got {args.sizes!r})") from None
            if not sizes:
                raise ValueError("--sizes needs at least one size, e.g. 320,640")
            unknown = sorted(set(x for x in args.methods.split(",") if x) - {"max", "kl", "aciq", "mse", "auto"})
            if unknown:
                raise ValueError(f"--methods: unknown {', '.join(unknown)}; choose from max,kl,aciq,mse,auto")
            run(Options(
                weights=args.weights, calib=args.calib, out=args.out, size=args.size, sizes=sizes,
                level=args.level, bootstrap=args.bootstrap, holdout=args.holdout,
                methods=tuple(x for x in args.methods.split(",") if x), method=args.method,
                fp32_layers=args.fp32_layers, budget=args.budget,
                extra_steps=tuple(int(x) for x in args.extra_steps.split(",") if x.strip()),
                sensitivity_images=args.sensitivity_images, bias_correction=args.bias_correction,
                bias_images=args.bias_images, bias_kind=args.bias_kind, val=args.val, eval_dataset=args.eval_dataset,
                calib_limit=args.calib_limit, threads=args.threads, fuse=not args.no_fuse,
                parity_sizes=tuple(int(x) for x in args.parity_sizes.split(",") if x), report=not args.no_report,
                baselines=tuple(x for x in args.baselines.split(",") if x),
            ), _say)
        elif args.command == "convert":
            from deploy.checkpoint import load_checkpoint  # noqa: PLC0415
            from deploy.convert import convert  # noqa: PLC0415

            ck = load_checkpoint(args.weights)
            res = convert(ck, args.out, args.weights.stem, args.size)
            _say(f"{res.fp32}\n{res.fp16}")
        elif args.command == "push":
            from deploy.push import PushOptions, push  # noqa: PLC0415

            push(PushOptions(args.host, args.bundle, args.models_dir, args.config, args.service, args.restart_cmd,
                             args.check_cmd, args.dry_run), _say)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"deploy {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence: one line, exit 1
        from edgecam.errors import ModelError  # noqa: PLC0415

        if isinstance(exc, ModelError):
            print(f"deploy {args.command}: {exc}", file=sys.stderr)
            return 2
        if args.verbose:
            raise
        print(f"deploy {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
