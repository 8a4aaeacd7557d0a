"""Fixtures for the deploy pipeline tests: one small end-to-end run shared by the whole package.

The run is deliberately small so ``make test`` stays bounded (≈2 min on 2 cores): 20 labelled
coco128 images — 4 held out as the test split, 16 cross-fitted for the search (calibrate on 8, score
the other 8, and the reverse) and calibrating the shipped int8 — at sizes 256 and 320, methods max
and kl, each with and without bias correction (on 2 images), one sensitivity-extended set
(first+heads+4), 100 bootstrap resamples.  The full 128-image
run at 320 and 640 is ``make models``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_paths import COCO128, WEIGHTS  # noqa: E402  (also puts the repo root on sys.path)


def small_dataset(dst: Path, n: int) -> Path:
    (dst / "images").mkdir(parents=True)
    (dst / "labels").mkdir()
    for img in sorted((COCO128 / "images").glob("*.jpg"))[:n]:
        (dst / "images" / img.name).symlink_to(img)
        lab = COCO128 / "labels" / (img.stem + ".txt")
        if lab.is_file():
            (dst / "labels" / lab.name).symlink_to(lab)
    return dst


@pytest.fixture(scope="package")
def pipeline_run(tmp_path_factory):
    """Run the whole pipeline once (convert, search, int8, report) and share its outputs."""
    pytest.importorskip("torch")
    pytest.importorskip("pnnx")
    from deploy.pipeline import Options, run

    root = tmp_path_factory.mktemp("deploy")
    ds = small_dataset(root / "ds", 20)
    out = root / "out"
    log: list[str] = []
    res = run(Options(weights=WEIGHTS, calib=ds / "images", out=out, size=320, sizes=(256, 320),
                      methods=("max", "kl"), budget=0.02, holdout=4, bootstrap=100, threads=2,
                      parity_sizes=(320, 416, 640), parity_images=2, bench_rounds=2, sensitivity_images=2,
                      extra_steps=(4,), bias_correction="search", bias_images=2), log.append)
    return {"out": out, "result": res, "log": log, "dataset": ds}
