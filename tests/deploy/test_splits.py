"""Which images calibrate, select and test (pure, no ncnn)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.splits import holdout_split, plan_splits

from deploy_paths import COCO128


def _labelled(tmp: Path, names: list[str]) -> Path:
    (tmp / "images").mkdir(parents=True)
    (tmp / "labels").mkdir()
    for n in names:
        (tmp / "images" / f"{n}.jpg").write_bytes(b"")
        (tmp / "labels" / f"{n}.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    return tmp


def test_holdout_is_fixed_by_names_whatever_the_order():
    imgs = sorted((COCO128 / "images").glob("*.jpg"))
    t1, r1 = holdout_split(imgs, 40)
    t2, r2 = holdout_split(list(reversed(imgs)), 40)
    assert t1 == t2 and r1 == r2 and len(t1) == 40 and len(r1) == 88
    assert not set(t1) & set(r1)
    assert t1 != sorted(imgs)[:40]  # not simply the first names


def test_cross_fit_layout_on_a_labelled_calibration_folder():
    imgs = sorted((COCO128 / "images").glob("*.jpg"))
    plan = plan_splits(imgs, COCO128 / "images", None, 40)
    assert plan.layout == "cross-fit" and plan.counts() == {"calibrate": 88, "select": 88, "test": 40}
    test = set(plan.test)
    a, b = plan.folds
    for f, other in ((a, b), (b, a)):
        assert not set(f.calibrate) & set(f.score)  # a candidate is never scored on its own calibration images
        assert f.calibrate == other.score
        assert not (set(f.calibrate) | set(f.score)) & test
    assert sorted(a.score + b.score) == sorted(plan.select) == sorted(plan.calibrate)
    assert plan.to_json()["counts"]["test"] == 40


def test_separate_selection_set_with_unlabelled_calibration(tmp_path):
    calib = tmp_path / "photos"
    calib.mkdir()
    photos = [calib / f"p{i}.jpg" for i in range(5)]
    sel = _labelled(tmp_path / "sel", [f"s{i}" for i in range(12)])
    plan = plan_splits(photos, calib, sel, 4)
    assert plan.layout == "separate" and plan.counts() == {"calibrate": 5, "select": 8, "test": 4}
    assert plan.folds[0].calibrate == photos and plan.folds[0].score == plan.select
    assert plan.labels == sel / "labels"


def test_unlabelled_calibration_alone_has_no_selection(tmp_path):
    plan = plan_splits([tmp_path / "a.jpg"], tmp_path, None, 40)
    assert plan.layout == "unlabelled" and not plan.folds and plan.counts() == {"calibrate": 1, "select": 0, "test": 0}


def test_errors(tmp_path):
    sel = _labelled(tmp_path / "sel", ["a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match="shares 1 images"):
        plan_splits([tmp_path / "x" / "a.jpg"], tmp_path / "x", sel, 0)
    with pytest.raises(ValueError, match="smaller --holdout"):
        plan_splits([tmp_path / "z.jpg"], tmp_path, sel, 3)
    with pytest.raises(FileNotFoundError, match="images/ and labels/"):
        plan_splits([], tmp_path, tmp_path / "missing", 0)
    with pytest.raises(ValueError, match="--holdout"):
        holdout_split([], -1)
