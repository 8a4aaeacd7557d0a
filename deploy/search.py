"""Mixed precision: which calibration method, and which (smallest) set of layers to keep in fp32.

Every candidate — a method × an fp32-layer set — is written as a real int8 bundle and scored with
edgecam's COCO evaluation on images **disjoint from the ones it was calibrated on**.  One validation
split of 64 images is too noisy (about ±1 mAP point) for a budget of a few tenths, so the search
cross-validates over *folds*: with CALIB split into even and odd images, fold A calibrates on the
even and validates on the odd images, fold B the reverse.  Each fold's delta is the candidate's
mAP@.5:.95 minus the fp32 bundle's on that fold's validation images.

Candidate sets, in order of size: none, the first conv, the detection-head convs, first + heads, and
first + heads + the k most sensitive layers (k = 4, 8, 12) — sensitivity being the measured relative
error of the head outputs when only that layer is int8 (label-free; ranked once per method, on
fold A's calibration images with fold A's scales).  Every candidate of every method is evaluated on
every fold: none is skipped because a noisy smaller set happened to pass.

Selection rule (:func:`select`): a candidate passes when its **mean** fold delta ≥ −budget **and**
its **worst** fold delta ≥ −2·budget.  The chosen one is the passing candidate with the fewest fp32
layers (ties: higher mean delta, then higher worst delta).  If none passes, the candidate with the
highest mean delta is chosen and a warning is logged.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from deploy.bundle import write_bundle
from deploy.calibrate import BlobStats, QuantLayer, Table, make_table
from deploy.int8 import write_int8
from deploy.measure import evaluate_map
from deploy.ncnnio import NcnnModel

log = logging.getLogger(__name__)

EXTRA_STEPS = (4, 8, 12)


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

    Label-free; runs on calibration images.  Largest first.
    """
    import cv2  # noqa: PLC0415
    import ncnn  # noqa: PLC0415

    from deploy.measure import open_detector  # noqa: PLC0415

    det = open_detector(fp32_bundle, size, threads, fp16=False)
    m = det.bundle.manifest
    mats: list = []
    out = []
    try:  # the input Mats come from the detector's allocator: keep it open until they are gone
        for p in images:
            img = cv2.imread(str(p))
            if img is not None:
                mats.append(det.preprocess(img, "BGR")[0])
        refs = [[np.array(x, copy=True) for x in det.forward(mat)] for mat in mats]
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
                        y = np.array(ex.extract(h.blob)[1], copy=True)
                        errs.append(float(np.mean((y - r) ** 2) / max(float(np.mean(r**2)), 1e-12)))
                    del ex
                net.clear()
                out.append((q.name, float(np.mean(errs)) if errs else 0.0))
    finally:
        mats.clear()
        det.close()
    return sorted(out, key=lambda t: -t[1])


# --------------------------------------------------------------------------------------------- data
@dataclass
class Fold:
    """Calibrate on ``calib_images`` (their ``stats``), validate on ``val_dataset`` (disjoint)."""

    name: str
    calib_images: list[Path]
    stats: dict[str, BlobStats]
    val_dataset: Path


@dataclass
class FoldScore:
    fold: str
    map50_95: float
    map50: float
    delta: float  # map50_95 - fp32's on this fold's validation images


@dataclass
class Candidate:
    method: str
    label: str
    fp32_layers: list[str]
    folds: list[FoldScore]
    fused: int
    mean_delta: float = 0.0
    worst_delta: float = 0.0
    meets_budget: bool = False

    def __post_init__(self) -> None:
        if self.folds:
            deltas = [f.delta for f in self.folds]
            self.mean_delta, self.worst_delta = float(np.mean(deltas)), float(min(deltas))


@dataclass
class SearchResult:
    fp32_val: dict[str, dict[str, float]]  # fold → fp32 scores on its validation images
    budget: float
    rule: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None
    sensitivity: dict[str, list[str]] = field(default_factory=dict)  # method → layers, most sensitive first
    seconds: float = 0.0
    splits: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # fold → calibrate/validate image names

    def to_json(self) -> dict:
        return {"fp32_val": self.fp32_val, "budget": self.budget, "rule": self.rule,
                "candidates": [asdict(c) for c in self.candidates],
                "chosen": asdict(self.chosen) if self.chosen else None, "sensitivity": self.sensitivity,
                "seconds": round(self.seconds, 1), "splits": self.splits}


def rule_text(budget: float) -> str:
    return (f"passes when mean fold Δ ≥ −{budget:.4f} and worst fold Δ ≥ −{2 * budget:.4f}; "
            "chosen: fewest fp32 layers among the passing (ties: higher mean Δ, then higher worst Δ); "
            "if none passes: highest mean Δ")


