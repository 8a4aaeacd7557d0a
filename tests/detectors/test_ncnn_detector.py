"""The real seed models on real photos."""

import cv2
import numpy as np
import pytest

from edgecam.detectors.ncnn_detector import NcnnDetector
from edgecam.detectors.settings import DetectorSettings
from edgecam.errors import ModelError
from sharedkit import MODELS, REPO

EXPECTED = {"person": 0.91, "dog": 0.82, "horse": 0.81}


def best(dets):
    out = {}
    for d in dets.to_dicts():
        out[d["label"]] = max(out.get(d["label"], 0), d["score"])
    return out


def test_seed_model_finds_person_dog_horse_with_expected_scores(detector, horse):
    res = detector.detect(horse, "BGR")
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


def test_rgb_and_bgr_input_agree(detector, horse):
    a = detector.detect(horse, "BGR").detections
    b = detector.detect(np.ascontiguousarray(horse[:, :, ::-1]), "RGB").detections
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


def test_yuv_camera_frame_detects_like_its_rgb_image(horse):
    """The camera path scales the YUV planes before converting (``preprocess_frame``); detections match
    those of the full-size RGB image letterboxed the usual way: same objects, boxes within 2 px, scores
    within 0.03 (colour is resampled at half resolution, so not bit-identical)."""
    from edgecam.evaluation.yuv_replay import i420_buffer
    from edgecam.sources.yuv import YuvFrame

    det = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=320, threads=2))
    frame = YuvFrame(i420_buffer(horse, 640, 360, 704), 640, 0, 0.0)
    mat, lb = det.preprocess_frame(frame)
    assert (lb.input_w, lb.input_h, lb.src_w, lb.src_h) == (320, 192, 640, 360)
    got = det.postprocess(det.forward(mat), lb, 0.2)
    want = det.detect(frame.image, "RGB", conf=0.2).detections

    def confident_match(a, b) -> int:
        """Every detection of ``a`` above 0.5 has one in ``b`` (same class, boxes within 2 px, score ± 0.03)."""
        n = 0
        for box, score, cls in zip(a.boxes, a.scores, a.class_ids):
            if score < 0.5:
                continue
            near = (b.class_ids == cls) & (np.abs(b.boxes - box).max(axis=1) <= 2.0) & (np.abs(b.scores - score) <= 0.03)
            assert near.any(), f"{a.class_names[cls]} {score:.3f} at {box} has no counterpart"
            n += 1
        return n

    assert confident_match(want, got) == confident_match(got, want) >= 3


@pytest.mark.parametrize("name", ["yolov5ss", "yolov5ss-int8"])
def test_head_conv_outputs_decode_like_the_permuted_outputs(tmp_path, horse, name):
    """The known manifests read each head's conv output (``chw``) instead of the seed's Reshape → Permute
    output (``a_hw_c``): ncnn skips those layers, and the detections are the same numbers."""
    import json

    from edgecam.bundles.resolver import resolve

    known = resolve(name).manifest
    assert [h.layout for h in known.outputs] == ["chw"] * 3
    manifest = json.loads((REPO / "models" / f"{name}.json").read_text())
    for head, blob in zip(manifest["outputs"], ["output", "917", "937"]):
        head["blob"], head["layout"] = blob, "a_hw_c"
    manifest.pop("urls", None)
    for ext in ("param", "bin"):
        (tmp_path / f"{name}.{ext}").symlink_to(MODELS / f"{name}.{ext}")
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    permuted = NcnnDetector.from_settings(DetectorSettings(path=str(tmp_path), size=320, threads=2))
    chw = NcnnDetector.from_settings(DetectorSettings(path=name, size=320, threads=2))
    a = permuted.detect(horse, "BGR", conf=0.1).detections
    b = chw.detect(horse, "BGR", conf=0.1).detections
    assert len(a) == len(b) >= 3
    np.testing.assert_array_equal(a.class_ids, b.class_ids)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
