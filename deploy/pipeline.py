"""``make models``: checkpoint → fp32/fp16/int8 bundles + report (CONTRACT §5)."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import calibrate
from deploy.bundle import write_bundle
from deploy.checkpoint import load_checkpoint
from deploy.convert import convert
from deploy.int8 import write_int8
from deploy.ncnnio import NcnnModel
from deploy.search import EXTRA_STEPS, Fold, first_and_head_layers, make_split_dataset, search
from edgecam.sources.images import image_files

log = logging.getLogger(__name__)



@dataclass
class Options:
    weights: Path
    calib: Path
    out: Path
    size: int = 640
    methods: tuple[str, ...] = ("kl", "max")  # aciq on request (it never won on coco128)
    method: str | None = None  # fixed method (no search over methods)
    fp32_layers: str = "search"  # search | default (first+heads) | none | comma-separated layer names
    budget: float = 0.002  # allowed mean mAP@.5:.95 drop over the folds (worst fold: 2x)
    extra_steps: tuple[int, ...] = EXTRA_STEPS  # first+heads+k most sensitive layers
    val: Path | None = None  # labelled DATASET for the search; default: 2-fold split of CALIB if it has labels
    eval_dataset: Path | None = None  # labelled DATASET for the report; default: CALIB's parent if labelled
    calib_limit: int = 0  # use only the first N calibration images (0: all)
    threads: int | None = None
    fuse: bool = True
    parity_sizes: tuple[int, ...] = (320, 416, 640)
    parity_images: int = 4
    sensitivity_images: int = 4
    report: bool = True
    bench_rounds: int = 5
    baselines: tuple[str, ...] = ()  # e.g. ("yolov5ss", "yolov5ss-int8"): extra rows in the report


@dataclass
class Result:
    bundles: dict[str, Path]
    info: dict[str, Any] = field(default_factory=dict)


def _progress(items, label):
    from deploy.measure import progress_bar  # noqa: PLC0415

    return progress_bar(label)(items)


def list_images(d: Path) -> list[Path]:
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: calibration image directory not found")
    imgs = image_files(d)
    if not imgs:
        raise FileNotFoundError(f"{d}: no images (.jpg/.png) to calibrate with")
    return imgs


def labelled_dataset(images_dir: Path) -> Path | None:
    """``X/images`` with a sibling ``X/labels`` → ``X`` (a dataset edgecam eval understands)."""
    root = images_dir.resolve().parent
    return root if images_dir.name == "images" and (root / "labels").is_dir() else None


def _folds(opt: Options, images: list[Path], stats_all: dict, blobs: list[str], fp32_dir: Path, val_root: Path,
           tmp: Path) -> list[Fold]:
    """``--val``: one fold (calibrate on all of CALIB); else 2 folds over CALIB's even/odd images."""
    if opt.val is not None:
        overlap = {p.name for p in images} & {p.name for p in (opt.val / "images").iterdir()}
        if overlap:
            raise ValueError(f"--val shares {len(overlap)} images with CALIB; use a disjoint validation set")
        return [Fold("val", images, stats_all, opt.val)]
    if len(images) < 4:
        raise ValueError(f"{opt.calib}: {len(images)} images are too few to cross-validate the int8 search; "
                         "give at least 4 labelled images, or pass --method and --fp32-layers to skip the search")
    halves = {"A": (images[0::2], images[1::2]), "B": (images[1::2], images[0::2])}
    folds = []
    for fold, (cal, val) in halves.items():
        val_ds = make_split_dataset(val, val_root / "labels", tmp / f"val{fold}")
        stats = calibrate.collect_stats(fp32_dir, cal, blobs, opt.size, opt.threads, _progress)
        folds.append(Fold(fold, cal, stats, val_ds))
    return folds


