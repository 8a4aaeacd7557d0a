"""Which images calibrate, which select, and which are held out as the test split.

* **Calibration** needs no labels: any folder of photos (``--calib``).
* **Selection** (the mixed-precision search) needs labelled images it never calibrated on.
* **Test**: a fixed part of the labelled images that neither calibration nor selection ever sees;
  the report's held-out Δ(int8 − fp32) is measured there and nowhere else.

Two layouts:

1. ``--calib X/images`` with ``X/labels`` beside it and no ``--select``: the labelled set is X.
   ``holdout`` images go to the test split; the rest (R) both calibrate and select by
   **cross-fitting**: fold A calibrates on R's even images and scores the odd ones, fold B the
   reverse, so every image of R is scored by a candidate that was not calibrated on it.  The shipped
   int8 is calibrated on all of R.
2. ``--select DATASET``: calibration uses all of ``--calib`` (labels unused); ``holdout`` images of
   DATASET are the test split and the rest select (one fold).  The two must not share file names.

The test split is the ``holdout`` images whose names have the smallest SHA-1 — fixed for a given
dataset whatever the directory order, and unrelated to the names' sort order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.sources.images import image_files


@dataclass(frozen=True)
class SelectFold:
    """Calibrate on ``calibrate``, score the candidates on ``score`` (disjoint)."""

    name: str
    calibrate: list[Path]
    score: list[Path]


@dataclass
class SplitPlan:
    calibrate: list[Path]  # the shipped int8's calibration images
    labels: Path | None  # labels directory of the selection/test images
    select: list[Path] = field(default_factory=list)  # all images the search scores (union of the folds' score lists)
    test: list[Path] = field(default_factory=list)
    folds: list[SelectFold] = field(default_factory=list)
    layout: str = "unlabelled"  # cross-fit | separate | unlabelled

    def counts(self) -> dict[str, int]:
        return {"calibrate": len(self.calibrate), "select": len(self.select), "test": len(self.test)}

    def to_json(self) -> dict:
        return {"layout": self.layout, "counts": self.counts(), "labels": str(self.labels) if self.labels else None,
                "test": [p.name for p in self.test],
                "folds": {f.name: {"calibrate": [p.name for p in f.calibrate], "score": [p.name for p in f.score]}
                          for f in self.folds}}


def holdout_split(images: list[Path], n: int) -> tuple[list[Path], list[Path]]:
    """(test, rest): the ``n`` images with the smallest SHA-1 of their file name, then the others (sorted)."""
    if n < 0:
        raise ValueError(f"--holdout must be ≥ 0 (got {n})")
    ranked = sorted(images, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
    test = sorted(ranked[:n], key=lambda p: p.name)
    rest = sorted(ranked[n:], key=lambda p: p.name)
    return test, rest


def labelled_dataset(images_dir: Path) -> Path | None:
    """``X/images`` with a sibling ``X/labels`` → ``X`` (a dataset edgecam eval understands)."""
    root = images_dir.resolve().parent
    return root if images_dir.name == "images" and (root / "labels").is_dir() else None


def plan_splits(calib_images: list[Path], calib_dir: Path, select: Path | None, holdout: int,
                min_select: int = 4) -> SplitPlan:
    if select is not None:
        if not (select / "images").is_dir() or not (select / "labels").is_dir():
            raise FileNotFoundError(f"{select}: a selection set needs images/ and labels/ (YOLO txt)")
        labelled = image_files(select / "images")
        overlap = {p.name for p in calib_images} & {p.name for p in labelled}
        if overlap:
            raise ValueError(f"--select shares {len(overlap)} images with --calib; use disjoint folders")
        test, rest = holdout_split(labelled, holdout)
        if len(rest) < min_select:
            raise ValueError(f"{select}: {len(rest)} selection images left after holding out {len(test)}; "
                             f"give at least {min_select + len(test)} labelled images or a smaller --holdout")
        return SplitPlan(list(calib_images), select / "labels", rest, test,
                         [SelectFold("S", list(calib_images), rest)], "separate")
    root = labelled_dataset(calib_dir)
    if root is None:
        return SplitPlan(list(calib_images), None)
    test, rest = holdout_split(calib_images, holdout)
    if len(rest) < max(min_select, 4):
        raise ValueError(f"{calib_dir}: {len(rest)} images left after holding out {len(test)} are too few to "
                         "cross-validate the int8 search; use a smaller --holdout, or pass --method and --fp32-layers")
    folds = [SelectFold("A", rest[0::2], rest[1::2]), SelectFold("B", rest[1::2], rest[0::2])]
    return SplitPlan(rest, root / "labels", rest, test, folds, "cross-fit")
