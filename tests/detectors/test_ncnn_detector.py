"""The real seed models on real photos."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.detectors.ncnn_detector import NcnnDetector
from edgecam.detectors.settings import DetectorSettings
from edgecam.errors import ModelError

IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "images"
EXPECTED = {"person": 0.91, "dog": 0.82, "horse": 0.81}


@pytest.fixture(scope="module")
def horse():
    img = cv2.imread(str(IMAGES / "horse.jpg"))
    assert img is not None
    return img


@pytest.fixture(scope="module")
def fp16():
    return NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=640, threads=2))


def best(dets):
    out = {}
    for d in dets.to_dicts():
        out[d["label"]] = max(out.get(d["label"], 0), d["score"])
    return out


def test_seed_model_finds_person_dog_horse_with_expected_scores(fp16, horse):
    res = fp16.detect(horse, "BGR")
    scores = best(res.detections)
    assert set(scores) == set(EXPECTED)
    for label, want in EXPECTED.items():
        assert abs(scores[label] - want) <= 0.02, (label, scores[label])
    assert (res.width, res.height) == (640, 424)
    boxes = res.detections.boxes
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 2] <= 640) and np.all(boxes[:, 3] <= 424)


def test_int8_model_finds_all_three(horse):
    det = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss-int8", size=640, threads=2))
    assert set(best(det.detect(horse, "BGR").detections)) == set(EXPECTED)


def test_rgb_and_bgr_input_agree(fp16, horse):
    a = fp16.detect(horse, "BGR").detections
    b = fp16.detect(np.ascontiguousarray(horse[:, :, ::-1]), "RGB").detections
    np.testing.assert_allclose(a.boxes, b.boxes, atol=0.5)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)


def test_four_three_frame_runs_at_320x256(horse):
    det = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=320, threads=2))
    frame = cv2.resize(horse, (640, 480))
    mat, lb = det.preprocess(frame, "BGR")
    assert (mat.w, mat.h) == (320, 256)
    assert {"person", "horse"} <= set(best(det.detect(frame, "BGR").detections))


def test_class_filter_keeps_only_requested_labels(horse):
    det = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=640, classes=("dog",), threads=2))
    assert set(best(det.detect(horse, "BGR").detections)) == {"dog"}


def test_unknown_class_filter_is_a_model_error():
    with pytest.raises(ModelError, match="unknown class"):
        NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", classes=("unicorn",)))