def run(opt: Options, say=print) -> Result:
    t_start = time.perf_counter()
    name = opt.weights.stem
    images = list_images(opt.calib)
    if opt.calib_limit:
        images = images[: opt.calib_limit]
    say(f"[1/5] loading {opt.weights} (restricted unpickler) and rebuilding the model from its yaml")
    ck = load_checkpoint(opt.weights)
    say(f"      {len(ck.names)} classes, strides {ck.strides}, activation {ck.activation}")
    say("[2/5] exporting ONNX → simplify → pnnx → ncnn fp32/fp16")
    conv = convert(ck, opt.out, name, opt.size)
    fp32_dir, fp16_dir = conv.fp32, conv.fp16
    model = NcnnModel.load(fp32_dir / f"{name}-fp32.param", fp32_dir / f"{name}-fp32.bin")
    from edgecam.bundles.manifest import load_manifest  # noqa: PLC0415

    m32 = load_manifest(fp32_dir / "model.json")
    first, heads = first_and_head_layers(model, m32.input, [h.blob for h in m32.outputs])
    layers = calibrate.quantizable_layers(model)
    blobs = sorted({q.bottom for q in layers})
    info: dict[str, Any] = {"name": name, "weights": str(opt.weights), "size": opt.size,
                            "calibration_images": len(images), "quantizable_layers": len(layers),
                            "first_layer": first, "head_layers": heads}

    say(f"[3/5] int8: {len(layers)} quantizable layers, {len(blobs)} activation blobs")
    val_root = opt.val or labelled_dataset(opt.calib)
    do_search = (opt.fp32_layers == "search" or opt.method is None) and val_root is not None
    methods = (opt.method,) if opt.method else opt.methods
    fixed_set: frozenset[str] | None = None
    if opt.fp32_layers == "default" or (opt.fp32_layers == "search" and not do_search):
        fixed_set = frozenset([first, *heads])
    elif opt.fp32_layers == "none":
        fixed_set = frozenset()
    elif opt.fp32_layers != "search":
        fixed_set = frozenset(s.strip() for s in opt.fp32_layers.split(",") if s.strip())
    chosen_method = opt.method or "kl"
    t_cal = time.perf_counter()
    say(f"      collecting activation statistics on all {len(images)} calibration images")
    stats_all = calibrate.collect_stats(fp32_dir, images, blobs, opt.size, opt.threads, _progress)
    with tempfile.TemporaryDirectory(prefix="deploy-val-") as tmp:
        if do_search:
            assert val_root is not None
            folds = _folds(opt, images, stats_all, blobs, fp32_dir, val_root, Path(tmp))
            say(f"      search: {len(folds)} fold(s), methods {', '.join(methods)}, budget {opt.budget:.4f}")
            res = search(model, fp32_dir, layers, folds, methods, opt.budget, first, heads, opt.sensitivity_images,
                         opt.size, opt.threads, opt.extra_steps, fixed_set, say)
            assert res.chosen is not None
            chosen_method = res.chosen.method
            fixed_set = frozenset(res.chosen.fp32_layers)
            info["search"] = res.to_json()
            say(f"      chosen: method={chosen_method} {res.chosen.label} (mean Δ {res.chosen.mean_delta:+.4f}, "
                f"worst fold {res.chosen.worst_delta:+.4f}) fp32 layers={sorted(fixed_set) or 'none'} "
                f"[search {res.seconds:.0f} s]")
        elif opt.fp32_layers == "search":
            say("      no labelled validation set (CALIB has no sibling labels/ and no --val): "
                f"skipping the search; using method {chosen_method} with first+head convs in fp32")
    assert fixed_set is not None
    say(f"      writing int8: {chosen_method} calibrated on all {len(images)} images")
    table = calibrate.make_table(layers, stats_all, chosen_method)
    int8_dir = opt.out / f"{name}-int8"
    int8_dir.mkdir(parents=True, exist_ok=True)
    p_param, p_bin = int8_dir / f"{name}-int8.param", int8_dir / f"{name}-int8.bin"
    plan = write_int8(model, table, set(fixed_set), p_param, p_bin, fuse=opt.fuse)
    (int8_dir / f"{name}-int8.table").write_text(table.to_text())
    calib_meta = {"method": chosen_method, "images": len(images), "size": opt.size,
                  "preprocessing": {"mean": list(m32.mean), "norm": list(m32.norm), "pixel": m32.pixel,
                                    "letterbox_pad": m32.pad_value},
                  "fp32_layers": sorted(fixed_set), "int8_layers": len(plan.terms),
                  "requantize_fused": len(plan.top_scales), "table": f"{name}-int8.table"}
    m8 = m32.with_(name=f"{name}-int8", precision="int8", param=p_param.name, bin=p_bin.name, sha256={})
    write_bundle(int8_dir, m8, p_param, p_bin, {"calibration": calib_meta})
    info["calibration"] = calib_meta
    info["timing"] = {"int8_seconds": round(time.perf_counter() - t_cal, 1)}
    bundles = {"fp32": fp32_dir, "fp16": fp16_dir, "int8": int8_dir}
    say(f"      {len(plan.terms)} int8 layers ({len(plan.top_scales)} with fused requantize), "
        f"{len(fixed_set)} kept in fp32")

    if opt.report:
        from deploy.report import build_report  # noqa: PLC0415

        say("[4/5] measuring: parity vs PyTorch, mAP, interleaved latency, size")
        eval_ds = opt.eval_dataset or labelled_dataset(opt.calib)
        build_report(ck, bundles, opt, eval_ds, images[: opt.parity_images], info, say)
    total = time.perf_counter() - t_start
    info["timing"]["total_seconds"] = round(total, 1)
    if opt.report:
        from deploy.report import add_timing  # noqa: PLC0415

        add_timing(opt.out, info["timing"])
    say(f"[5/5] done in {total:.0f} s: " + ", ".join(str(p) for p in bundles.values()))
    return Result(bundles, info)
