"""Write a bundle directory (CONTRACT §2): ``<name>.param``, ``<name>.bin`` and ``model.json``."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from edgecam.bundles.manifest import HeadSpec, Manifest, manifest_from_dict

from deploy.checkpoint import LoadedCheckpoint

RGB_01 = {"mean": (0.0, 0.0, 0.0), "norm": (1 / 255, 1 / 255, 1 / 255), "pixel": "RGB"}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def base_manifest(ck: LoadedCheckpoint, name: str, output_blobs: list[str], input_blob: str, input_size: int) -> Manifest:
    """The manifest fields shared by every precision: heads (blob/stride/anchors), classes, preprocessing.

    The YOLOv5 training pipeline feeds RGB pixels scaled to [0, 1]: mean 0, norm 1/255, letterbox pad 114.
    """
    heads = tuple(
        HeadSpec(blob, stride, tuple((float(w), float(h)) for w, h in anchors), "chw")
        for blob, stride, anchors in zip(output_blobs, ck.strides, ck.anchors)
    )
    return Manifest(name=name, precision="fp32", param=f"{name}.param", bin=f"{name}.bin", input=input_blob,
                    outputs=heads, input_size=input_size, classes=tuple(ck.names), pad_value=114, **RGB_01)


def write_bundle(out_dir: Path, manifest: Manifest, param_src: Path, bin_src: Path, extra: dict[str, Any] | None = None) -> Path:
    """Copy the model files into ``out_dir`` and write ``model.json`` with their sha256."""
    out_dir.mkdir(parents=True, exist_ok=True)
    param_dst, bin_dst = out_dir / manifest.param, out_dir / manifest.bin
    for src, dst in ((param_src, param_dst), (bin_src, bin_dst)):
        if Path(src).resolve() != dst.resolve():
            shutil.copyfile(src, dst)
    digests = {manifest.param: sha256(param_dst), manifest.bin: sha256(bin_dst)}
    m = manifest.with_(sha256=digests, extra={**manifest.extra, **(extra or {})})
    d = m.to_json()
    manifest_from_dict(json.loads(json.dumps(d)), str(out_dir / "model.json"))  # round-trip validation
    (out_dir / "model.json").write_text(json.dumps(d, indent=2) + "\n")
    return out_dir
