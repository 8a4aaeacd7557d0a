"""``make models``: checkpoint → fp32/fp16/int8 bundles + report (CONTRACT §5)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploy import calibrate
from deploy.biascorr import SUFFIX, corrected, split_method, with_modes
from deploy.bundle import write_bundle
from deploy.checkpoint import load_checkpoint
from deploy.convert import convert
from deploy.int8 import write_int8
from deploy.ncnnio import NcnnModel
from deploy.perlayer import AUTO, choice_summary, per_layer_table
from deploy.report import add_timing, build_report
from deploy.search import EXTRA_STEPS, SearchSetup, first_and_head_layers, search
from deploy.splits import labelled_dataset, plan_splits
from edgecam.sources.images import image_files

log = logging.getLogger(__name__)



@dataclass
class Options:
    weights: Path
    calib: Path
    out: Path
    size: int = 640  # the manifest's default size; the report's whole-set mAP and latency table
    sizes: tuple[int, ...] = (320, 640)  # calibrate, select and test at each of these
    methods: tuple[str, ...] = ("kl", "max", "mse")  # aciq and auto on request
    method: str | None = None  # fixed method (no search over methods)
    fp32_layers: str = "search"  # search | default (first+heads) | none | comma-separated layer names
    budget: float = 0.003  # allowed mAP@.5:.95 drop, applied to the lower confidence bound at every size
    level: float = 0.9  # one-sided confidence level of that bound
    bootstrap: int = 500  # paired bootstrap resamples
    holdout: int = 40  # labelled images held out as the test split (never calibrated on or selected with)
    extra_steps: tuple[int, ...] = EXTRA_STEPS  # first+heads+k most sensitive layers
    bias_correction: str = "search"  # search (score each method with and without) | on | off
    bias_kind: str = "weights"  # weights (analytic, weight rounding only) | empirical (sequential, measured)
    bias_images: int = 8  # calibration images (at every size) that bias correction averages over
    val: Path | None = None  # labelled DATASET for selection (+ test split); default: CALIB if it has labels
    eval_dataset: Path | None = None  # labelled DATASET for the report; default: CALIB's parent if labelled
    calib_limit: int = 0  # use only the first N calibration images (0: all)
    threads: int | None = None
    fuse: bool = True
    parity_sizes: tuple[int, ...] = (320, 416, 640)
    parity_images: int = 4
    sensitivity_images: int = 4
    report: bool = True
    bench_rounds: int = 5
    baselines: tuple[str, ...] = ("yolov5ss", "yolov5ss-int8")  # known models as extra rows in the report


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


def run(opt: Options, say=print) -> Result:
    t_start = time.perf_counter()
    bad = [s for s in (opt.size, *opt.sizes) if s <= 0 or s % 32]
    if bad:
        raise ValueError(f"sizes must be positive multiples of 32 (got {bad})")
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
    info: dict[str, Any] = {"name": name, "weights": str(opt.weights), "size": opt.size, "sizes": list(opt.sizes),
                            "calibration_images": len(images), "quantizable_layers": len(layers),
                            "first_layer": first, "head_layers": heads}

    say(f"[3/5] int8: {len(layers)} quantizable layers, {len(blobs)} activation blobs, sizes {list(opt.sizes)}")
    splits = plan_splits(images, opt.calib, opt.val, opt.holdout)
    info["splits"] = splits.to_json()
    do_search = (opt.fp32_layers == "search" or opt.method is None) and bool(splits.folds)
    base_methods = (opt.method,) if opt.method else opt.methods
    methods = with_modes(base_methods, opt.bias_correction)
    fixed_set: frozenset[str] | None = None
    if opt.fp32_layers == "default" or (opt.fp32_layers == "search" and not do_search):
        fixed_set = frozenset([first, *heads])
    elif opt.fp32_layers == "none":
        fixed_set = frozenset()
    elif opt.fp32_layers != "search":
        fixed_set = frozenset(s.strip() for s in opt.fp32_layers.split(",") if s.strip())
    chosen_method = (opt.method or "kl") + (SUFFIX if opt.bias_correction == "on" else "")
    t_cal = time.perf_counter()
    c = splits.counts()
    say(f"      images: {c['calibrate']} calibrate the shipped int8, {c['select']} select ({splits.layout}), "
        f"{c['test']} held out as the test split")
    say(f"      collecting activation statistics on {len(splits.calibrate)} calibration images")
    stats_all = calibrate.collect_stats(fp32_dir, splits.calibrate, blobs, opt.sizes, opt.threads, _progress)
    if do_search:
        assert splits.labels is not None
        fold_stats = {f.name: stats_all if f.calibrate == splits.calibrate else
                      calibrate.collect_stats(fp32_dir, f.calibrate, blobs, opt.sizes, opt.threads, _progress)
                      for f in splits.folds}
        setup = SearchSetup(splits.folds, fold_stats, splits.labels, opt.sizes, opt.budget, opt.level, opt.bootstrap,
                            opt.threads, opt.bias_images, opt.bias_kind)
        say(f"      search: {len(splits.folds)} fold(s), methods {', '.join(methods)}, budget {opt.budget:.4f} "
            f"on the {opt.level:.0%} lower bound")
        res = search(model, fp32_dir, layers, setup, methods, first, heads, opt.sensitivity_images,
                     opt.extra_steps, fixed_set, say)
        assert res.chosen is not None
        chosen_method = res.chosen.method
        fixed_set = frozenset(res.chosen.fp32_layers)
        info["search"] = res.to_json()
        say(f"      chosen: method={chosen_method} {res.chosen.label} (worst-size Δ {res.chosen.worst_delta:+.4f}, "
            f"lower bound {res.chosen.worst_lcb:+.4f}) fp32 layers={sorted(fixed_set) or 'none'} "
            f"[search {res.seconds:.0f} s]")
    elif opt.fp32_layers == "search":
        say("      no labelled selection set (CALIB has no sibling labels/ and no --select): "
            f"skipping the search; using method {chosen_method} with first+head convs in fp32")
    assert fixed_set is not None
    say(f"      writing int8: {chosen_method} calibrated on {len(splits.calibrate)} images")
    per_layer = None
    base_method, bc = split_method(chosen_method)
    if base_method == AUTO:
        table, choice = per_layer_table(model, fp32_dir, layers, stats_all, splits.calibrate[: opt.sensitivity_images],
                                        opt.sizes[0], opt.threads)
        per_layer = {"methods": choice_summary(choice), "layers": choice}
    else:
        table = calibrate.make_table(layers, stats_all, base_method)
    bias_meta = None
    if bc:
        bias_imgs = splits.calibrate[: opt.bias_images]
        say(f"      {opt.bias_kind} bias correction: {len(bias_imgs)} calibration images at {list(opt.sizes)} "
            "(as in the search; the fp32 layers keep their own bias)")
        table = corrected(opt.bias_kind, model, fp32_dir, layers, table, bias_imgs, opt.sizes, opt.threads)
        bias_meta = {"kind": opt.bias_kind, "images": len(bias_imgs), "sizes": list(opt.sizes),
                     "layers": len(table.bias),
                     "mean_abs_shift": float(np.mean([np.abs(b - model.layer_buffers(n)["bias"]).mean()
                                                      for n, b in table.bias.items()])) if table.bias else 0.0}
    int8_dir = opt.out / f"{name}-int8"
    int8_dir.mkdir(parents=True, exist_ok=True)
    p_param, p_bin = int8_dir / f"{name}-int8.param", int8_dir / f"{name}-int8.bin"
    plan = write_int8(model, table, set(fixed_set), p_param, p_bin, fuse=opt.fuse)
    (int8_dir / f"{name}-int8.table").write_text(table.to_text())
    calib_meta = {"method": chosen_method, "images": len(splits.calibrate), "size": opt.size, "sizes": list(opt.sizes),
                  "preprocessing": {"mean": list(m32.mean), "norm": list(m32.norm), "pixel": m32.pixel,
                                    "letterbox_pad": m32.pad_value},
                  "fp32_layers": sorted(fixed_set), "int8_layers": len(plan.terms),
                  "requantize_fused": len(plan.top_scales), "table": f"{name}-int8.table"}
    if per_layer:
        calib_meta["per_layer"] = per_layer
    if bias_meta:
        calib_meta["bias_correction"] = bias_meta
    m8 = m32.with_(name=f"{name}-int8", precision="int8", param=p_param.name, bin=p_bin.name, sha256={})
    write_bundle(int8_dir, m8, p_param, p_bin, {"calibration": calib_meta})
    info["calibration"] = calib_meta
    info["timing"] = {"int8_seconds": round(time.perf_counter() - t_cal, 1)}
    bundles = {"fp32": fp32_dir, "fp16": fp16_dir, "int8": int8_dir}
    say(f"      {len(plan.terms)} int8 layers ({len(plan.top_scales)} with fused requantize), "
        f"{len(fixed_set)} kept in fp32")

    if opt.report:
        say("[4/5] measuring: parity vs PyTorch, mAP, interleaved latency, size")
        eval_ds = opt.eval_dataset or labelled_dataset(opt.calib)
        build_report(ck, bundles, opt, eval_ds, images[: opt.parity_images], info, say, splits)
    total = time.perf_counter() - t_start
    info["timing"]["total_seconds"] = round(total, 1)
    if opt.report:
        add_timing(opt.out, info["timing"])
    say(f"[5/5] done in {total:.0f} s: " + ", ".join(str(p) for p in bundles.values()))
    return Result(bundles, info)
