"""Bias correction of the int8 convolutions (Nagel et al. 2019, "Data-Free Quantization Through Weight
Equalization and Bias Correction", §4.2).

Quantizing a layer's weights and input shifts the *mean* of its output per channel; the shift adds up
through the network.  ncnn's int8 convolutions add their bias in float after dequantizing, so a
correction of the bias is applied exactly.  Two kinds (``--bias-kind``):

* ``weights`` (the default, :func:`weight_corrected`): only the weight rounding, analytically —
  ``b − (W̃ − W)·E[x]`` with the fp32 net's per-channel input means (seconds);
* ``empirical`` (:func:`bias_corrected`): the measured mean error of each layer's output, which also
  holds the activation quantization's.  For every int8 convolution, in graph order:

1. run the int8 net *as corrected so far* (``fuse=False`` so every conv output is float) on the
   calibration images at every size, and take the per-output-channel mean of the conv's output
   **before** its fused activation;
2. subtract the per-channel mean of the fp32 net's same output (computed once) from it: that is the
   layer's remaining mean error (its own, plus what its corrected inputs still carry);
3. subtract that error from the layer's bias, then go on to the next layer.

The pre-activation output is reached by a *measurement model*: the fp32 model with every fused
activation (``9=``) of a quantizable conv split into its own layer, so the conv's own top is a blob
that can be extracted.  The corrected biases are keyed by layer name and apply unchanged to the
real model (activations fused).  Per-image means are averaged with equal weight per image and size.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from edgecam.bundles.ncnnfile import parse_param, walk_bin

from deploy.calibrate import QuantLayer, Table
from deploy.ncnnio import NcnnModel, count_blobs, set_params

PREACT = "_preact"
SUFFIX = "+bc"  # a search candidate's method with bias correction: "mse+bc"
MODES = ("search", "on", "off")
KINDS = ("weights", "empirical")


def split_method(method: str) -> tuple[str, bool]:
    """``"mse+bc"`` → ``("mse", True)``; ``"mse"`` → ``("mse", False)``."""
    return (method[: -len(SUFFIX)], True) if method.endswith(SUFFIX) else (method, False)


def with_modes(methods: tuple[str, ...], mode: str) -> tuple[str, ...]:
    """The search's method labels for ``--bias-correction`` search (both), on (+bc only) or off."""
    if mode not in MODES:
        raise ValueError(f"bias correction must be one of {', '.join(MODES)} (got {mode!r})")
    if mode == "off":
        return tuple(methods)
    if mode == "on":
        return tuple(m + SUFFIX for m in methods)
    return tuple(x for m in methods for x in (m, m + SUFFIX))


def _activation_line(layer, act: int, preact: str, top: str) -> str:
    """A standalone ncnn layer computing the conv's fused activation ``9=act`` (``10=`` params)."""
    raw = layer.params.get(10, [])
    p = [float(v) for v in (raw if isinstance(raw, list) else [raw])][1:] if raw else []
    name = f"{layer.name}_act"
    if act == 1:  # relu, optional slope
        extra = f" 0={p[0]:g}" if p else ""
        return f"{'ReLU':<24} {name:<24} 1 1 {preact} {top}{extra}"
    if act == 2:
        return f"{'ReLU':<24} {name:<24} 1 1 {preact} {top} 0={p[0]:g}"
    if act == 3:
        return f"{'Clip':<24} {name:<24} 1 1 {preact} {top} 0={p[0]:g} 1={p[1]:g}"
    if act == 4:
        return f"{'Sigmoid':<24} {name:<24} 1 1 {preact} {top}"
    if act == 5:
        return f"{'Mish':<24} {name:<24} 1 1 {preact} {top}"
    if act == 6:
        return f"{'HardSwish':<24} {name:<24} 1 1 {preact} {top} 0={p[0]:g} 1={p[1]:g}"
    raise ValueError(f"layer {layer.name}: fused activation type {act} is not supported by bias correction")


