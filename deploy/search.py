"""Mixed precision: which calibration method, and which (smallest) set of layers to keep in fp32.

Every candidate — a method × an fp32-layer set — is written as a real int8 bundle and scored with
COCO mAP on labelled images **it was not calibrated on** (:mod:`deploy.splits`: cross-fitting over
two folds, or a separate selection set), at **every size** the bundle will run at.  A candidate's Δ
at a size is its mAP@.5:.95 minus the fp32 bundle's on the same images.  Its uncertainty comes from
a paired bootstrap over those images (:mod:`deploy.bootstrap`; the same resamples for every
candidate and for fp32), which gives a one-sided lower confidence bound (LCB) on Δ.

Methods may carry ``+bc`` (:mod:`deploy.biascorr`): the same scales with bias correction, computed
once per method and fold (every layer int8) on that fold's calibration images.

Candidate sets, in order of size: none, the first conv, the detection-head convs, first + heads, and
first + heads + the k most sensitive layers (k = 4, 8, 12) — sensitivity being the measured relative
error of the head outputs when only that layer is int8 (label-free; ranked once per method, on the
first fold's calibration images with its scales).  Every candidate is scored: none is skipped.

Selection rule (:func:`select`): a candidate passes when its LCB on Δ ≥ −budget **at every size**.
The chosen one is the passing candidate with the fewest fp32 layers (ties: higher worst-size LCB,
then higher worst-size Δ).  If none passes, the candidate with the highest worst-size LCB is chosen
and a warning is logged.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from deploy.biascorr import corrected, split_method
from deploy.bootstrap import MatchSet, bootstrap_maps, paired_interval, resample_weights
from deploy.bundle import write_bundle
from deploy.calibrate import BlobStats, QuantLayer, Table, make_table
from deploy.int8 import write_int8
from deploy.measure import detect_labelled
from deploy.ncnnio import NcnnModel
from deploy.perlayer import AUTO, choice_summary, per_layer_table
from deploy.sensitivity import layer_sensitivity
from deploy.splits import SelectFold

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


# --------------------------------------------------------------------------------------------- data
@dataclass
class SizeScore:
    size: int
    map50_95: float
    map50: float
    interval: dict  # bootstrap.Interval.to_json(): delta, low, high, lcb, level, samples, images


@dataclass
class Candidate:
    method: str
    label: str
    fp32_layers: list[str]
    sizes: list[SizeScore]
    fused: int
    worst_lcb: float = 0.0
    worst_delta: float = 0.0
    meets_budget: bool = False

    def __post_init__(self) -> None:
        if self.sizes:
            self.worst_lcb = float(min(s.interval["lcb"] for s in self.sizes))
            self.worst_delta = float(min(s.interval["delta"] for s in self.sizes))


@dataclass
class SearchResult:
    fp32: dict[str, dict[str, float]]  # size → fp32 scores on the selection images
    budget: float
    level: float
    rule: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None
    sensitivity: dict[str, list[str]] = field(default_factory=dict)  # method → layers, most sensitive first
    per_layer: dict[str, dict[str, int]] = field(default_factory=dict)  # auto: fold → {method: layers}
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"fp32": self.fp32, "budget": self.budget, "level": self.level, "rule": self.rule,
                "per_layer": self.per_layer,
                "candidates": [asdict(c) for c in self.candidates],
                "chosen": asdict(self.chosen) if self.chosen else None, "sensitivity": self.sensitivity,
                "seconds": round(self.seconds, 1)}


def rule_text(budget: float, level: float) -> str:
    return (f"passes when the {level:.0%} lower confidence bound on Δ ≥ −{budget:.4f} at every size; "
            "chosen: fewest fp32 layers among the passing (ties: higher worst-size bound, then higher worst-size Δ); "
            "if none passes: highest worst-size bound")


def select(candidates: Sequence[Candidate], budget: float) -> Candidate | None:
    """Apply the selection rule (module docstring); sets ``meets_budget`` on every candidate."""
    for c in candidates:
        c.meets_budget = bool(c.sizes) and c.worst_lcb >= -budget
    passed = [c for c in candidates if c.meets_budget]
    if passed:
        return min(passed, key=lambda c: (len(c.fp32_layers), -c.worst_lcb, -c.worst_delta))
    scored = [c for c in candidates if c.sizes]
    if not scored:
        return None
    log.warning("no candidate's lower confidence bound met the budget −%.4f; using the one with the highest bound",
                budget)
    return max(scored, key=lambda c: (c.worst_lcb, c.worst_delta, -len(c.fp32_layers)))


# --------------------------------------------------------------------------------------------- search
@dataclass
class SearchSetup:
    """Everything fixed for one search: the folds with their statistics, sizes, and the statistics rule."""

    folds: list[SelectFold]
    stats: dict[str, dict[str, BlobStats]]  # fold name → activation statistics of its calibration images
    labels: Path
    sizes: tuple[int, ...]
    budget: float
    level: float = 0.9
    samples: int = 500
    threads: int | None = None
    bias_images: int = 8  # "+bc" candidates: bias correction on the first N of the fold's calibration images
    bias_kind: str = "weights"  # deploy.biascorr.corrected


def search(model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], setup: SearchSetup,
           methods: tuple[str, ...], first: str, heads: list[str], sens_images: int = 4,
           extra_steps: tuple[int, ...] = EXTRA_STEPS, fixed: frozenset[str] | None = None,
           log_fn: Callable[[str], None] = print) -> SearchResult:
    """Score every method × fp32 set at every size on the folds' scoring images, then :func:`select`.

    ``fixed``: search only the method, with this one fp32 set (no sensitivity ranking).
    """
    if not setup.folds:
        raise ValueError("the search needs at least one fold")
    t0 = time.perf_counter()
    scored = [p for f in setup.folds for p in f.score]  # pooled order, the same for fp32 and every candidate
    weights = resample_weights(len(scored), setup.samples)
    base: dict[int, tuple[float, np.ndarray]] = {}
    fp32: dict[str, dict[str, float]] = {}
    for size in setup.sizes:
        ms = MatchSet(detect_labelled(fp32_bundle, scored, setup.labels, size, setup.threads).matches())
        m, m50 = ms.coco_map()
        base[size] = (m, bootstrap_maps(ms, weights))
        fp32[str(size)] = {"map50_95": m, "map50": m50, "images": ms.n}
        log_fn(f"search: fp32 @{size} on {ms.n} selection images: mAP@.5:.95={m:.4f}")
    result = SearchResult(fp32, setup.budget, setup.level, rule_text(setup.budget, setup.level))
    log_fn(f"search: {result.rule}; {setup.samples} paired bootstrap resamples")
    tables: dict[tuple[str, str], Table] = {}
    bases = list(dict.fromkeys(split_method(m)[0] for m in methods))
    for m in bases:
        for f in setup.folds:
            if m == AUTO:  # per fold, on that fold's own calibration images
                tables[m, f.name], choice = per_layer_table(model, fp32_bundle, layers, setup.stats[f.name],
                                                            f.calibrate[:sens_images], setup.sizes[0], setup.threads)
                result.per_layer[f.name] = choice_summary(choice)
                log_fn(f"search: auto (fold {f.name}): per-layer methods {result.per_layer[f.name]}")
            else:
                tables[m, f.name] = make_table(layers, setup.stats[f.name], m)
    manifest_src = fp32_bundle / "model.json"

    def score(method: str, fp32_set: frozenset[str]) -> tuple[list[SizeScore], int]:
        from edgecam.bundles.manifest import load_manifest  # noqa: PLC0415

        per_size: dict[int, list] = {s: [] for s in setup.sizes}
        fused = 0
        plain, bc = split_method(method)
        for fold in setup.folds:
            table = tables[plain, fold.name]
            if bc:  # once per method and fold, all layers int8, on the fold's calibration images only
                if (method, fold.name) not in tables:
                    log_fn(f"search: {setup.bias_kind} bias correction of {plain} (fold {fold.name}) on "
                           f"{len(fold.calibrate[: setup.bias_images])} of its calibration images")
                    tables[method, fold.name] = corrected(setup.bias_kind, model, fp32_bundle, layers, table,
                                                          fold.calibrate[: setup.bias_images], setup.sizes,
                                                          setup.threads)
                table = tables[method, fold.name]
            with tempfile.TemporaryDirectory(prefix="int8cand-") as tmp:
                tmp_p = Path(tmp)
                plan = write_int8(model, table, set(fp32_set), tmp_p / "c.param", tmp_p / "c.bin")
                fused = len(plan.top_scales)
                m = load_manifest(manifest_src).with_(name="candidate", precision="int8", param="c.param", bin="c.bin")
                write_bundle(tmp_p / "b", m, tmp_p / "c.param", tmp_p / "c.bin")
                for size in setup.sizes:
                    per_size[size] += detect_labelled(tmp_p / "b", fold.score, setup.labels, size,
                                                      setup.threads).matches()
        out = []
        for size in setup.sizes:
            ms = MatchSet(per_size[size])
            m, m50 = ms.coco_map()
            iv = paired_interval(base[size][0], base[size][1], m, bootstrap_maps(ms, weights), setup.level, ms.n)
            out.append(SizeScore(size, m, m50, iv.to_json()))
        return out, fused

    core = frozenset([first, *heads])
    for method in methods:
        plain = split_method(method)[0]
        if fixed is not None:
            sets = [("fixed", fixed)]
        else:
            f0 = setup.folds[0]
            if plain not in result.sensitivity:  # "+bc" candidates use their method's ranking
                result.sensitivity[plain] = [
                    n for n, _ in layer_sensitivity(model, fp32_bundle, layers, tables[plain, f0.name],
                                                    f0.calibrate[:sens_images], setup.sizes[0], setup.threads)
                    if n not in core]
            ranked = result.sensitivity[plain]
            sets = base_sets(first, heads) + [(f"first+heads+{k}", core | frozenset(ranked[:k]))
                                              for k in extra_steps if k <= len(ranked)]
        for label, fp32_set in sets:
            sizes, fused = score(method, fp32_set)
            c = Candidate(method, label, sorted(fp32_set), sizes, fused)
            c.meets_budget = c.worst_lcb >= -setup.budget
            result.candidates.append(c)
            per = " ".join(f"@{s.size}:{s.map50_95:.4f}(Δ{s.interval['delta']:+.4f} lcb{s.interval['lcb']:+.4f})"
                           for s in sizes)
            log_fn(f"search: {method:<4} fp32={label:<16} {per}{'  ✓' if c.meets_budget else ''}")
    result.chosen = select(result.candidates, setup.budget)
    result.seconds = time.perf_counter() - t0
    return result
