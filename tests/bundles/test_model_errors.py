"""Malformed, truncated and mismatched models: exit 2 with one clear line, never a crash.

Every case runs `edgecam detect` in a subprocess so that a segfault inside ncnn would show up as a
negative return code instead of killing the test run.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from sharedkit import HORSE, MODELS, REPO

pytestmark = pytest.mark.slow  # runs the edgecam CLI in subprocesses


def run_detect(model, env=None):
    proc = subprocess.run(
        [sys.executable, "-m", "edgecam", "detect", "--model", str(model), "--size", "320", str(HORSE)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )
    return proc


def assert_clean_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert proc.stdout == ""


def copy_seed(tmp_path, name="yolov5ss"):
    for ext in ("param", "bin"):
        shutil.copy(MODELS / f"{name}.{ext}", tmp_path / f"{name}.{ext}")
    return tmp_path / f"{name}.param"


def test_truncated_bin(tmp_path):
    param = copy_seed(tmp_path)
    b = param.with_suffix(".bin")
    data = b.read_bytes()
    b.write_bytes(data[: len(data) // 2])
    assert_clean_error(run_detect(param), "truncated", "yolov5ss.bin")


def test_truncated_int8_bin_by_one_word(tmp_path):
    param = copy_seed(tmp_path, "yolov5ss-int8")
    b = param.with_suffix(".bin")
    b.write_bytes(b.read_bytes()[:-4])
    assert_clean_error(run_detect(param), "truncated")


def test_bin_with_trailing_garbage(tmp_path):
    param = copy_seed(tmp_path)
    with open(param.with_suffix(".bin"), "ab") as f:
        f.write(b"\0" * 64)
    assert_clean_error(run_detect(param), "does not belong")


def test_missing_bin(tmp_path):
    param = copy_seed(tmp_path)
    param.with_suffix(".bin").unlink()
    assert_clean_error(run_detect(param), ".bin", "not found")


def test_missing_param(tmp_path):
    assert_clean_error(run_detect(tmp_path / "nothing.param"), "not found")


def test_garbage_param(tmp_path):
    p = tmp_path / "junk.param"
    p.write_text("hello world\n")
    (tmp_path / "junk.bin").write_bytes(b"\0" * 16)
    assert_clean_error(run_detect(p), "not an ncnn .param")


def test_binary_param(tmp_path):
    p = tmp_path / "bin.param"
    p.write_bytes(bytes(range(256)))
    assert_clean_error(run_detect(p), "not a text .param")


def test_param_that_is_not_a_yolo_head(tmp_path):
    p = tmp_path / "tiny.param"
    p.write_text("7767517\n2 2\nInput in0 0 1 in0\nConvolution conv0 1 1 in0 out0 0=4 1=1 5=1 6=12\n")
    (tmp_path / "tiny.bin").write_bytes(b"\0" * 4 + b"\0" * 48 + b"\0" * 16)
    assert_clean_error(run_detect(p), "not a YOLOv5-style head")


def make_bundle(tmp_path, **changes):
    copy_seed(tmp_path)
    manifest = json.loads((REPO / "models" / "yolov5ss.json").read_text())
    manifest.pop("urls")
    manifest.update(changes)
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    return tmp_path


def test_bundle_with_wrong_checksum(tmp_path):
    pinned = json.loads((REPO / "models" / "yolov5ss.json").read_text())["sha256"]
    bundle = make_bundle(tmp_path, sha256={**pinned, "yolov5ss.bin": "0" * 64})
    assert_clean_error(run_detect(bundle), "sha256 mismatch", "yolov5ss.bin")


def test_bundle_whose_classes_do_not_match_the_head(tmp_path):
    bundle = make_bundle(tmp_path, classes=["a", "b"])
    assert_clean_error(run_detect(bundle), "not a YOLOv5 head", "255")


def test_bundle_naming_a_missing_output_blob(tmp_path):
    bundle = make_bundle(tmp_path)
    m = json.loads((bundle / "model.json").read_text())
    m["outputs"][0]["blob"] = "nope"
    (bundle / "model.json").write_text(json.dumps(m))
    assert_clean_error(run_detect(bundle), "'nope'", "does not exist")


def test_bundle_with_broken_manifest_json(tmp_path):
    copy_seed(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    assert_clean_error(run_detect(tmp_path), "model.json", "not valid JSON")


def test_valid_bundle_runs(tmp_path):
    bundle = make_bundle(tmp_path)
    proc = run_detect(bundle)
    assert proc.returncode == 0, proc.stderr
    labels = {d["label"] for d in json.loads(proc.stdout)["detections"]}
    assert {"person", "horse"} <= labels


def test_known_name_with_corrupt_file_in_model_dir(tmp_path):
    copy_seed(tmp_path)
    b = tmp_path / "yolov5ss.bin"
    data = bytearray(b.read_bytes())
    data[1000] ^= 0xFF
    b.write_bytes(bytes(data))
    assert_clean_error(run_detect("yolov5ss", env={"EDGECAM_MODEL_DIR": str(tmp_path)}), "sha256 mismatch")


def test_unknown_model_name():
    assert_clean_error(run_detect("yolov99"), "not found", "yolov5ss")
