"""Raw-output parity: the ncnn bundle vs the PyTorch model on the same preprocessed input.

The input tensor is produced by the bundle's own detector preprocessing (edgecam's letterbox with
ncnn's resize), then fed unchanged to both engines, so only the network is compared.  ncnn runs
with fp16 storage/arithmetic off: the number measures the conversion, not the runtime's fp16 mode.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from deploy.measure import open_detector
from deploy.yolo import Model


def max_abs_diff(model: Model, bundle: Path, images: list[Path], sizes: tuple[int, ...] = (320, 416, 640),
                 threads: int | None = None) -> dict[str, float]:
    """``{size: max |Δ| over every output element of every image}`` plus ``"max"`` overall."""
    out: dict[str, float] = {}
    for size in sizes:
        det = open_detector(bundle, size, threads, fp16=False)
        worst = 0.0
        try:
            for path in images:
                img = cv2.imread(str(path))
                if img is None:
                    raise FileNotFoundError(f"{path}: cannot read the image")
                mat, _ = det.preprocess(img, "BGR")
                arr = np.array(mat, copy=True)  # (3, H, W) float32 — the exact network input
                ys = det.forward(mat)
                with torch.no_grad():
                    ref = model(torch.from_numpy(arr)[None])
                for r, y in zip(ref, ys):
                    r = r[0].numpy()
                    if r.shape != y.shape:
                        raise AssertionError(f"output shape {y.shape} != PyTorch {r.shape} at size {size}")
                    worst = max(worst, float(np.abs(r - y).max()))
        finally:
            det.close()
        out[str(size)] = worst
    out["max"] = max(out.values())
    return out