def measurement_model(model: NcnnModel, names: set[str]) -> NcnnModel:
    """``model`` with the fused activation of each layer in ``names`` split out; that layer's top
    becomes ``<top>_preact`` (its output before the activation)."""
    lines = []
    for layer in model.param.layers:
        act = layer.int(9) if layer.name in names else 0
        if not act:
            lines.append(layer.line)
            continue
        top = layer.tops[0]
        preact = top + PREACT
        line = set_params(layer, k9=None, k10=None)
        toks = line.split()
        nb = int(toks[2])
        toks[4 + nb] = preact
        lines.append(f"{toks[0]:<24} {toks[1]:<24} " + " ".join(toks[2:]))
        lines.append(_activation_line(layer, act, preact, top))
    param = parse_param(f"7767517\n{len(lines)} {count_blobs(lines)}\n" + "\n".join(lines) + "\n")
    return NcnnModel(param, model.data, walk_bin(param, model.data, "<measurement model>"))


def output_blob(model: NcnnModel, name: str) -> str:
    """The blob holding ``name``'s output before any fused activation (in the measurement model)."""
    layer = model.param.by_name(name)
    return layer.tops[0] + PREACT if layer.int(9) else layer.tops[0]


class Inputs:
    """Network inputs (ncnn Mats) for bias correction, and per-channel means of blobs over them.

    :meth:`from_images` preprocesses calibration images as the detector does, at every size; tests
    may pass Mats directly.
    """

    def __init__(self, input_blob: str, mats: list, threads: int | None = None, owners: list | None = None):
        if not mats:
            raise ValueError("bias correction needs at least one input")
        self.input, self.mats, self.threads = input_blob, list(mats), threads or 2
        self._owners = owners or []  # detectors whose allocators hold the Mats

    @classmethod
    def from_images(cls, fp32_bundle: Path, images: list[Path], sizes: tuple[int, ...],
                    threads: int | None = None) -> "Inputs":
        import cv2  # noqa: PLC0415

        from deploy.measure import open_detector  # noqa: PLC0415

        dets = [open_detector(fp32_bundle, s, threads, fp16=False) for s in sizes]
        mats = []
        try:
            for p in images:
                img = cv2.imread(str(p))
                if img is None:
                    raise FileNotFoundError(f"{p}: cannot read the bias-correction image")
                mats += [d.preprocess(img, "BGR")[0] for d in dets]
        except Exception:
            for d in dets:
                d.close()
            raise
        return cls(dets[0].bundle.manifest.input, mats, threads, dets)

    def means(self, param: Path, bin_: Path, blobs: list[str]) -> dict[str, np.ndarray]:
        """Per-channel mean of each blob, averaged over the inputs with equal weight."""
        from deploy.measure import open_fp32_net  # noqa: PLC0415

        net = open_fp32_net(param, bin_, self.threads)
        acc: dict[str, np.ndarray] = {}
        try:
            for mat in self.mats:
                ex = net.create_extractor()
                ex.set_light_mode(False)
                ex.input(self.input, mat)
                for b in blobs:
                    ret, m = ex.extract(b)
                    if ret != 0:
                        raise RuntimeError(f"extracting blob {b!r} failed ({ret})")
                    a = np.array(m, copy=False)
                    mu = a.reshape(a.shape[0], -1).mean(axis=1, dtype=np.float64)
                    acc[b] = acc[b] + mu if b in acc else mu
                del ex
        finally:
            net.clear()
        return {b: v / len(self.mats) for b, v in acc.items()}

    def close(self) -> None:
        self.mats.clear()
        for d in self._owners:
            d.close()

    def __enter__(self) -> "Inputs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def correct_biases(model: NcnnModel, layers: list[QuantLayer], table: Table, fp32_layers: set[str],
                   inputs: Inputs, log_fn: Callable[[str], None] | None = None) -> Table:
    """``table`` with ``bias`` set: corrected float biases of every int8 conv (one layer at a time, in
    graph order; one int8 run of the inputs per layer, each only as deep as that layer).

    Correcting every layer at once from one run does not work: each layer's measured error includes
    what its inputs carry, which their own corrections already remove, so it over-corrects (measured:
    the mean error grew six-fold after one such pass).
    """
    from deploy.int8 import write_int8  # noqa: PLC0415

    quant = [q for q in layers if q.name in table.bottom and q.name not in fp32_layers]
    names = {q.name for q in quant}
    meas = measurement_model(model, names)
    blobs = {q.name: output_blob(meas, q.name) for q in quant}
    bias0 = {}
    for q in quant:
        b = model.layer_buffers(q.name).get("bias")
        if b is None:
            raise ValueError(f"layer {q.name} has no bias term; bias correction needs one (bias_term 5=1)")
        bias0[q.name] = b.astype(np.float64)
    bias: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="biascorr-") as tmp:
        pp, bp = Path(tmp) / "m.param", Path(tmp) / "m.bin"
        meas.save(pp, bp)
        ref = inputs.means(pp, bp, list(blobs.values()))
        for i, q in enumerate(quant):
            cur = Table(table.method, table.weight, table.bottom, {k: v.astype(np.float32) for k, v in bias.items()})
            write_int8(meas, cur, set(fp32_layers), pp, bp, fuse=False)
            got = inputs.means(pp, bp, [blobs[q.name]])[blobs[q.name]]
            err = got - ref[blobs[q.name]]
            bias[q.name] = bias0[q.name] - err
            if log_fn and (i + 1) % 10 == 0:
                log_fn(f"bias correction: {i + 1}/{len(quant)} layers")
    return Table(table.method, table.weight, table.bottom, {k: v.astype(np.float32) for k, v in bias.items()})


