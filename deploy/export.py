"""PyTorch → ONNX (opset ≥ 12, dynamic H/W) → onnxslim/onnxsim → pnnx → ncnn fp32.

pnnx is called through the executable its pip wheel bundles (located without importing the package,
which would import torch a second time).  pnnx traces both ``inputshape`` and ``inputshape2``, so
size-dependent reshapes become ncnn expressions and one model runs at any multiple-of-32 size.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from deploy.yolo import Model

log = logging.getLogger(__name__)

OPSET = 13
INPUT_NAME = "images"


class ExportError(RuntimeError):
    pass


def export_onnx(model: Model, path: Path, size: int = 640, opset: int = OPSET) -> Path:
    """Export with dynamic height/width; outputs ``out0..`` are the raw head maps (N, na*no, h, w)."""
    if opset < 12:
        raise ValueError("opset must be >= 12")
    nl = model.detect.nl
    outputs = [f"out{i}" for i in range(nl)]
    dynamic = {INPUT_NAME: {2: "height", 3: "width"}}
    dynamic.update({o: {2: f"h{i}", 3: f"w{i}"} for i, o in enumerate(outputs)})
    x = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                          output_names=outputs, dynamic_axes=dynamic, do_constant_folding=True)
    return path


def simplify_onnx(src: Path, dst: Path) -> str:
    """onnxslim if installed, else onnxsim; returns the tool used."""
    import onnx  # noqa: PLC0415

    model = onnx.load(str(src))
    try:
        import onnxslim  # noqa: PLC0415

        slim = onnxslim.slim(model)
        onnx.save(slim, str(dst))
        return f"onnxslim {getattr(onnxslim, '__version__', '?')}"
    except ImportError:
        pass
    try:
        import onnxsim  # noqa: PLC0415
    except ImportError as exc:
        raise ExportError("install onnxslim (or onnxsim): pip install -r deploy/requirements.txt") from exc
    simp, ok = onnxsim.simplify(model)
    if not ok:
        raise ExportError("onnxsim could not validate the simplified model")
    onnx.save(simp, str(dst))
    return f"onnxsim {getattr(onnxsim, '__version__', '?')}"


def pnnx_executable() -> Path:
    spec = importlib.util.find_spec("pnnx")
    if spec is None or not spec.submodule_search_locations:
        raise ExportError("pnnx is not installed: pip install -r deploy/requirements.txt")
    exe = Path(list(spec.submodule_search_locations)[0]) / "pnnx"
    if not exe.is_file():
        raise ExportError(f"the pnnx wheel has no bundled executable at {exe}")
    return exe


def pnnx_to_ncnn(onnx_path: Path, param_out: Path, bin_out: Path, size: int = 640, size2: int = 320,
                 fp16: bool = False) -> str:
    """Run pnnx on the ONNX file in a scratch dir; returns pnnx's log."""
    exe = pnnx_executable()
    with tempfile.TemporaryDirectory(prefix="pnnx-") as tmp:
        src = Path(tmp) / "model.onnx"
        shutil.copyfile(onnx_path, src)
        cmd = [str(exe), str(src), f"inputshape=[1,3,{size},{size}]", f"inputshape2=[1,3,{size2},{size2}]",
               f"fp16={int(fp16)}"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600)
        param, binf = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        if proc.returncode != 0 or not param.is_file() or not binf.is_file():
            raise ExportError(f"pnnx failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        shutil.copyfile(param, param_out)
        shutil.copyfile(binf, bin_out)
        return proc.stdout + proc.stderr


def tool_versions() -> dict[str, str]:
    from importlib import metadata  # noqa: PLC0415

    out = {}
    for dist in ("torch", "onnx", "onnxslim", "onnxsim", "pnnx", "ncnn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out
