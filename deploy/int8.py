"""The int8 writer (a Python ncnn2int8): quantized ``.param``/``.bin`` loadable by the pip ``ncnn``.

For each quantized layer the ``.param`` line is copied verbatim with ``8=`` (int8_scale_term) set —
2 for Convolution/InnerProduct (per-output-channel weight scales), 1 for ConvolutionDepthWise (per
group), +100 when the output is requantized to int8 for a following int8 conv — and the ``.bin``
holds, in order: the int8-tagged weights (``38 4B 0D 00``, padded to 4 bytes), the fp32 bias, the
weight scales, the one bottom (input) scale, and the top scale if fused (ncnn ``convolution.cpp``
``load_model``; ``tools/modelwriter.h``).  Layers without scales (the mixed-precision fp32 set)
are copied unchanged.

Weights are quantized as ncnn's ``float2int8``: ``v*scale`` in float32, rounded half away from zero,
saturated to [-127, 127].  ``oracle=True`` writes the *float* weights with the same scales instead:
ncnn then quantizes them itself at load time, which the tests use as a bit-exactness reference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.bundles.ncnnfile import Buffer, Layer, read_buffer

from deploy.calibrate import Table
from deploy.ncnnio import NcnnModel, param_text, raw_fp32, set_params, tagged_fp16, tagged_int8

CONV = ("Convolution", "ConvolutionDepthWise")


def quantize_to_int8(w: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``w`` (groups, K) float32 × per-group ``scales`` → int8, as ncnn's float2int8."""
    v = (w.astype(np.float32) * scales.astype(np.float32)[:, None]).astype(np.float32)
    q = np.trunc(v + np.copysign(np.float32(0.5), v))
    q = np.where(np.isnan(q), -127, q)  # 0*inf: x86 ncnn stores -127
    return np.clip(q, -127, 127).astype(np.int8)


@dataclass
class Int8Plan:
    """What the writer did: quantized layers with their scale term, and fused top scales."""

    terms: dict[str, int]
    top_scales: dict[str, float]
    fp32_layers: list[str]


def _consumers(layers: list[Layer]) -> dict[str, list[Layer]]:
    out: dict[str, list[Layer]] = defaultdict(list)
    for layer in layers:
        for b in layer.bottoms:
            out[b].append(layer)
    return out


def plan(model: NcnnModel, table: Table, fp32_layers: set[str], fuse: bool = True) -> Int8Plan:
    layers = model.param.layers
    quant = {name for name in table.bottom if name not in fp32_layers}
    by_name = {layer.name: layer for layer in layers}
    unknown = fp32_layers - set(by_name)
    if unknown:
        raise ValueError(f"fp32 layer(s) not in the model: {', '.join(sorted(unknown))}")
    terms = {n: (1 if by_name[n].type == "ConvolutionDepthWise" else 2) for n in quant}
    tops: dict[str, float] = {}
    if fuse:
        consumers = _consumers(layers)

        def int8_conv(layer: Layer) -> bool:
            return layer.type in CONV and len(layer.bottoms) == 1 and layer.name in quant

        for layer in layers:
            if layer.name not in quant or layer.type not in CONV:
                continue
            cons = consumers.get(layer.tops[0], [])
            if len(cons) != 1:
                continue
            nxt = cons[0]
            if int8_conv(nxt):
                tops[layer.name] = table.bottom[nxt.name]
            elif nxt.type == "Split" and len(nxt.bottoms) == 1:
                subs = [consumers.get(t, []) for t in nxt.tops]
                if all(s and all(int8_conv(c) for c in s) for s in subs):
                    scales = {table.bottom[c.name] for s in subs for c in s}
                    if len(scales) == 1:  # branches calibrated on the same blob agree; never guess otherwise
                        tops[layer.name] = scales.pop()
        for name in tops:
            terms[name] += 100
    return Int8Plan(terms, tops, sorted(fp32_layers & set(table.bottom)))


def write_int8(model: NcnnModel, table: Table, fp32_layers: set[str], param_out: Path, bin_out: Path,
               fuse: bool = True, other_storage: str = "fp32", oracle: bool = False) -> Int8Plan:
    """Write the quantized model; ``other_storage`` (fp32|fp16) is for weights left in float."""
    p = plan(model, table, fp32_layers, fuse)
    grouped: dict[str, list[Buffer]] = defaultdict(list)
    for buf in model.buffers:
        grouped[buf.layer].append(buf)
    lines, out = [], bytearray()
    for layer in model.param.layers:
        bufs = grouped.get(layer.name, [])
        term = p.terms.get(layer.name)
        if term is None:
            lines.append(layer.line)
            for buf in bufs:
                if buf.storage == "fp32" and other_storage == "fp16":
                    out += tagged_fp16(read_buffer(model.data, buf))
                else:
                    out += model.buffer_bytes(buf)
            continue
        roles = {b.role: b for b in bufs}
        if set(roles) - {"weight", "bias"}:
            raise ValueError(f"layer {layer.name} has unexpected buffers {sorted(roles)}")
        w = read_buffer(model.data, roles["weight"]).astype(np.float32)
        ws = table.weight[layer.name].astype(np.float32)
        n = ws.size
        if w.size % n:
            raise ValueError(f"layer {layer.name}: {w.size} weights do not split into {n} scale groups")
        if oracle:
            out += model.buffer_bytes(roles["weight"])
        else:
            out += tagged_int8(quantize_to_int8(w.reshape(n, -1), ws).ravel())
        if layer.name in table.bias:
            if "bias" not in roles:
                raise ValueError(f"layer {layer.name}: a corrected bias was given but the layer has no bias term")
            b = table.bias[layer.name]
            if b.size != roles["bias"].count:
                raise ValueError(f"layer {layer.name}: corrected bias has {b.size} values, the layer {roles['bias'].count}")
            out += raw_fp32(b)
        elif "bias" in roles:
            out += model.buffer_bytes(roles["bias"])
        out += raw_fp32(ws)
        out += raw_fp32(np.array([table.bottom[layer.name]], np.float32))
        if term > 100:
            out += raw_fp32(np.array([p.top_scales[layer.name]], np.float32))
        lines.append(set_params(layer, k8=str(term)))
    Path(param_out).write_text(param_text(model.param, lines))
    Path(bin_out).write_bytes(bytes(out))
    return p
