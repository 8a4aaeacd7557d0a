"""Checkpoint → fp32 and fp16 ncnn bundles."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploy import export
from deploy.bundle import base_manifest, sha256, write_bundle
from deploy.checkpoint import LoadedCheckpoint
from deploy.ncnnio import NcnnModel, count_blobs, fuse_channel_shuffle, write_fp16

log = logging.getLogger(__name__)


@dataclass
class Converted:
    fp32: Path
    fp16: Path
    onnx: Path
    simplifier: str


def convert(ck: LoadedCheckpoint, out: Path, name: str, input_size: int = 640, keep_onnx: bool = True) -> Converted:
    """Export ``ck`` and write ``out/<name>-fp32`` and ``out/<name>-fp16``.

    fp16 is written by us from the fp32 weights (round-to-nearest-even; pnnx's own fp16 path
    truncates), so both bundles share one graph and differ only in weight storage.
    """
    out.mkdir(parents=True, exist_ok=True)
    source = {"weights": ck.source.name, "weights_sha256": sha256(ck.source), "tools": export.tool_versions(),
              "activation": ck.activation}
    with tempfile.TemporaryDirectory(prefix="deploy-") as tmp_s:
        tmp = Path(tmp_s)
        raw_onnx = export.export_onnx(ck.model, tmp / "raw.onnx", size=input_size)
        onnx_path = out / f"{name}.onnx" if keep_onnx else tmp / "model.onnx"
        simplifier = export.simplify_onnx(raw_onnx, onnx_path)
        log.info("ONNX exported and simplified with %s", simplifier)
        param, binf = tmp / "fp32.param", tmp / "fp32.bin"
        export.pnnx_to_ncnn(onnx_path, param, binf, size=input_size, size2=max(32, input_size // 2), fp16=False)
        lines, fused = fuse_channel_shuffle(NcnnModel.load(param, binf).param)
        param.write_text(f"7767517\n{len(lines)} {count_blobs(lines)}\n" + "\n".join(lines) + "\n")
        log.info("fused %d channel shuffles into ShuffleChannel", fused)
        model = NcnnModel.load(param, binf)
        inputs = [layer.tops[0] for layer in model.param.layers if layer.type == "Input"]
        nl = ck.model.detect.nl
        outputs = [f"out{i}" for i in range(nl)]
        missing = [b for b in outputs if b not in model.param.blobs]
        if len(inputs) != 1 or missing:
            raise export.ExportError(f"unexpected pnnx graph: inputs {inputs}, missing outputs {missing}")
        meta = {"source": {**source, "onnx_opset": export.OPSET, "simplifier": simplifier,
                           "graph_passes": {"channel_shuffle_fused": fused}}}
        m32 = base_manifest(ck, f"{name}-fp32", outputs, inputs[0], input_size)
        fp32_dir = write_bundle(out / f"{name}-fp32", m32, param, binf, meta)
        p16, b16 = tmp / "fp16.param", tmp / "fp16.bin"
        write_fp16(model, p16, b16)
        m16 = base_manifest(ck, f"{name}-fp16", outputs, inputs[0], input_size).with_(precision="fp16")
        fp16_dir = write_bundle(out / f"{name}-fp16", m16, p16, b16, meta)
    return Converted(fp32_dir, fp16_dir, onnx_path, simplifier)
