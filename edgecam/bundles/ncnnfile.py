"""Pure-Python reader of ncnn's ``.param`` text and ``.bin`` weight layout.

ncnn itself crashes on some malformed inputs (a truncated ``.bin`` loads with -1 and a later
``extract`` segfaults), so models are validated here before ncnn sees them.  The walker predicts,
from the layer parameters, every buffer each layer reads from the ``.bin`` and must end exactly at
the end of the file.  The deploy pipeline reuses it to read weights.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

from edgecam.errors import ModelError

MAGIC = 7767517

TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_RAW = 0x0002C056
TAG_FP32 = 0


@dataclass(frozen=True)
class Layer:
    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: dict[int, str | list[str]] = field(default_factory=dict)
    line: str = ""

    def int(self, key: int, default: int = 0) -> int:
        v = self.params.get(key)
        if v is None:
            return default
        try:
            if isinstance(v, list):
                raise ValueError("an array")
            return int(float(v))
        except ValueError:
            raise ModelError(
                f"layer {self.name} ({self.type}): parameter {key}={v!r} must be a number; re-export the model"
            ) from None

    def float(self, key: int, default: float = 0.0) -> float:
        v = self.params.get(key)
        if v is None or isinstance(v, list):
            return default
        try:
            return float(v)
        except ValueError:
            raise ModelError(
                f"layer {self.name} ({self.type}): parameter {key}={v!r} must be a number; re-export the model"
            ) from None


@dataclass(frozen=True)
class ParamFile:
    layers: list[Layer]
    blob_count: int

    def by_name(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def producer(self, blob: str) -> Layer | None:
        for layer in self.layers:
            if blob in layer.tops:
                return layer
        return None

    def consumers(self, blob: str) -> list[Layer]:
        return [layer for layer in self.layers if blob in layer.bottoms]

    @property
    def blobs(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer in self.layers:
            for b in layer.tops:
                seen.setdefault(b, None)
        return list(seen)


def _tokens(line: str) -> list[str]:
    """Split on whitespace, keeping ``key="a b"`` string values whole."""
    out: list[str] = []
    cur = ""
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
            cur += ch
        elif ch.isspace() and not quoted:
            if cur:
                out.append(cur)
                cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


_PARAM_IDS = 32  # ncnn's NCNN_MAX_PARAM_COUNT
_INT32 = 2**31


def _param_id(key: int) -> int:
    if not 0 <= key < _PARAM_IDS:
        raise ValueError(f"parameter id {key} is outside 0..{_PARAM_IDS - 1}")
    return key


def _checked_value(key: int, value: str) -> str:
    """``value`` if ncnn reads it as a number (or a quoted string); ValueError naming the key otherwise."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value
    try:
        number = int(value)
        ok = -_INT32 <= number < _INT32
    except ValueError:
        try:
            ok = math.isfinite(float(value))
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(f"parameter {key}={value[:20]!r} is not a finite 32-bit number")
    return value


