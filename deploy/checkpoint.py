"""Load a YOLOv5-style ``.pt`` checkpoint without the upstream repository, treating it as untrusted input.

The file is a torch zip archive whose ``data.pkl`` pickles a whole model object (classes
``models.yolo.Model``, ``models.common.Conv`` …).  :class:`RestrictedUnpickler` resolves only an
explicit allow-list of globals — the expected class names, mapped to **our** classes in
:mod:`deploy.yolo`, a handful of torch.nn modules, and our own tensor rebuilders — and refuses
anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen`` …) with :class:`UnsafeCheckpointError`.

Nothing of the unpickled object is ever *run*: no method or hook of it is called.  Its tensors are
read directly from the ``_parameters``/``_buffers`` dicts with type checks, and the network is rebuilt
from the checkpoint's ``yaml`` with our definitions, then loaded with ``strict=True``.
"""

from __future__ import annotations

import io
import logging
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deploy import yolo

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """The checkpoint cannot be used (malformed, unsupported architecture, weights do not fit)."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle references a global outside the allow-list (a checkpoint is untrusted input)."""


_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


def _rebuild_tensor_v2(storage: torch.Tensor, offset: int, size: tuple, stride: tuple,
                       requires_grad: bool = False, backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise UnsafeCheckpointError("tensor rebuilt from something that is not a storage")
    return torch.as_strided(storage, tuple(size), tuple(stride), int(offset)).clone()


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool = False, backward_hooks: Any = None) -> nn.Parameter:
    if not isinstance(data, torch.Tensor):
        raise UnsafeCheckpointError("parameter rebuilt from something that is not a tensor")
    return nn.Parameter(data, requires_grad=False)


def _codecs_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # protocol-2 pickles encode bytes (e.g. numpy buffers) as codecs.encode(latin-1 str)
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return obj.encode("latin1")


def _np_reconstruct(*args: Any) -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # type: ignore[attr-defined]  # noqa: PLC0415
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[attr-defined,no-redef]  # noqa: PLC0415
    return _reconstruct(*args)


