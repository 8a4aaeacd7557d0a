"""int8 calibration (a Python ncnn2table): per-channel weight scales and per-blob activation scales.

Activation statistics come from the fp32 bundle run by edgecam's own detector, so the calibration
images get exactly the preprocessing of inference — the bundle manifest's pixel order, mean/norm
and letterbox (the seed's int8 lost 7 mAP points by calibrating with BGR/ImageNet mean on an
RGB/255 model).  Methods (ncnn tools/quantize/ncnn2table.cpp semantics):

* ``max``  – scale = 127 / absmax over the calibration set;
* ``kl``   – ncnn's KL-divergence threshold search over a 2048-bin histogram of |x| (zeros skipped);
* ``aciq`` – Gaussian clipping ``alpha·2·G·absmax/sqrt(2 ln N)`` (N = blob size);
* ``mse``  – ours, not ncnn's: per blob, the clip threshold minimising the expected squared int8
  error over the histogram (rounding below the threshold + clipping above it).

Weights are per output channel (per group for depthwise): 127/absmax, except 3x3/stride-1/dilation-1
Convolution which gets 31/absmax (6-bit) because ncnn runs those with int8 Winograd F(4,3).  ACIQ
clips weights too, as ncnn2table does.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from edgecam.bundles.ncnnfile import Layer

from deploy.measure import open_detector
from deploy.ncnnio import NcnnModel

log = logging.getLogger(__name__)

METHODS = ("max", "kl", "aciq", "mse")
NUM_BINS = 2048
QUANTIZABLE = ("Convolution", "ConvolutionDepthWise", "InnerProduct")


@dataclass(frozen=True)
class QuantLayer:
    name: str
    type: str
    bottom: str  # the blob whose statistics give the input scale (Split outputs mapped to the Split input)
    weight: np.ndarray  # float32, flat [out][in][kh][kw]
    groups: int  # number of weight-scale slices: num_output, or group for depthwise
    winograd: bool  # 3x3 s1 d1 Convolution: 6-bit weights

    @property
    def per_slice(self) -> np.ndarray:
        return self.weight.reshape(self.groups, -1)


def _is_winograd(layer: Layer) -> bool:
    if layer.type != "Convolution":
        return False
    k = (layer.int(1), layer.int(11, layer.int(1)))
    s = (layer.int(3, 1), layer.int(13, layer.int(3, 1)))
    d = (layer.int(2, 1), layer.int(12, layer.int(2, 1)))
    return k == (3, 3) and s == (1, 1) and d == (1, 1)


def canonical_blob(model: NcnnModel, blob: str) -> str:
    """A Split output carries the same data as the Split input: calibrate it once."""
    layer = model.param.producer(blob)
    while layer is not None and layer.type == "Split":
        blob = layer.bottoms[0]
        layer = model.param.producer(blob)
    return blob


def quantizable_layers(model: NcnnModel) -> list[QuantLayer]:
    out = []
    for layer in model.param.layers:
        if layer.type not in QUANTIZABLE or len(layer.bottoms) != 1 or layer.int(19):
            continue
        if layer.int(8):
            raise ValueError(f"layer {layer.name} is already int8; calibrate the fp32 bundle")
        bufs = model.layer_buffers(layer.name)
        groups = layer.int(7, 1) if layer.type == "ConvolutionDepthWise" else layer.int(0)
        out.append(QuantLayer(layer.name, layer.type, canonical_blob(model, layer.bottoms[0]),
                              bufs["weight"].astype(np.float32), groups, _is_winograd(layer)))
    return out


# --------------------------------------------------------------------------------------------- stats
@dataclass
class BlobStats:
    absmax: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(NUM_BINS, np.int64))
    elements: int = 0  # c*h*w of the last image (ncnn2table's ACIQ N)


def _forward_blobs(det, img: np.ndarray, blobs: list[str]) -> Iterable[tuple[str, np.ndarray]]:
    mat, _ = det.preprocess(img, "BGR")
    ex = det.net.create_extractor()
    ex.set_light_mode(False)  # intermediate blobs out of order would be freed (and may crash) in light mode
    ex.input(det.bundle.manifest.input, mat)
    for blob in blobs:
        ret, m = ex.extract(blob)
        if ret != 0:
            raise RuntimeError(f"extracting blob {blob!r} failed ({ret})")
        yield blob, np.array(m, copy=False)


def collect_stats(fp32_bundle: Path, images: list[Path], blobs: list[str], size: int | tuple[int, ...] = 640,
                  threads: int | None = None, progress: Callable[[Iterable, str], Iterable] | None = None
                  ) -> dict[str, BlobStats]:
    """Pass A: absmax of every blob; pass B: 2048-bin histograms of |x| over [0, absmax] (zeros skipped).

    With several sizes every image is run at each of them and the statistics are pooled, so the
    scales fit every size the bundle will run at.
    """
    sizes = (size,) if isinstance(size, int) else tuple(size)
    stats = {b: BlobStats() for b in blobs}
    dets = [open_detector(fp32_bundle, s, threads, fp16=False) for s in sizes]
    wrap = progress or (lambda it, label: it)
    tag = f" @{','.join(map(str, sizes))}"
    try:
        loaded = []
        for path in wrap(images, "calib 1/2" + tag):
            img = cv2.imread(str(path))
            if img is None:
                raise FileNotFoundError(f"{path}: cannot read the calibration image")
            loaded.append(path)
            for det in dets:
                for blob, a in _forward_blobs(det, img, blobs):
                    s = stats[blob]
                    s.absmax = max(s.absmax, float(np.abs(a).max()))
                    s.elements = int(a.size)
        for path in wrap(loaded, "calib 2/2" + tag):
            img = cv2.imread(str(path))
            for det in dets:
                for blob, a in _forward_blobs(det, img, blobs):
                    s = stats[blob]
                    if s.absmax <= 0:
                        continue
                    v = np.abs(a[a != 0]).astype(np.float32)
                    idx = (v / np.float32(s.absmax) * np.float32(NUM_BINS)).astype(np.int64)
                    np.minimum(idx, NUM_BINS - 1, out=idx)
                    s.hist += np.bincount(idx, minlength=NUM_BINS)
    finally:
        for det in dets:
            det.close()
    return stats


# --------------------------------------------------------------------------------------------- methods
def kl_threshold_bin(hist: np.ndarray) -> int:
    """ncnn2table's KL search: the bin T* in [128, 2048) minimising KL(C || expand(quantize(P, 128)))."""
    total = float(hist.sum())
    if total <= 0:
        return 128
    p = hist.astype(np.float64) / total
    cs = np.concatenate(([0.0], np.cumsum(p)))
    j = np.arange(128)
    best_t, best_kl = 128, math.inf
    for t in range(128, NUM_BINS):
        r = t / 128.0
        start, end = j * r, (j + 1) * r
        lu = np.ceil(start).astype(np.int64)
        rl = np.floor(end).astype(np.int64)
        ls, rs = lu - start, end - rl
        has_l, has_r = ls > 0, rs > 0
        q = cs[rl] - cs[lu]
        q += np.where(has_l, ls * p[np.maximum(lu - 1, 0)], 0.0)
        q += np.where(has_r, rs * p[np.minimum(rl, t - 1)], 0.0)
        q /= (rl - lu) + ls + rs
        d = np.zeros(t + 1)
        np.add.at(d, lu, q)
        np.add.at(d, rl, -q)
        e = np.cumsum(d)[:t] + 1e-4
        np.add.at(e, (lu - 1)[has_l], (ls * q)[has_l])
        np.add.at(e, rl[has_r], (rs * q)[has_r])
        c = p[:t] + 1e-4
        c[t - 1] += cs[NUM_BINS] - cs[t]
        kl = float(np.sum(c * np.log(c / e)))
        if kl < best_kl:
            best_kl, best_t = kl, t
    return best_t


