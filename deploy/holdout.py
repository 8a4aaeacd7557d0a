"""The held-out test: every bundle on the test split at every size, Δ vs fp32 with a bootstrap interval.

The test images were used neither to calibrate nor to select (:mod:`deploy.splits`), so this is the
report's only number for how the chosen int8 does on images the pipeline has never seen.  The
interval is a two-sided paired bootstrap (the same resamples for every model), so it says how much
the Δ could move with another draw of images of this kind; it says nothing about other kinds of
images (COCO train2017 photos here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from deploy.bootstrap import MatchSet, bootstrap_maps, paired_interval, resample_weights
from deploy.measure import detect_labelled


def held_out_test(models: dict[str, Path | str], test: list[Path], labels: Path, sizes: tuple[int, ...],
                  threads: int | None, level: float = 0.9, samples: int = 1000,
                  say: Callable[[str], None] = print) -> dict[str, Any]:
    """``{"images", "names", "level", "samples", "sizes": {size: {model: {map50_95, map50, delta?}}}}``.

    ``models`` must contain ``"fp32"``, the reference of every Δ.
    """
    if "fp32" not in models:
        raise ValueError("the held-out test needs the fp32 bundle as its reference")
    weights = resample_weights(len(test), samples, seed=1)
    out: dict[str, Any] = {"images": len(test), "names": [p.name for p in test], "level": level,
                           "samples": samples, "sizes": {}}
    for size in sizes:
        runs = {k: MatchSet(detect_labelled(b, test, labels, size, threads).matches()) for k, b in models.items()}
        boot = {k: bootstrap_maps(ms, weights) for k, ms in runs.items()}
        base = runs["fp32"].coco_map()[0]
        rows: dict[str, dict[str, Any]] = {}
        for k, ms in runs.items():
            m, m50 = ms.coco_map()
            rows[k] = {"map50_95": m, "map50": m50}
            if k != "fp32":
                rows[k]["delta"] = paired_interval(base, boot["fp32"], m, boot[k], level, ms.n).to_json()
        out["sizes"][str(size)] = rows
        say(f"      held-out @{size} ({len(test)} images): " + ", ".join(
            f"{k} {r['map50_95']:.4f}" + (f" (Δ {r['delta']['delta']:+.4f} [{r['delta']['low']:+.4f}, "
                                           f"{r['delta']['high']:+.4f}])" if "delta" in r else "")
            for k, r in rows.items()))
    return out
