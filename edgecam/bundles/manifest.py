"""The bundle manifest (``model.json``, CONTRACT §2): load, validate, and infer from a ``.param``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgecam.bundles.ncnnfile import ParamFile
from edgecam.errors import ModelError

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


def manifest_from_dict(d: dict[str, Any], source: str = "model.json") -> Manifest:
    """Validate a manifest dict; every problem is a ModelError naming the key and the fix."""
    if not isinstance(d, dict):
        raise ModelError(f"{source}: the manifest must be a JSON object")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise ModelError(f"{source}: missing key(s) {', '.join(missing)}; see CONTRACT §2 for the manifest format")
    if d["precision"] not in ("fp32", "fp16", "int8"):
        raise ModelError(f"{source}: precision must be fp32, fp16 or int8, got {d['precision']!r}")
    if d.get("pixel", "RGB") not in ("RGB", "BGR"):
        raise ModelError(f"{source}: pixel must be RGB or BGR, got {d.get('pixel')!r}")
    heads = []
    outs = d["outputs"]
    if not isinstance(outs, list) or not outs:
        raise ModelError(f"{source}: outputs must be a non-empty list of {{blob, stride, anchors}}")
    for i, o in enumerate(outs):
        try:
            anchors = tuple((float(a[0]), float(a[1])) for a in o["anchors"])
            head = HeadSpec(str(o["blob"]), int(o["stride"]), anchors, str(o.get("layout", "a_hw_c")))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"{source}: outputs[{i}] is malformed ({exc}); expected {{blob, stride, anchors: [[w,h],…]}}") from None
        if head.layout not in LAYOUTS:
            raise ModelError(f"{source}: outputs[{i}].layout must be one of {LAYOUTS}, got {head.layout!r}")
        if head.stride <= 0 or not head.anchors:
            raise ModelError(f"{source}: outputs[{i}] needs a positive stride and at least one anchor")
        heads.append(head)
    for key in ("mean", "norm"):
        v = d.get(key)
        if v is not None and (not isinstance(v, list) or len(v) != 3):
            raise ModelError(f"{source}: {key} must be a list of 3 numbers")
    classes = d["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ModelError(f"{source}: classes must be a non-empty list of label names")
    return Manifest(
        name=str(d["name"]),
        precision=d["precision"],
        param=str(d["param"]),
        bin=str(d["bin"]),
        input=str(d["input"]),
        outputs=tuple(heads),
        input_size=int(d.get("input_size", 640)),
        mean=tuple(float(x) for x in d.get("mean", (0.0, 0.0, 0.0))),
        norm=tuple(float(x) for x in d.get("norm", (1 / 255,) * 3)),
        pixel=d.get("pixel", "RGB"),
        classes=tuple(classes),
        sha256=dict(d.get("sha256", {})),
        pad_value=int(d.get("pad_value", 114)),
        urls=dict(d.get("urls", {})),
        extra={k: v for k, v in d.items() if k not in _KNOWN_KEYS},
    )


def load_manifest(path: Path) -> Manifest:
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path}: manifest not found; a bundle directory needs a model.json") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}:{exc.lineno}: manifest is not valid JSON ({exc.msg})") from None
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
