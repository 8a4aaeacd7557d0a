"""The bundle manifest (``model.json``, CONTRACT §2): load, validate, and infer from a ``.param``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgecam.bundles.ncnnfile import ParamFile
from edgecam.errors import ModelError
from edgecam.files import MiB, FileProblem, read_text_file
from edgecam.limits import finite_number, size_problem

MAX_MANIFEST_BYTES = 1 * MiB
LAYOUTS = ("a_hw_c", "chw")  # (3, gh*gw, 5+nc) as the seed's Permute; or raw conv (3*(5+nc), gh, gw)


@dataclass(frozen=True)
class HeadSpec:
    blob: str
    stride: int
    anchors: tuple[tuple[float, float], ...]
    layout: str = "a_hw_c"


@dataclass(frozen=True)
class Manifest:
    name: str
    precision: str
    param: str
    bin: str
    input: str
    outputs: tuple[HeadSpec, ...]
    input_size: int = 640
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    norm: tuple[float, float, float] = (1 / 255, 1 / 255, 1 / 255)
    pixel: str = "RGB"
    classes: tuple[str, ...] = ()
    sha256: dict[str, str] = field(default_factory=dict)
    pad_value: int = 114
    urls: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d["outputs"] = [
            {"blob": h.blob, "stride": h.stride, "anchors": [list(a) for a in h.anchors], "layout": h.layout}
            for h in self.outputs
        ]
        for key in ("mean", "norm", "classes"):
            d[key] = list(d[key])
        if not d["urls"]:
            d.pop("urls")
        d.update(extra)
        return d

    def with_(self, **changes: Any) -> "Manifest":
        return replace(self, **changes)


_KNOWN_KEYS = {f for f in Manifest.__dataclass_fields__} - {"extra"}
_REQUIRED = ("name", "precision", "param", "bin", "input", "outputs", "classes")
_HEX = frozenset("0123456789abcdef")
_STRIDES = (1, 2, 4, 8, 16, 32, 64, 128)


def _fail(source: str, key: str, problem: str) -> ModelError:
    return ModelError(f"{source}: {key} {problem}; fix the manifest (format: CONTRACT §2)")


def _name(d: dict[str, Any], key: str, source: str, file_name: bool = False) -> str:
    v = d[key]
    if not isinstance(v, str) or not v.strip():
        raise _fail(source, key, f"must be a non-empty string, got {v!r}")
    if file_name and (v in (".", "..") or "/" in v or "\\" in v or "\x00" in v):
        raise _fail(source, key, f"must be a file name inside the bundle directory, got {v!r}")
    return v


def _numbers(v: Any, count: int, source: str, key: str) -> tuple[float, ...]:
    if not isinstance(v, list) or len(v) != count or not all(finite_number(x) for x in v):
        raise _fail(source, key, f"must be a list of {count} finite numbers, got {v!r}")
    return tuple(float(x) for x in v)


def _head(o: Any, i: int, source: str) -> HeadSpec:
    key = f"outputs[{i}]"
    if not isinstance(o, dict) or not {"blob", "stride", "anchors"} <= o.keys():
        raise _fail(source, key, "must be an object {blob, stride, anchors: [[w,h],…]}")
    blob = _name(o, "blob", f"{source}: {key}")
    stride = o["stride"]
    if isinstance(stride, bool) or not isinstance(stride, int) or stride not in _STRIDES:
        raise _fail(source, f"{key}.stride", f"must be one of {', '.join(map(str, _STRIDES))}, got {stride!r}")
    anchors = o["anchors"]
    if not isinstance(anchors, list) or not 1 <= len(anchors) <= 16:
        raise _fail(source, f"{key}.anchors", f"must be a list of 1 to 16 [w, h] pairs, got {anchors!r}")
    pairs = tuple(_numbers(a, 2, source, f"{key}.anchors[{j}]") for j, a in enumerate(anchors))
    if any(x <= 0 for pair in pairs for x in pair):
        raise _fail(source, f"{key}.anchors", f"must be positive widths and heights, got {anchors!r}")
    layout = o.get("layout", "a_hw_c")
    if layout not in LAYOUTS:
        raise _fail(source, f"{key}.layout", f"must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    return HeadSpec(blob, stride, pairs, layout)


def _sha256(d: dict[str, Any], files: tuple[str, str], source: str) -> dict[str, str]:
    sha = d.get("sha256")
    if not isinstance(sha, dict):
        raise _fail(source, "sha256", f"must be an object {{file name: 64 hex digits}} pinning {' and '.join(files)}")
    for f in files:
        if f not in sha:
            raise _fail(source, "sha256", f"has no entry for {f}; add its digest (sha256sum {f})")
    for f, digest in sha.items():
        if not isinstance(f, str) or f in ("", ".", "..") or "/" in f or "\\" in f or "\x00" in f:
            raise _fail(source, "sha256", f"keys must be file names inside the bundle directory, got {f!r}")
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest.lower()) <= _HEX:
            raise _fail(source, f"sha256[{f!r}]", f"must be 64 hex digits, got {digest!r}; add its digest (sha256sum {f})")
    return {f: digest.lower() for f, digest in sha.items()}


def manifest_from_dict(d: dict[str, Any], source: str = "model.json") -> Manifest:
    """Validate a manifest dict; every problem is a ModelError naming the key and the fix."""
    if not isinstance(d, dict):
        raise ModelError(f"{source}: the manifest must be a JSON object; see CONTRACT §2 for the manifest format")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise ModelError(f"{source}: missing key(s) {', '.join(missing)}; see CONTRACT §2 for the manifest format")
    if d["precision"] not in ("fp32", "fp16", "int8"):
        raise _fail(source, "precision", f"must be fp32, fp16 or int8, got {d['precision']!r}")
    if d.get("pixel", "RGB") not in ("RGB", "BGR"):
        raise _fail(source, "pixel", f"must be RGB or BGR, got {d.get('pixel')!r}")
    param, bin_ = _name(d, "param", source, True), _name(d, "bin", source, True)
    outs = d["outputs"]
    if not isinstance(outs, list) or not 1 <= len(outs) <= 8:
        raise _fail(source, "outputs", "must be a list of 1 to 8 {blob, stride, anchors}")
    heads = tuple(_head(o, i, source) for i, o in enumerate(outs))
    size = d.get("input_size", 640)
    problem = size_problem(size)
    if problem:
        raise _fail(source, "input_size", problem)
    mean = _numbers(d.get("mean", [0.0, 0.0, 0.0]), 3, source, "mean")
    norm = _numbers(d.get("norm", [1 / 255] * 3), 3, source, "norm")
    if any(x == 0 for x in norm):
        raise _fail(source, "norm", f"must not contain 0 (every pixel would be 0), got {list(norm)}")
    classes = d["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c.strip() for c in classes):
        raise _fail(source, "classes", "must be a non-empty list of label names (non-empty strings)")
    pad = d.get("pad_value", 114)
    if isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad <= 255:
        raise _fail(source, "pad_value", f"must be a whole number from 0 to 255, got {pad!r}")
    urls = d.get("urls", {})
    if not isinstance(urls, dict) or not all(isinstance(u, str) for u in urls.values()):
        raise _fail(source, "urls", "must be an object {file name: URL}")
    return Manifest(
        name=_name(d, "name", source),
        precision=d["precision"],
        param=param,
        bin=bin_,
        input=_name(d, "input", source),
        outputs=heads,
        input_size=size,
        mean=mean,
        norm=norm,
        pixel=d.get("pixel", "RGB"),
        classes=tuple(classes),
        sha256=_sha256(d, (param, bin_), source),
        pad_value=pad,
        urls=dict(urls),
        extra={k: v for k, v in d.items() if k not in _KNOWN_KEYS},
    )


def load_manifest(path: Path) -> Manifest:
    try:
        text = read_text_file(path, "manifest", max_bytes=MAX_MANIFEST_BYTES)
    except FileProblem as exc:
        raise ModelError(str(exc)) from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}:{exc.lineno}: manifest is not valid JSON ({exc.msg}); fix the file") from None
    except RecursionError:
        raise ModelError(f"{path}: manifest is nested too deeply to be a model.json; fix the file") from None
    return manifest_from_dict(d, str(path))


def _strides(param: ParamFile, input_blob: str) -> dict[str, float]:
    """Downsampling factor of every blob relative to the input, traced through the graph."""
    factor: dict[str, float] = {input_blob: 1.0}
    for layer in param.layers:
        ins = [factor[b] for b in layer.bottoms if b in factor]
        f = max(ins) if ins else 1.0
        if layer.type in ("Convolution", "ConvolutionDepthWise", "Pooling"):
            key = 3 if layer.type.startswith("Convolution") else 2
            f *= layer.int(key, 1)
        elif layer.type == "Interp":
            scale = layer.float(1, 1.0) or 1.0  # height_scale
            f /= scale
        for top in layer.tops:
            factor[top] = f
    return factor


def _conv_before_permute(param: ParamFile, permute, defaults: Manifest | None) -> str | None:
    """The conv output behind ``Conv → Reshape(-1, 5+classes, anchors) → Permute(order 1)`` (the seed's
    head): the same numbers in the ``chw`` layout.  None when the chain is anything else."""
    if defaults is None or permute.int(0) != 1 or len(permute.bottoms) != 1:
        return None
    reshape = param.producer(permute.bottoms[0])
    if reshape is None or reshape.type != "Reshape" or len(reshape.bottoms) != 1:
        return None
    no, na = 5 + len(defaults.classes), len(defaults.outputs[0].anchors) if defaults.outputs else 3
    if (reshape.int(0), reshape.int(1), reshape.int(2)) != (-1, no, na):
        return None
    conv_top = reshape.bottoms[0]
    conv = param.producer(conv_top)
    if conv is None or conv.type != "Convolution" or len(param.consumers(conv_top)) != 1:
        return None
    return conv_top


def infer_manifest(param: ParamFile, param_name: str, bin_name: str, defaults: Manifest | None) -> Manifest:
    """Build a manifest for a bare ``.param``: find the three YOLO head outputs and their strides.

    Anchors, classes and preprocessing come from ``defaults`` (the known model whose head matches).
    """
    inputs = [layer for layer in param.layers if layer.type == "Input"]
    if len(inputs) != 1:
        raise ModelError(f"{param_name}: expected exactly one Input layer, found {len(inputs)}; not a YOLOv5-style model")
    input_blob = inputs[0].tops[0]
    consumed = {b for layer in param.layers for b in layer.bottoms}
    terminal = [(layer, top) for layer in param.layers for top in layer.tops if top not in consumed]
    factor = _strides(param, input_blob)
    heads = []
    for layer, blob in terminal:
        if layer.type == "Permute":
            layout = "a_hw_c"
            conv = _conv_before_permute(param, layer, defaults)
            if conv is not None:  # read the conv itself: ncnn then skips the Reshape and Permute
                blob, layout = conv, "chw"
        elif layer.type == "Convolution":
            layout = "chw"
        else:
            continue
        heads.append((factor.get(blob, 0.0), blob, layout))
    heads.sort()
    if len(heads) != 3 or any(s not in (8.0, 16.0, 32.0) for s, _, _ in heads):
        found = ", ".join(f"{b} (stride {s:g})" for s, b, _ in heads) or "none"
        raise ModelError(
            f"{param_name}: not a YOLOv5-style head (need 3 outputs at strides 8/16/32, found {found}); "
            "write a model.json manifest naming the output blobs"
        )
    if defaults is None:
        raise ModelError(f"{param_name}: no manifest and no known-model defaults for anchors/classes; add a <stem>.json manifest")
    anchors = {h.stride: h.anchors for h in defaults.outputs}
    outputs = tuple(HeadSpec(blob, int(s), anchors[int(s)], layout) for s, blob, layout in heads)
    return defaults.with_(
        name=Path(param_name).stem, param=Path(param_name).name, bin=Path(bin_name).name, input=input_blob,
        outputs=outputs, sha256={}, urls={},
        precision="int8" if any(layer.int(8) for layer in param.layers if layer.type.startswith("Conv")) else defaults.precision,
    )
