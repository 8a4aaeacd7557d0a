"""mAP against tiny hand-made datasets whose answer is known exactly, and the real seed models."""

import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgecam.domain import Detections
from edgecam.evaluation.coco import evaluate, read_labels
from sharedkit import COCO128

LINE = re.compile(r"^mAP@\.5:\.95=(\d\.\d{4}) mAP@\.5=(\d\.\d{4}) images=(\d+)$")


@pytest.fixture
def tiny(tmp_path):
    """Two 200×100 images; image a: class 0 and class 1; image b: class 0 only; one empty image."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for name in ("a", "b", "c"):
        cv2.imwrite(str(tmp_path / "images" / f"{name}.jpg"), np.full((100, 200, 3), 127, np.uint8))
    (tmp_path / "labels" / "a.txt").write_text("0 0.25 0.5 0.2 0.4\n1 0.75 0.5 0.3 0.6\n")
    (tmp_path / "labels" / "b.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "labels" / "c.txt").write_text("")
    return tmp_path


def truth_detector(dataset, keep_classes=None, shift=0.0):
    """A 'detector' that returns the ground truth of each image (optionally only some classes)."""

    def detect(img, _names=("a", "b", "c"), _state={"i": 0}):
        name = _names[_state["i"]]
        _state["i"] += 1
        h, w = img.shape[:2]
        boxes, ids = read_labels(dataset / "labels" / f"{name}.txt", w, h)
        if keep_classes is not None:
            m = np.isin(ids, keep_classes)
            boxes, ids = boxes[m], ids[m]
        boxes = boxes + np.float32(shift)
        return Detections(boxes, np.full(len(ids), 0.9, np.float32), ids.astype(np.int32))

    return detect


def test_perfect_detections_score_one(tiny):
    r = evaluate(tiny, truth_detector(tiny), num_classes=2)
    assert r.map50_95 == pytest.approx(1.0, abs=1e-6) and r.map50 == pytest.approx(1.0, abs=1e-6)
    assert r.images == 3


def test_missing_class_halves_map(tiny):
    r = evaluate(tiny, truth_detector(tiny, keep_classes=[0]), num_classes=2)
    assert r.map50_95 == pytest.approx(0.5, abs=1e-6)


def test_no_detections_score_zero(tiny):
    r = evaluate(tiny, lambda img: Detections.empty(), num_classes=2)
    assert r.map50_95 == 0.0 and r.map50 == 0.0


def test_label_conversion_to_pixels(tiny):
    boxes, ids = read_labels(tiny / "labels" / "a.txt", 200, 100)
    np.testing.assert_allclose(boxes[0], [30, 30, 70, 70], atol=1e-4)
    assert list(ids) == [0, 1]


def run_eval(model, dataset, size=640):
    proc = subprocess.run(
        [sys.executable, "-m", "edgecam", "eval", "--model", model, "--size", str(size), str(dataset)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    m = LINE.match(last)
    assert m, last
    assert "eval" in proc.stderr  # progress on stderr
    return float(m.group(1)), float(m.group(2)), int(m.group(3))


@pytest.mark.slow  # runs edgecam eval in a subprocess
def test_eval_cli_on_a_small_subset(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for p in sorted((COCO128 / "images").glob("*.jpg"))[:4]:
        shutil.copy(p, tmp_path / "images")
        shutil.copy(COCO128 / "labels" / (p.stem + ".txt"), tmp_path / "labels")
    m, m50, n = run_eval("yolov5ss", tmp_path, 320)
    assert n == 4 and 0 < m <= m50 <= 1


@pytest.mark.slow  # runs edgecam eval in a subprocess
def test_eval_cli_bad_dataset_is_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgecam", "eval", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "images/" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("model,floor", [("yolov5ss", 0.33), ("yolov5ss-int8", 0.26)])
def test_seed_models_map_on_coco128(model, floor):
    m, m50, n = run_eval(model, COCO128, 640)
    assert n == 128
    assert m >= floor, m
