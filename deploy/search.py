"""Mixed precision: which calibration method, and which (smallest) set of layers to keep in fp32.

Every candidate — a method × an fp32-layer set — is written as a real int8 bundle and scored with
edgecam's COCO evaluation on a **validation split disjoint from the calibration images**.  The chosen
candidate is the one with the fewest fp32 layers whose mAP@.5:.95 stays within ``budget`` of the fp32
bundle on the same split (ties: higher mAP).  Base sets, in order of size: none, the first conv, the
detection-head convs, first + heads (the default); if none of them meets the budget, the most
sensitive layers are added, k at a time — sensitivity being the measured relative error of the head
outputs when only that layer is int8, on calibration images.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from deploy.bundle import write_bundle
from deploy.calibrate import BlobStats, QuantLayer, Table, make_table
from deploy.int8 import write_int8
from deploy.measure import evaluate_map
from deploy.ncnnio import NcnnModel

log = logging.getLogger(__name__)


def first_and_head_layers(model: NcnnModel, input_blob: str, output_blobs: list[str]) -> tuple[str, list[str]]:
    first = next(layer.name for layer in model.param.layers if input_blob in layer.bottoms and layer.type.startswith("Convolution"))
    heads = []
    for blob in output_blobs:
        producer = model.param.producer(blob)
        if producer is None or not producer.type.startswith("Convolution"):
            raise ValueError(f"output {blob} is not produced by a convolution")
        heads.append(producer.name)
    return first, heads


def base_sets(first: str, heads: list[str]) -> list[tuple[str, frozenset[str]]]:
    return [("none", frozenset()), ("first", frozenset([first])), ("heads", frozenset(heads)),
            ("first+heads", frozenset([first, *heads]))]


def layer_sensitivity(model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], table: Table,
                      images: list[Path], size: int = 640, threads: int | None = None) -> list[tuple[str, float]]:
    """Measured sensitivity: the relative error of the head outputs when *only* that layer is int8.

    Runs on calibration images (never the validation split).  Largest first.
    """
    import cv2  # noqa: PLC0415
    import ncnn  # noqa: PLC0415

    from deploy.measure import open_detector  # noqa: PLC0415

    det = open_detector(fp32_bundle, size, threads, fp16=False)
    m = det.bundle.manifest
    try:
        mats = []
        for p in images:
            img = cv2.imread(str(p))
            if img is not None:
                mats.append(det.preprocess(img, "BGR")[0])
        refs = [[np.array(x, copy=True) for x in det.forward(mat)] for mat in mats]
    finally:
        det.close()
    out = []
    with tempfile.TemporaryDirectory(prefix="sens-") as tmp:
        pp, bp = Path(tmp) / "s.param", Path(tmp) / "s.bin"
        for q in layers:
            one = Table(table.method, {q.name: table.weight[q.name]}, {q.name: table.bottom[q.name]})
            write_int8(model, one, set(), pp, bp, fuse=False)
            net = ncnn.Net()
            net.opt.num_threads = threads or 2
            net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
            net.load_param(str(pp))
            net.load_model(str(bp))
            errs = []
            for mat, ref in zip(mats, refs):
                ex = net.create_extractor()
                ex.input(m.input, mat)
                for h, r in zip(m.outputs, ref):
                    y = np.array(ex.extract(h.blob)[1], copy=False)
                    errs.append(float(np.mean((y - r) ** 2) / max(float(np.mean(r**2)), 1e-12)))
            net.clear()
            out.append((q.name, float(np.mean(errs)) if errs else 0.0))
    return sorted(out, key=lambda t: -t[1])


@dataclass
class Candidate:
    method: str
    label: str
    fp32_layers: list[str]
    map50_95: float
    map50: float
    delta: float  # map50_95 - fp32's on the validation split
    fused: int
    meets_budget: bool


@dataclass
class SearchResult:
    fp32_val: dict[str, float]
    budget: float
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None
    sensitivity: dict[str, list[str]] = field(default_factory=dict)  # method → layers, most sensitive first

    def to_json(self) -> dict:
        return {"fp32_val": self.fp32_val, "budget": self.budget,
                "candidates": [asdict(c) for c in self.candidates],
                "chosen": asdict(self.chosen) if self.chosen else None, "sensitivity": self.sensitivity}


def make_split_dataset(images: list[Path], labels_dir: Path, dst: Path) -> Path:
    """A DATASET dir (images/ + labels/) of symlinks, for edgecam's evaluator."""
    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "labels").mkdir(parents=True, exist_ok=True)
    for img in images:
        (dst / "images" / img.name).symlink_to(img.resolve())
        lab = labels_dir / (img.stem + ".txt")
        if lab.is_file():
            (dst / "labels" / lab.name).symlink_to(lab.resolve())
    return dst


def search(model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], stats: dict[str, BlobStats],
           val_dataset: Path, methods: tuple[str, ...], budget: float, first: str, heads: list[str],
           sens_images: list[Path], size: int = 640, threads: int | None = None,
           extra_steps: tuple[int, ...] = (4, 8, 12, 16), log_fn: Callable[[str], None] = print) -> SearchResult:
    fp32_val = evaluate_map(fp32_bundle, val_dataset, size, threads)
    result = SearchResult(fp32_val, budget)
    log_fn(f"search: fp32 on the validation split mAP@.5:.95={fp32_val['map50_95']:.4f} "
           f"({fp32_val['images']} images); budget {budget:.4f}")
    tables = {m: make_table(layers, stats, m) for m in methods}
    manifest_src = fp32_bundle / "model.json"

    def run(method: str, label: str, fp32_set: frozenset[str]) -> Candidate:
        with tempfile.TemporaryDirectory(prefix="int8cand-") as tmp:
            tmp_p = Path(tmp)
            plan = write_int8(model, tables[method], set(fp32_set), tmp_p / "c.param", tmp_p / "c.bin")
            from edgecam.bundles.manifest import load_manifest  # noqa: PLC0415

            m = load_manifest(manifest_src).with_(name="candidate", precision="int8", param="c.param", bin="c.bin")
            write_bundle(tmp_p / "b", m, tmp_p / "c.param", tmp_p / "c.bin")
            res = evaluate_map(tmp_p / "b", val_dataset, size, threads)
        delta = res["map50_95"] - fp32_val["map50_95"]
        c = Candidate(method, label, sorted(fp32_set), res["map50_95"], res["map50"], delta, len(plan.top_scales),
                      delta >= -budget)
        result.candidates.append(c)
        log_fn(f"search: {method:<4} fp32={label:<12} mAP@.5:.95={c.map50_95:.4f} (Δ {delta:+.4f})"
               f"{'  ✓' if c.meets_budget else ''}")
        return c

    base = frozenset([first, *heads])
    for method in methods:
        for label, fp32_set in base_sets(first, heads):
            run(method, label, fp32_set)
    if not any(c.meets_budget for c in result.candidates):
        for method in methods:
            ranked = [n for n, _ in layer_sensitivity(model, fp32_bundle, layers, tables[method], sens_images, size,
                                                       threads) if n not in base]
            result.sensitivity[method] = ranked
            for k in extra_steps:
                if k > len(ranked):
                    break
                if run(method, f"first+heads+{k}", base | frozenset(ranked[:k])).meets_budget:
                    break
    passed = [c for c in result.candidates if c.meets_budget]
    pool = passed or result.candidates
    result.chosen = min(pool, key=lambda c: (len(c.fp32_layers) if passed else 0, -c.map50_95))
    if not passed:
        log.warning("no candidate met the budget %.4f; using the most accurate one", budget)
    return result