_ALPHA = (0.0, 1.71063519, 2.15159277, 2.55913646, 2.93620062, 3.28691474, 3.6151146, 3.92403714)
_G = 0.175 * (1 + math.sqrt(math.pi * math.log(4)))


def aciq_clip(absmax: float, n: int, bits: int = 8) -> float:
    if n <= 1:
        return absmax
    return float(np.float32(_ALPHA[bits - 1] * absmax * 2 * _G / math.sqrt(2 * math.log(n))))


def mse_threshold_bin(hist: np.ndarray) -> int:
    """The clip bin T in [16, 2048] minimising the expected squared int8 error of the histogram's values.

    Values below the threshold t = T/2048·absmax carry rounding error (t/127)²/12 each; values above
    are clipped to t and carry (x − t)² (x at the bin centre).  Unlike KL, which compares shapes
    of distributions, this weighs every value by its actual error, so it picks per blob between
    tight clipping (long sparse tails) and absmax (heavy tails that matter).
    """
    h = hist.astype(np.float64)
    if h.sum() <= 0:
        return NUM_BINS
    centre = np.arange(NUM_BINS) + 0.5
    t = np.arange(16, NUM_BINS + 1, dtype=np.float64)  # candidate thresholds, in bins
    # suffix sums over bins i ≥ T of h, h·c, h·c²
    s0 = np.concatenate((np.cumsum(h[::-1])[::-1], [0.0]))
    s1 = np.concatenate((np.cumsum((h * centre)[::-1])[::-1], [0.0]))
    s2 = np.concatenate((np.cumsum((h * centre**2)[::-1])[::-1], [0.0]))
    ti = t.astype(np.int64)
    clip = s2[ti] - 2 * t * s1[ti] + t**2 * s0[ti]
    below = s0[0] - s0[ti]
    err = clip + below * (t / 127.0) ** 2 / 12.0
    return int(t[int(np.argmin(err))])