_NN = {
    name: getattr(nn, name)
    for name in ("Conv2d", "BatchNorm2d", "MaxPool2d", "Upsample", "Sequential", "ModuleList", "Identity",
                 *yolo.ACTIVATIONS)
}
_NN_MODULES = {
    "torch.nn.modules.conv", "torch.nn.modules.batchnorm", "torch.nn.modules.pooling",
    "torch.nn.modules.upsampling", "torch.nn.modules.container", "torch.nn.modules.activation",
    "torch.nn.modules.linear",
}
_UPSTREAM = {
    ("models.yolo", "Model"): yolo.Model,
    ("models.yolo", "Detect"): yolo.Detect,
    **{("models.common", n): getattr(yolo, n)
       for n in ("Conv", "C3", "Bottleneck", "Concat", "Focus", "SPPF", "Shuffle_Block", "conv_bn_relu_maxpool")},
}
_PLAIN = {
    ("collections", "OrderedDict"): dict,
    ("builtins", "set"): set, ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy.core.multiarray", "scalar"): None,  # resolved lazily below
    ("numpy._core.multiarray", "scalar"): None,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


def _np_scalar(dtype: np.dtype, data: bytes) -> Any:
    if not isinstance(dtype, np.dtype) or not isinstance(data, bytes):
        raise UnsafeCheckpointError("numpy scalar from unexpected arguments")
    return np.frombuffer(data, dtype, 1)[0]


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals; storages come from the archive's ``data/`` records."""

    def __init__(self, file: io.BufferedIOBase, records: dict[str, bytes]) -> None:
        super().__init__(file)
        self._records = records

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _UPSTREAM:
            return _UPSTREAM[key]
        if key in _PLAIN:
            value = _PLAIN[key]
            return _np_scalar if value is None else value
        if module == "torch" and name in _DTYPES:
            return _StorageType(_DTYPES[name])
        if module in _NN_MODULES and name in _NN:
            return _NN[name]
        raise UnsafeCheckpointError(
            f"refusing to load: the checkpoint references {module}.{name}, which is not an expected model "
            "class (a checkpoint is untrusted input; only YOLOv5-Lite model objects are accepted)"
        )

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UnsafeCheckpointError(f"unexpected persistent id in checkpoint: {str(pid)[:80]}")
        _, stype, key, _location, numel = pid
        raw = self._records.get(str(key))
        if raw is None:
            raise CheckpointError(f"checkpoint storage {key!r} is missing from the archive")
        itemsize = torch.empty((), dtype=stype.dtype).element_size()
        if len(raw) < int(numel) * itemsize:
            raise CheckpointError(f"checkpoint storage {key!r} is truncated")
        if stype.dtype == torch.bfloat16:
            return torch.frombuffer(bytearray(raw[: numel * 2]), dtype=torch.int16).view(torch.bfloat16)
        return torch.frombuffer(bytearray(raw[: numel * itemsize]), dtype=stype.dtype)


def restricted_load(path: Path | str) -> Any:
    """Unpickle a torch zip checkpoint with :class:`RestrictedUnpickler`."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        # a legacy or bare pickle: still parsed with the same restrictions (never with plain pickle)
        with path.open("rb") as fh:
            return RestrictedUnpickler(fh, {}).load()  # type: ignore[arg-type]
    with zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise CheckpointError(f"{path}: not a torch checkpoint (no single data.pkl in the archive)")
        root = pkl[0][: -len("data.pkl")]
        records = {n[len(root) + len("data/"):]: zf.read(n) for n in names if n.startswith(root + "data/")}
        return RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), records).load()


@dataclass
class LoadedCheckpoint:
    model: yolo.Model  # rebuilt from the yaml with our classes, fp32, eval mode
    names: list[str]
    strides: list[int]
    anchors: list[list[list[float]]]  # per level, [[w, h] x na] in input pixels
    yaml: dict[str, Any]
    activation: str
    source: Path
    extra: dict[str, Any] = field(default_factory=dict)


def _plain(obj: Any, where: str, depth: int = 0) -> Any:
    """Accept only plain data (for the yaml): dict/list of str/int/float/bool/None."""
    if depth > 20:
        raise CheckpointError(f"{where} is nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [_plain(x, where, depth + 1) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _plain(v, where, depth + 1) for k, v in obj.items()}
    raise CheckpointError(f"{where} holds a {type(obj).__name__}, expected plain data")


def _children(obj: nn.Module) -> dict[str, Any]:
    return obj.__dict__.get("_modules") or {}


def _walk(obj: Any, prefix: str, tensors: dict[str, torch.Tensor], kinds: dict[str, Any]) -> None:
    """Collect parameters/buffers of an unpickled module tree without calling any of its methods."""
    if not isinstance(obj, nn.Module):
        raise CheckpointError(f"checkpoint module {prefix or '<root>'} is a {type(obj).__name__}, not a module")
    kinds[prefix] = obj
    d = obj.__dict__
    for store in ("_parameters", "_buffers"):
        for k, v in (d.get(store) or {}).items():
            if v is None:
                continue
            if not isinstance(v, torch.Tensor):
                raise CheckpointError(f"checkpoint {prefix}{k} is a {type(v).__name__}, expected a tensor")
            tensors[prefix + k] = v.detach()
    for k, child in _children(obj).items():
        if child is not None:
            _walk(child, f"{prefix}{k}.", tensors, kinds)


def load_checkpoint(path: Path | str) -> LoadedCheckpoint:
    """Restricted-unpickle ``path`` and rebuild the network with our classes (fp32, eval mode)."""
    path = Path(path)
    ckpt = restricted_load(path)
    if isinstance(ckpt, dict):
        src = ckpt.get("ema") or ckpt.get("model")
    else:
        src = ckpt
    if not isinstance(src, yolo.Model):
        raise CheckpointError(f"{path}: expected a YOLOv5-style model object under 'model'/'ema', found {type(src).__name__}")
    d = src.__dict__
    cfg = _plain(d.get("yaml"), "checkpoint yaml")
    if not isinstance(cfg, dict) or not {"nc", "anchors", "backbone", "head"} <= cfg.keys():
        raise CheckpointError(f"{path}: the model's yaml attribute is missing or incomplete (need nc, anchors, backbone, head)")
    cfg.setdefault("depth_multiple", 1.0)
    cfg.setdefault("width_multiple", 1.0)

    tensors: dict[str, torch.Tensor] = {}
    kinds: dict[str, Any] = {}
    _walk(src, "", tensors, kinds)
    acts = sorted({type(m).__name__ for m in kinds.values() if type(m) in yolo.ACTIVATIONS.values()})
    if len(acts) != 1:
        raise CheckpointError(f"{path}: expected one activation type in the model, found {acts or 'none'}")
    act = yolo.ACTIVATIONS[acts[0]]

    try:
        model = yolo.Model(cfg, act=act)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise CheckpointError(f"{path}: cannot build the architecture from its yaml: {exc}") from None
    ours = dict(model.named_modules())
    for name, theirs in kinds.items():
        mine = ours.get(name.rstrip("."))
        if mine is None or type(mine).__name__ != type(theirs).__name__:
            raise CheckpointError(
                f"{path}: module {name.rstrip('.') or '<root>'} is {type(theirs).__name__} in the checkpoint but "
                f"{type(mine).__name__ if mine is not None else 'absent'} in the model built from its yaml"
            )
        if isinstance(mine, nn.BatchNorm2d):
            eps = theirs.__dict__.get("eps", 1e-5)
            if not isinstance(eps, float) or not 0 < eps < 1:
                raise CheckpointError(f"{path}: BatchNorm {name} has an invalid eps {eps!r}")
            mine.eps = eps
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the architecture in its yaml: {exc}") from None
    model.float().eval()

    stride_t = d.get("stride")
    if not isinstance(stride_t, torch.Tensor):
        raise CheckpointError(f"{path}: the model has no stride tensor")
    strides = [int(s) for s in stride_t.tolist()]
    head = model.detect
    if len(strides) != head.nl:
        raise CheckpointError(f"{path}: {len(strides)} strides for {head.nl} detection levels")
    anchors_px = (head.anchors * stride_t.view(-1, 1, 1).float()).tolist()
    yaml_anchors = np.asarray(cfg["anchors"], dtype=np.float64).reshape(head.nl, -1, 2)
    if not np.allclose(yaml_anchors, anchors_px, atol=0.5):
        log.warning("checkpoint anchors %s differ from its yaml %s (autoanchor?); using the checkpoint's", anchors_px,
                    yaml_anchors.tolist())
    names = d.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) != int(cfg["nc"]):
        raise CheckpointError(f"{path}: class names missing or not {cfg['nc']} strings")
    model.names = list(names)
    model.stride = stride_t.float()
    head.stride = stride_t.float()
    extra = {k: ckpt[k] for k in ("epoch",) if isinstance(ckpt, dict) and isinstance(ckpt.get(k), int)}
    return LoadedCheckpoint(model, list(names), strides, [[[round(v, 4) for v in a] for a in lvl] for lvl in anchors_px],
                            cfg, acts[0], path, extra)