def bias_corrected(model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], table: Table,
                   fp32_layers: set[str], images: list[Path], sizes: tuple[int, ...], threads: int | None = None,
                   log_fn: Callable[[str], None] | None = None) -> Table:
    """:func:`correct_biases` on calibration ``images`` preprocessed as the detector does, at every size."""
    with Inputs.from_images(fp32_bundle, images, tuple(sizes), threads) as inputs:
        return correct_biases(model, layers, table, fp32_layers, inputs, log_fn)


def weight_error_biases(model: NcnnModel, layers: list[QuantLayer], table: Table, input_means: dict[str, np.ndarray]
                        ) -> dict[str, np.ndarray]:
    """Nagel's analytic correction of the *weight* rounding alone: ``b − (W̃ − W)·E[x]`` per output channel,
    with ``E[x]`` the fp32 per-channel mean of the layer's input (borders ignored).  Activation
    quantization (and its clipping) is left alone.  Grouped Convolution is skipped."""
    from deploy.int8 import quantize_to_int8  # noqa: PLC0415

    out = {}
    for q in layers:
        if q.name not in table.weight:
            continue
        layer = model.param.by_name(q.name)
        b = model.layer_buffers(q.name).get("bias")
        if b is None:
            raise ValueError(f"layer {q.name} has no bias term; bias correction needs one (bias_term 5=1)")
        ws = table.weight[q.name].astype(np.float32)
        w = q.per_slice.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            wq = np.where(ws[:, None] > 0, quantize_to_int8(w, ws).astype(np.float32) / ws[:, None], 0.0)
        eps = (wq - w).astype(np.float64)
        mu = input_means[q.bottom].astype(np.float64)
        n_out = layer.int(0)
        if q.type == "ConvolutionDepthWise":
            if q.groups != n_out or mu.size != n_out:
                continue  # grouped, not depthwise: not handled
            corr = eps.sum(axis=1) * mu
        else:
            if layer.int(7, 1) != 1:
                continue
            corr = eps.reshape(n_out, mu.size, -1).sum(axis=2) @ mu
        out[q.name] = (b.astype(np.float64) - corr).astype(np.float32)
    return out


def weight_corrected(model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], table: Table,
                     images: list[Path], sizes: tuple[int, ...], threads: int | None = None) -> Table:
    """``table`` with the biases of :func:`weight_error_biases`, input means from ``images`` at every size."""
    with Inputs.from_images(fp32_bundle, images, tuple(sizes), threads) as inputs, \
            tempfile.TemporaryDirectory(prefix="biascorr-") as tmp:
        pp, bp = Path(tmp) / "f.param", Path(tmp) / "f.bin"
        model.save(pp, bp)
        means = inputs.means(pp, bp, sorted({q.bottom for q in layers if q.name in table.weight}))
    return Table(table.method, table.weight, table.bottom, weight_error_biases(model, layers, table, means))


def corrected(kind: str, model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], table: Table,
              images: list[Path], sizes: tuple[int, ...], threads: int | None = None) -> Table:
    """``table`` with corrected biases of ``kind`` (weights: analytic, weight rounding only; empirical:
    sequential, every layer int8), both from ``images`` at every size."""
    if kind == "weights":
        return weight_corrected(model, fp32_bundle, layers, table, images, sizes, threads)
    if kind == "empirical":
        return bias_corrected(model, fp32_bundle, layers, table, set(), images, sizes, threads)
    raise ValueError(f"bias correction kind must be one of {', '.join(KINDS)} (got {kind!r})")
