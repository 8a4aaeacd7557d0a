"""Layer sensitivity: the relative error of the head outputs when only one layer is int8 (label-free).

Ranks layers for the mixed-precision search (:mod:`deploy.search`) and scores each calibration method
per layer for the ``auto`` choice (:mod:`deploy.perlayer`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from deploy.calibrate import QuantLayer, Table
from deploy.int8 import write_int8
from deploy.ncnnio import NcnnModel


def layer_sensitivity(model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], table: Table,
                      images: list[Path], size: int = 640, threads: int | None = None) -> list[tuple[str, float]]:
    """Measured sensitivity: the relative error of the head outputs when *only* that layer is int8.

    Label-free; runs on calibration images.  Largest first.
    """
    import cv2  # noqa: PLC0415

    from deploy.measure import open_detector, open_fp32_net  # noqa: PLC0415

    det = open_detector(fp32_bundle, size, threads, fp16=False)
    m = det.bundle.manifest
    mats: list = []
    out = []
    try:  # the input Mats come from the detector's allocator: keep it open until they are gone
        for p in images:
            img = cv2.imread(str(p))
            if img is not None:
                mats.append(det.preprocess(img, "BGR")[0])
        refs = [[np.array(x, copy=True) for x in det.forward(mat)] for mat in mats]
        with tempfile.TemporaryDirectory(prefix="sens-") as tmp:
            pp, bp = Path(tmp) / "s.param", Path(tmp) / "s.bin"
            for q in layers:
                one = Table(table.method, {q.name: table.weight[q.name]}, {q.name: table.bottom[q.name]})
                write_int8(model, one, set(), pp, bp, fuse=False)
                net = open_fp32_net(pp, bp, threads)
                errs = []
                for mat, ref in zip(mats, refs):
                    ex = net.create_extractor()
                    ex.input(m.input, mat)
                    for h, r in zip(m.outputs, ref):
                        y = np.array(ex.extract(h.blob)[1], copy=True)
                        errs.append(float(np.mean((y - r) ** 2) / max(float(np.mean(r**2)), 1e-12)))
                    del ex
                net.clear()
                out.append((q.name, float(np.mean(errs)) if errs else 0.0))
    finally:
        mats.clear()
        det.close()
    return sorted(out, key=lambda t: -t[1])