def activation_scale(s: BlobStats, method: str) -> float:
    if s.absmax <= 0:
        return 1.0  # an all-zero blob: any finite scale is exact (ncnn2table would write inf)
    if method == "max":
        threshold = s.absmax
    elif method == "kl":
        threshold = (kl_threshold_bin(s.hist) + 0.5) * s.absmax / NUM_BINS
    elif method == "aciq":
        threshold = aciq_clip(s.absmax, s.elements, 8)
    elif method == "mse":
        threshold = mse_threshold_bin(s.hist) * s.absmax / NUM_BINS
    else:
        raise ValueError(f"unknown calibration method {method!r}; choose from {', '.join(METHODS)}")
    return float(np.float32(127.0 / threshold))


def weight_scales(q: QuantLayer, method: str) -> np.ndarray:
    absmax = np.abs(q.per_slice).max(axis=1).astype(np.float64)
    bits = 6 if q.winograd else 8
    qmax = 31.0 if q.winograd else 127.0
    if method == "aciq":
        n = q.per_slice.shape[1]
        thr = np.array([aciq_clip(a, n, bits) for a in absmax])
    else:
        thr = absmax
    with np.errstate(divide="ignore"):
        s = np.where(thr > 0, qmax / np.where(thr > 0, thr, 1.0), 0.0)  # zero channel: scale 0 (outputs its bias)
    return s.astype(np.float32)


@dataclass
class Table:
    """Scales for each quantized layer: per-channel weight scales and one input (bottom) scale."""

    method: str
    weight: dict[str, np.ndarray]
    bottom: dict[str, float]
    bias: dict[str, np.ndarray] = field(default_factory=dict)  # corrected float biases (deploy.biascorr), if any

    def to_text(self) -> str:
        """ncnn2table's file format (``<layer>_param_0 s…`` lines, then ``<layer> s`` lines)."""
        lines = [f"{k}_param_0 " + "".join(f"{float(v):f} " for v in w) for k, w in self.weight.items()]
        lines += [f"{k} {float(v):f} " for k, v in self.bottom.items()]
        return "\n".join(lines) + "\n"


def make_table(layers: list[QuantLayer], stats: dict[str, BlobStats], method: str) -> Table:
    act = {blob: activation_scale(stats[blob], method) for blob in {q.bottom for q in layers}}
    return Table(method, {q.name: weight_scales(q, method) for q in layers}, {q.name: act[q.bottom] for q in layers})