def select(candidates: Sequence[Candidate], budget: float) -> Candidate | None:
    """Apply the selection rule (module docstring); sets ``meets_budget`` on every candidate."""
    for c in candidates:
        c.meets_budget = bool(c.folds) and c.mean_delta >= -budget and c.worst_delta >= -2 * budget
    passed = [c for c in candidates if c.meets_budget]
    if passed:
        return min(passed, key=lambda c: (len(c.fp32_layers), -c.mean_delta, -c.worst_delta))
    scored = [c for c in candidates if c.folds]
    if not scored:
        return None
    log.warning("no candidate met the budget %.4f (mean) / %.4f (worst fold); using the most accurate one",
                budget, 2 * budget)
    return max(scored, key=lambda c: (c.mean_delta, c.worst_delta, -len(c.fp32_layers)))


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


# --------------------------------------------------------------------------------------------- search
def search(model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], folds: list[Fold],
           methods: tuple[str, ...], budget: float, first: str, heads: list[str], sens_images: int = 4,
           size: int = 640, threads: int | None = None, extra_steps: tuple[int, ...] = EXTRA_STEPS,
           fixed: frozenset[str] | None = None, log_fn: Callable[[str], None] = print) -> SearchResult:
    """Score every method × fp32 set on every fold, then :func:`select`.

    ``fixed``: search only the method, with this one fp32 set (no sensitivity ranking).
    """
    if not folds:
        raise ValueError("the search needs at least one fold")
    t0 = time.perf_counter()
    fp32_val = {}
    for f in folds:
        fp32_val[f.name] = evaluate_map(fp32_bundle, f.val_dataset, size, threads)
        log_fn(f"search: fold {f.name}: calibrate on {len(f.calib_images)} images, validate on "
               f"{fp32_val[f.name]['images']}; fp32 mAP@.5:.95={fp32_val[f.name]['map50_95']:.4f}")
    result = SearchResult(fp32_val, budget, rule_text(budget))
    result.splits = {f.name: {"calibrate": [p.name for p in f.calib_images],
                              "validate": sorted(p.name for p in (f.val_dataset / "images").iterdir())} for f in folds}
    log_fn(f"search: {result.rule}")
    tables = {(m, f.name): make_table(layers, f.stats, m) for m in methods for f in folds}
    manifest_src = fp32_bundle / "model.json"

    def score(method: str, fold: Fold, fp32_set: frozenset[str]) -> tuple[FoldScore, int]:
        from edgecam.bundles.manifest import load_manifest  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="int8cand-") as tmp:
            tmp_p = Path(tmp)
            plan = write_int8(model, tables[method, fold.name], set(fp32_set), tmp_p / "c.param", tmp_p / "c.bin")
            m = load_manifest(manifest_src).with_(name="candidate", precision="int8", param="c.param", bin="c.bin")
            write_bundle(tmp_p / "b", m, tmp_p / "c.param", tmp_p / "c.bin")
            res = evaluate_map(tmp_p / "b", fold.val_dataset, size, threads)
        delta = res["map50_95"] - fp32_val[fold.name]["map50_95"]
        return FoldScore(fold.name, res["map50_95"], res["map50"], delta), len(plan.top_scales)

    base = frozenset([first, *heads])
    for method in methods:
        if fixed is not None:
            sets = [("fixed", fixed)]
        else:
            ranked = [n for n, _ in layer_sensitivity(model, fp32_bundle, layers, tables[method, folds[0].name],
                                                       folds[0].calib_images[:sens_images], size, threads)
                      if n not in base]
            result.sensitivity[method] = ranked
            sets = base_sets(first, heads) + [(f"first+heads+{k}", base | frozenset(ranked[:k]))
                                              for k in extra_steps if k <= len(ranked)]
        for label, fp32_set in sets:
            scores, fused = [], 0
            for f in folds:
                s, fused = score(method, f, fp32_set)
                scores.append(s)
            c = Candidate(method, label, sorted(fp32_set), scores, fused)
            c.meets_budget = c.mean_delta >= -budget and c.worst_delta >= -2 * budget
            result.candidates.append(c)
            per_fold = " ".join(f"{s.fold}:{s.map50_95:.4f}({s.delta:+.4f})" for s in scores)
            log_fn(f"search: {method:<4} fp32={label:<16} {per_fold}  mean Δ {c.mean_delta:+.4f} "
                   f"worst {c.worst_delta:+.4f}{'  ✓' if c.meets_budget else ''}")
    result.chosen = select(result.candidates, budget)
    result.seconds = time.perf_counter() - t0
    return result