def parse_param(text: str, source: str = "<param>") -> ParamFile:
    """Parse ncnn ``.param`` text; raises ModelError naming the line on any malformation."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != str(MAGIC):
        raise ModelError(
            f"{source}: not an ncnn .param file (first line must be {MAGIC}); "
            "convert the model with pnnx/onnx2ncnn or use a known model name"
        )
    try:
        layer_count, blob_count = (int(x) for x in lines[1].split())
    except ValueError:
        raise ModelError(f"{source}:2: expected '<layer count> <blob count>', got {lines[1]!r}") from None
    layers: list[Layer] = []
    for lineno, raw in enumerate(lines[2:], start=3):
        tok = _tokens(raw)
        try:
            ltype, name, nb, nt = tok[0], tok[1], int(tok[2]), int(tok[3])
            bottoms = tuple(tok[4 : 4 + nb])
            tops = tuple(tok[4 + nb : 4 + nb + nt])
            if len(bottoms) != nb or len(tops) != nt:
                raise ValueError("blob list shorter than declared")
            params: dict[int, str | list[str]] = {}
            for kv in tok[4 + nb + nt :]:
                k, sep, v = kv.partition("=")
                if not sep:
                    raise ValueError(f"{kv[:40]!r} is not key=value")
                key = int(k)
                if key <= -23300:
                    vals = v.split(",")
                    count = int(vals[0])
                    if not 0 <= count == len(vals) - 1:
                        raise ValueError(f"array parameter {key} declares {count} values but has {len(vals) - 1}")
                    params[_param_id(-(key + 23300))] = [_checked_value(key, x) for x in vals[1:]]
                else:
                    params[_param_id(key)] = _checked_value(key, v)
        except (ValueError, IndexError) as exc:
            raise ModelError(
                f"{source}:{lineno}: malformed layer line ({exc}); re-export the model: {raw.strip()[:80]!r}"
            ) from None
        layer = Layer(ltype, name, bottoms, tops, params, raw)
        _check_no_zero_size(layer, f"{source}:{lineno}")
        layers.append(layer)
    if len(layers) != layer_count:
        raise ModelError(
            f"{source}: header declares {layer_count} layers but the file has {len(layers)}; "
            "the file is truncated or edited — re-export it"
        )
    return ParamFile(layers, blob_count)


# Parameters that size a layer's output: an explicit 0 there is a zero-size (or, for ncnn's Reshape,
# a silently copied) dimension — ncnn runs such a model and its output is garbage, not an error.
_SIZE_KEYS = {
    "Reshape": (0, 1, 2, 11),  # w, h, c, d (-1: inferred; absent: unused)
    "Convolution": (0, 1), "ConvolutionDepthWise": (0, 1), "Deconvolution": (0, 1),
    "DeconvolutionDepthWise": (0, 1), "InnerProduct": (0,),  # num_output, kernel
}


def _check_no_zero_size(layer: Layer, where: str) -> None:
    for key in _SIZE_KEYS.get(layer.type, ()):
        if key in layer.params and layer.int(key, -233) == 0:
            raise ModelError(f"{where}: layer {layer.name} ({layer.type}) has a zero-size dimension ({key}=0); "
                             "the model is broken — re-export it")


@dataclass(frozen=True)
class Buffer:
    layer: str
    role: str  # weight | bias | weight_scales | bottom_scales | top_scales | data
    offset: int  # where the buffer (its tag, if tagged) starts
    data_offset: int  # where its values start
    nbytes: int  # total bytes consumed, padding included
    storage: str  # fp32 | fp16 | int8 | raw (untagged fp32) | codebook
    count: int


def _align4(n: int) -> int:
    return (n + 3) & ~3


class _Walker:
    def __init__(self, data: bytes | memoryview, source: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.source = source
        self.buffers: list[Buffer] = []

    def _need(self, layer: Layer, role: str, nbytes: int) -> None:
        if self.pos + nbytes > len(self.data):
            raise ModelError(
                f"{self.source}: truncated — layer {layer.name} ({layer.type}) needs {nbytes} bytes for its "
                f"{role} at offset {self.pos} but the file has {len(self.data)} bytes; re-download or re-export "
                "the model"
            )

    def raw(self, layer: Layer, role: str, count: int) -> None:
        if count <= 0:
            return
        nbytes = count * 4
        self._need(layer, role, nbytes)
        self.buffers.append(Buffer(layer.name, role, self.pos, self.pos, nbytes, "raw", count))
        self.pos += nbytes

    def tagged(self, layer: Layer, role: str, count: int) -> None:
        if count <= 0:
            raise ModelError(f"{self.source}: layer {layer.name} declares an empty {role}; the .param is corrupt")
        self._need(layer, role, 4)
        (tag,) = struct.unpack_from("<I", self.data, self.pos)
        if tag == TAG_FP16:
            storage, body, skip = "fp16", _align4(count * 2), 0
        elif tag == TAG_INT8:
            storage, body, skip = "int8", _align4(count), 0
        elif tag in (TAG_FP32, TAG_FP32_RAW):
            storage, body, skip = "fp32", count * 4, 0
        else:
            storage, body, skip = "codebook", 256 * 4 + _align4(count), 256 * 4
        self._need(layer, role, 4 + body)
        self.buffers.append(Buffer(layer.name, role, self.pos, self.pos + 4 + skip, 4 + body, storage, count))
        self.pos += 4 + body


def _walk_layer(w: _Walker, layer: Layer) -> None:
    t = layer.type
    if t in ("Convolution", "ConvolutionDepthWise", "Convolution1D", "ConvolutionDepthWise1D",
             "Deconvolution", "DeconvolutionDepthWise", "Deconvolution1D", "DeconvolutionDepthWise1D"):
        dynamic_key = 28 if t.startswith("Deconvolution") else 19
        if layer.int(dynamic_key):
            return
        num_output = layer.int(0)
        w.tagged(layer, "weight", layer.int(6))
        if layer.int(5):
            w.raw(layer, "bias", num_output)
        term = layer.int(8)
        if term and not t.startswith("Deconvolution"):
            depthwise = "DepthWise" in t
            base = term % 100
            if depthwise:
                n_w = layer.int(7, 1) if base == 1 else 1
            else:
                n_w = num_output
            w.raw(layer, "weight_scales", n_w)
            w.raw(layer, "bottom_scales", 1)
            if term > 100:
                w.raw(layer, "top_scales", 1)
    elif t == "InnerProduct":
        num_output = layer.int(0)
        w.tagged(layer, "weight", layer.int(2))
        if layer.int(1):
            w.raw(layer, "bias", num_output)
        if layer.int(8):
            w.raw(layer, "weight_scales", num_output)
            w.raw(layer, "bottom_scales", 1)
    elif t == "BatchNorm":
        for role in ("slope", "mean", "var", "bias"):
            w.raw(layer, role, layer.int(0))
    elif t == "Scale":
        if layer.int(0) != -233:
            w.raw(layer, "scale", layer.int(0))
            if layer.int(1):
                w.raw(layer, "bias", layer.int(0))
    elif t in ("Bias", "PReLU"):
        w.raw(layer, "data", layer.int(0))
    elif t == "MemoryData":
        count = max(layer.int(0), 1) * max(layer.int(1), 1) * max(layer.int(11), 1) * max(layer.int(2), 1)
        if layer.int(21, 1):
            w.raw(layer, "data", count)
        else:
            w.tagged(layer, "data", count)
    elif t in WEIGHTED_UNSUPPORTED:
        raise NotImplementedError(t)


# Layer types that read weights in ways this walker does not model: validation of the .bin size is
# skipped (with a warning by the caller) for models that contain them.
WEIGHTED_UNSUPPORTED = frozenset({
    "Embed", "RNN", "LSTM", "GRU", "Gemm", "MultiHeadAttention", "Convolution3D", "ConvolutionDepthWise3D",
    "Deconvolution3D", "DeconvolutionDepthWise3D", "DeformableConv2D", "LayerNorm", "InstanceNorm",
    "GroupNorm", "Normalize", "RMSNorm", "Padding", "Quantize", "Dequantize", "Requantize",
})


def walk_bin(param: ParamFile, data: bytes | memoryview, source: str = "<bin>") -> list[Buffer]:
    """Predict every buffer the layers read; raises ModelError when ``data`` is too short or too long."""
    w = _Walker(data, source)
    for layer in param.layers:
        _walk_layer(w, layer)
    if w.pos != len(w.data):
        raise ModelError(
            f"{source}: {len(w.data) - w.pos} unexpected trailing bytes after the last layer's weights "
            f"({w.pos} expected, {len(w.data)} found); the .bin does not belong to this .param"
        )
    return w.buffers


def read_buffer(data: bytes | memoryview, buf: Buffer) -> np.ndarray:
    """Decode one buffer: float32 for fp32/fp16/raw, int8 for int8 storage."""
    if buf.storage == "fp16":
        return np.frombuffer(data, np.float16, buf.count, buf.data_offset).astype(np.float32)
    if buf.storage == "int8":
        return np.frombuffer(data, np.int8, buf.count, buf.data_offset).copy()
    if buf.storage in ("fp32", "raw"):
        return np.frombuffer(data, np.float32, buf.count, buf.data_offset).copy()
    if buf.storage == "codebook":
        book = np.frombuffer(data, np.float32, 256, buf.offset + 4)
        idx = np.frombuffer(data, np.uint8, buf.count, buf.data_offset)
        return book[idx]
    raise ValueError(buf.storage)
