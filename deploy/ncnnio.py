"""Writing ncnn ``.param``/``.bin`` files (the reading side is :mod:`edgecam.bundles.ncnnfile`).

Formats (ncnn ``src/modelbin.cpp``, ``tools/modelwriter.h``; see docs/int8 notes in deploy/README.md):
a *tagged* weight buffer is a 4-byte tag followed by the values, padded to a multiple of 4 bytes —
``00 00 00 00`` + fp32, ``47 6B 30 01`` + IEEE fp16, ``38 4B 0D 00`` + int8; biases, scales and other
per-channel data are untagged raw fp32.  Layer lines are copied verbatim and only the keys we change
are replaced, because ncnn accepts keys in any order and re-serialising drops parameters it does not know.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.bundles.ncnnfile import TAG_FP16, TAG_INT8, Buffer, Layer, ParamFile, parse_param, read_buffer, walk_bin


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def tagged_fp32(values: np.ndarray) -> bytes:
    return struct.pack("<I", 0) + np.ascontiguousarray(values, np.float32).tobytes()


def tagged_fp16(values: np.ndarray) -> bytes:
    """fp16 storage, rounded to nearest even (ncnnoptimize's SIMD path; pnnx truncates)."""
    return struct.pack("<I", TAG_FP16) + _pad4(np.asarray(values, np.float32).astype(np.float16).tobytes())


def tagged_int8(values: np.ndarray) -> bytes:
    return struct.pack("<I", TAG_INT8) + _pad4(np.asarray(values, np.int8).tobytes())


def raw_fp32(values: np.ndarray) -> bytes:
    v = np.ascontiguousarray(values, np.float32).copy()
    v[np.abs(v) < 1e-30] = 0.0  # as ncnn's ModelWriter: no denormals in stored scales/biases
    return v.tobytes()


_KEY = re.compile(r"^(-?\d+)=")


def set_params(layer: Layer, **changes: str | None) -> str:
    """The layer's line with keys replaced (``k8="2"``) or removed (``k8=None``); other text verbatim."""
    want = {int(k[1:]): v for k, v in changes.items()}
    toks = layer.line.split()
    nb, nt = int(toks[2]), int(toks[3])
    head, params = toks[: 4 + nb + nt], toks[4 + nb + nt:]
    kept = []
    for tok in params:
        m = _KEY.match(tok)
        key = int(m.group(1)) if m else None
        if key is not None and key in want:
            continue
        kept.append(tok)
    for key, value in want.items():
        if value is not None:
            kept.append(f"{key}={value}")
    return f"{head[0]:<24} {head[1]:<24} " + " ".join(head[2:] + kept)


@dataclass
class NcnnModel:
    """A parsed model: param text structure, raw bin bytes, and the bin walked into buffers."""

    param: ParamFile
    data: bytes
    buffers: list[Buffer]

    @classmethod
    def load(cls, param_path: Path, bin_path: Path) -> "NcnnModel":
        param = parse_param(Path(param_path).read_text(), str(param_path))
        data = Path(bin_path).read_bytes()
        return cls(param, data, walk_bin(param, data, str(bin_path)))

    def layer_buffers(self, name: str) -> dict[str, np.ndarray]:
        return {b.role: read_buffer(self.data, b) for b in self.buffers if b.layer == name}

    def buffer_bytes(self, buf: Buffer) -> bytes:
        return self.data[buf.offset: buf.offset + buf.nbytes]

    def save(self, param_path: Path, bin_path: Path) -> None:
        """Write the model unchanged: its layer lines and its bin bytes."""
        Path(param_path).write_text(param_text(self.param, [layer.line for layer in self.param.layers]))
        Path(bin_path).write_bytes(self.data)


def param_text(param: ParamFile, lines: list[str]) -> str:
    return "7767517\n" + f"{len(lines)} {param.blob_count}\n" + "\n".join(lines) + "\n"


def write_fp16(src: NcnnModel, param_out: Path, bin_out: Path) -> None:
    """Copy a model storing every tagged fp32 weight as fp16 (biases and raw buffers stay fp32)."""
    out = bytearray()
    for buf in src.buffers:
        if buf.storage == "fp32":
            out += tagged_fp16(read_buffer(src.data, buf))
        else:
            out += src.buffer_bytes(buf)
    Path(param_out).write_text(param_text(src.param, [layer.line for layer in src.param.layers]))
    Path(bin_out).write_bytes(bytes(out))


def fuse_channel_shuffle(param: ParamFile) -> tuple[list[str], int]:
    """Rewrite pnnx's dynamic-shape channel shuffle into one ``ShuffleChannel`` layer.

    pnnx turns ``view(b, g, c/g, h, w).transpose(1, 2).view(b, c, h, w)`` with traced sizes into
    ``Split → Reshape(6="0w,0h,c/g,g") → Permute(0=6) → Reshape(6="1w,1h,c,1", 2 inputs)``;
    ncnn's ``ShuffleChannel 0=g`` computes the same permutation in one pass (about 10x faster
    here).  Returns the new layer lines and the number of shuffles fused.
    """
    layers = list(param.layers)
    producer = {t: layer for layer in layers for t in layer.tops}
    consumers: dict[str, list[Layer]] = {}
    for layer in layers:
        for b in layer.bottoms:
            consumers.setdefault(b, []).append(layer)
    drop: set[str] = set()
    replace: dict[str, str] = {}
    fused = 0
    for r2 in layers:
        if r2.type != "Reshape" or len(r2.bottoms) != 2:
            continue
        perm = producer.get(r2.bottoms[0])
        r1 = producer.get(perm.bottoms[0]) if perm is not None and perm.type == "Permute" else None
        split = producer.get(r2.bottoms[1])
        if r1 is None or r1.type != "Reshape" or split is None or split.type != "Split":
            continue
        if perm.params.get(0) != "6" or r1.bottoms[0] not in split.tops or len(split.tops) != 2:
            continue
        e1 = str(r1.params.get(6, "")).strip('"').split(",")
        e2 = str(r2.params.get(6, "")).strip('"').split(",")
        if len(e1) != 4 or len(e2) != 4 or e1[:2] != ["0w", "0h"] or e2[:2] != ["1w", "1h"] or e2[3] != "1":
            continue
        try:
            per_group, groups, channels = int(e1[2]), int(e1[3]), int(e2[2])
        except ValueError:
            continue
        if per_group * groups != channels:
            continue
        if any(len(consumers.get(t, [])) != 1 for t in (*split.tops, *r1.tops, *perm.tops)):
            continue
        x = split.bottoms[0]
        drop.update({split.name, r1.name, perm.name})
        replace[r2.name] = (f"{'ShuffleChannel':<24} {r2.name.replace('Tensor.reshape', 'shufflechannel'):<24} "
                            f"1 1 {x} {r2.tops[0]} 0={groups}")
        fused += 1
    lines = [replace.get(layer.name, layer.line) for layer in layers if layer.name not in drop]
    return lines, fused


def count_blobs(lines: list[str]) -> int:
    blobs: set[str] = set()
    for line in lines:
        toks = line.split()
        nb, nt = int(toks[2]), int(toks[3])
        blobs.update(toks[4 + nb: 4 + nb + nt])
    return len(blobs)
