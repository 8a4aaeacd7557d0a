"""Fast COCO mAP from per-image matches: against pycocotools on real detections, and the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.bootstrap import MatchSet, bootstrap_maps, match_image, paired_interval, resample_weights
from deploy.measure import LabelledRun, detect_labelled

from deploy_paths import COCO128


@pytest.fixture(scope="module")
def seed_runs():
    """The seed's fp16-stored and int8 models on 16 coco128 images at 320 (real ncnn, real labels)."""
    images = sorted((COCO128 / "images").glob("*.jpg"))[:16]
    return {m: detect_labelled(m, images, COCO128 / "labels", 320, 2) for m in ("yolov5ss", "yolov5ss-int8")}


@pytest.mark.parametrize("model", ["yolov5ss", "yolov5ss-int8"])
def test_matches_reproduce_pycocotools(seed_runs, model):
    run = seed_runs[model]
    expected = run.pycocotools_map()
    got = MatchSet(run.matches()).coco_map()
    assert got == pytest.approx((expected["map50_95"], expected["map50"]), abs=1e-12)


def test_integer_weights_equal_pycocotools_on_the_resampled_dataset(seed_runs):
    """Weight k on an image == that image k times in the dataset (what a bootstrap resample is)."""
    run = seed_runs["yolov5ss"]
    w = resample_weights(len(run.truths), 1, seed=3)[0]
    assert w.sum() == len(run.truths) and (w == 0).any() and (w > 1).any()
    truths, preds = [], {}
    for gt, k in zip(run.truths, w.astype(int)):
        for _ in range(k):
            new_id = len(truths) + 1
            truths.append(type(gt)(new_id, gt.path, gt.width, gt.height, gt.boxes, gt.class_ids))
            preds[new_id] = run.predictions[gt.image_id]
    dup = LabelledRun([t.path.name for t in truths], truths, preds, run.num_classes).pycocotools_map()
    got = MatchSet(run.matches()).coco_map(w)
    assert got == pytest.approx((dup["map50_95"], dup["map50"]), abs=1e-9)


def test_paired_bootstrap_of_a_model_against_itself_is_exactly_zero(seed_runs):
    ms = MatchSet(seed_runs["yolov5ss"].matches())
    w = resample_weights(ms.n, 50)
    s = bootstrap_maps(ms, w)
    iv = paired_interval(ms.coco_map()[0], s, ms.coco_map()[0], s, 0.9, ms.n)
    assert (iv.delta, iv.low, iv.high, iv.lcb) == (0.0, 0.0, 0.0, 0.0)
    assert s.std() > 0  # the resamples do move the mAP itself


def test_seed_int8_interval_brackets_its_delta_and_is_ordered(seed_runs):
    a, b = MatchSet(seed_runs["yolov5ss"].matches()), MatchSet(seed_runs["yolov5ss-int8"].matches())
    w = resample_weights(a.n, 200)
    iv = paired_interval(a.coco_map()[0], bootstrap_maps(a, w), b.coco_map()[0], bootstrap_maps(b, w), 0.9, a.n)
    assert iv.low <= iv.lcb <= iv.high and iv.low < iv.high
    assert iv.delta == pytest.approx(b.coco_map()[0] - a.coco_map()[0])
    assert iv.samples == 200 and iv.images == 16


def test_match_image_greedy_by_score_at_each_threshold():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    dets = np.array([[0, 0, 10, 9], [0, 0, 10, 10], [20, 20, 30, 26]], np.float32)  # IoU 0.9, 1.0, 0.6
    scores = np.array([0.9, 0.8, 0.7])
    m = match_image(gt, np.array([0, 0]), dets, scores, np.array([0, 0, 0]), 3)
    # the higher-scored det takes GT 0 up to IoU 0.9; the exact one only gets it above 0.9
    assert m.tp[0].tolist() == [t <= 0.9 + 1e-9 for t in np.linspace(0.5, 0.95, 10)]
    assert m.tp[1].tolist() == [t > 0.9 + 1e-9 for t in np.linspace(0.5, 0.95, 10)]
    assert m.tp[2].tolist() == [t <= 0.6 + 1e-9 for t in np.linspace(0.5, 0.95, 10)]
    assert m.gt_counts.tolist() == [2, 0, 0]


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(ValueError, match="no images"):
        MatchSet([])
    with pytest.raises(ValueError, match="level"):
        paired_interval(0.0, np.zeros(3), 0.0, np.zeros(3), 1.5, 3)
