"""Bias correction (deploy.biascorr) with real ncnn: a closed form on a tiny model, and real data."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import ncnn
import numpy as np
import pytest

from deploy.biascorr import Inputs, correct_biases, measurement_model, output_blob
from deploy.calibrate import Table, collect_stats, make_table, quantizable_layers, weight_scales
from deploy.int8 import write_int8
from deploy.ncnnio import NcnnModel, raw_fp32

from deploy_paths import COCO128


def _tiny(tmp: Path, w: np.ndarray, b: np.ndarray) -> NcnnModel:
    """Input (2×5×5) → 1×1 Convolution with 3 outputs, bias and a fused ReLU (9=1)."""
    out_c, in_c = w.shape
    (tmp / "t.param").write_text(
        "7767517\n2 2\n"
        f"Input in 0 1 in 0=5 1=5 2={in_c}\n"
        f"Convolution c 1 1 in out 0={out_c} 1=1 5=1 6={w.size} 9=1\n")
    (tmp / "t.bin").write_bytes(struct.pack("<I", 0) + w.astype(np.float32).tobytes() + raw_fp32(b))
    return NcnnModel.load(tmp / "t.param", tmp / "t.bin")


def _q(v: np.ndarray) -> np.ndarray:
    return np.clip(np.trunc(v + np.copysign(0.5, v)), -127, 127)


def test_closed_form_on_a_one_conv_model(tmp_path):
    """The correction is b − mean(int8 pre-activation − fp32 pre-activation), with int8 written out
    by hand (quantized input × quantized weights, dequantized); the ReLU must not enter it."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 1, (3, 2)).astype(np.float32)
    b = np.array([-0.3, 0.1, -1.0], np.float32)  # negative biases: the ReLU clips many outputs
    x = rng.normal(0.2, 1, (2, 5, 5)).astype(np.float32)
    model = _tiny(tmp_path, w, b)
    layers = quantizable_layers(model)
    s_in = np.float32(127 / 40.0)  # coarse input scale: a visible mean error
    ws = weight_scales(layers[0], "max")
    table = Table("max", {"c": ws}, {"c": float(s_in)})
    inputs = Inputs("in", [ncnn.Mat(x)], threads=1)
    got = correct_biases(model, layers, table, set(), inputs).bias["c"]

    xq = _q(x.reshape(2, -1) * s_in)
    wq = _q(w * ws[:, None])
    y8 = (wq @ xq) / (s_in * ws[:, None])
    y32 = w.astype(np.float64) @ x.reshape(2, -1).astype(np.float64)
    want = b - (y8 - y32).mean(axis=1)
    assert np.abs(want - b).max() > 1e-3  # the case is not trivial
    np.testing.assert_allclose(got, want, atol=2e-5)

    # the corrected int8 model's pre-activation mean equals the fp32 one on these inputs
    meas = measurement_model(model, {"c"})
    assert output_blob(meas, "c") == "out_preact"
    corrected = Table("max", {"c": ws}, {"c": float(s_in)}, {"c": got})
    write_int8(meas, corrected, set(), tmp_path / "q.param", tmp_path / "q.bin", fuse=False)
    meas.save(tmp_path / "m.param", tmp_path / "m.bin")
    m8 = inputs.means(tmp_path / "q.param", tmp_path / "q.bin", ["out_preact"])["out_preact"]
    m32 = inputs.means(tmp_path / "m.param", tmp_path / "m.bin", ["out_preact"])["out_preact"]
    np.testing.assert_allclose(m8, m32, atol=2e-5)


@pytest.mark.slow  # needs the converted model of the deploy pipeline
def test_measurement_model_computes_the_same_network(pipeline_run, tmp_path):
    b = pipeline_run["out"] / "yolov5ss-fp32"
    model = NcnnModel.load(b / "yolov5ss-fp32.param", b / "yolov5ss-fp32.bin")
    names = {q.name for q in quantizable_layers(model)}
    meas = measurement_model(model, names)
    split = [ln for ln in meas.param.layers if ln.name.endswith("_act")]
    assert split and all(ln.type == "ReLU" for ln in split)
    meas.save(tmp_path / "m.param", tmp_path / "m.bin")
    inputs = Inputs.from_images(b, sorted((COCO128 / "images").glob("*.jpg"))[:1], (256,), 2)
    try:
        a = inputs.means(tmp_path / "m.param", tmp_path / "m.bin", ["out0", "out1", "out2"])
        r = inputs.means(b / "yolov5ss-fp32.param", b / "yolov5ss-fp32.bin", ["out0", "out1", "out2"])
    finally:
        inputs.close()
    for k in a:
        np.testing.assert_array_equal(a[k], r[k])


@pytest.fixture(scope="module")
def real(pipeline_run):
    b = pipeline_run["out"] / "yolov5ss-fp32"
    model = NcnnModel.load(b / "yolov5ss-fp32.param", b / "yolov5ss-fp32.bin")
    layers = quantizable_layers(model)
    imgs = sorted((COCO128 / "images").glob("*.jpg"))
    calib, other = imgs[100:102], imgs[110:112]
    stats = collect_stats(b, calib, sorted({q.bottom for q in layers}), 256, 2)
    return b, model, layers, make_table(layers, stats, "mse"), calib, other


def _layer_mean_errors(b, model, layers, table, images) -> dict[str, float]:
    """Per layer: the mean over channels of |per-channel mean of (int8 − fp32) pre-activation output|."""
    meas = measurement_model(model, {q.name for q in layers})
    blobs = {q.name: output_blob(meas, q.name) for q in layers}
    inputs = Inputs.from_images(b, images, (256,), 2)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        meas.save(t / "m.param", t / "m.bin")
        write_int8(meas, table, set(), t / "q.param", t / "q.bin", fuse=False)
        try:
            ref = inputs.means(t / "m.param", t / "m.bin", list(blobs.values()))
            got = inputs.means(t / "q.param", t / "q.bin", list(blobs.values()))
        finally:
            inputs.close()
    return {n: float(np.abs(got[k] - ref[k]).mean()) for n, k in blobs.items()}


@pytest.mark.slow  # needs the converted model of the deploy pipeline
def test_sequential_correction_zeroes_every_layers_mean_error_on_its_images_and_helps_on_others(real):
    b, model, layers, table, calib, other = real
    inputs = Inputs.from_images(b, calib, (256,), 2)
    try:
        corrected = correct_biases(model, layers, table, set(), inputs)
    finally:
        inputs.close()
    assert set(corrected.bias) == {q.name for q in layers}
    on_calib = _layer_mean_errors(b, model, layers, corrected, calib)
    before = _layer_mean_errors(b, model, layers, table, calib)
    assert max(on_calib.values()) < 1e-3 < max(before.values())
    plain = _layer_mean_errors(b, model, layers, table, other)
    fixed = _layer_mean_errors(b, model, layers, corrected, other)
    assert np.mean(list(fixed.values())) < 0.8 * np.mean(list(plain.values()))


@pytest.mark.slow  # needs the converted model of the deploy pipeline
def test_writer_rejects_a_bias_of_the_wrong_size(real, tmp_path):
    _, model, layers, table, _, _ = real
    bad = Table(table.method, table.weight, table.bottom, {layers[0].name: np.zeros(1, np.float32)})
    with pytest.raises(ValueError, match="corrected bias has 1 values"):
        write_int8(model, bad, set(), tmp_path / "q.param", tmp_path / "q.bin")


def test_weight_error_correction_makes_int8_exact_when_the_input_is_exactly_representable(tmp_path):
    """Constant inputs on the int8 grid: activation quantization is exact, so the int8 output is W̃x + b.
    With b − (W̃ − W)·E[x] it must equal the fp32 output Wx + b; uncorrected it must not."""
    from deploy.biascorr import weight_error_biases

    rng = np.random.default_rng(5)
    w = np.abs(rng.normal(0, 1, (3, 2))).astype(np.float32)
    b = np.array([0.5, 0.1, 1.0], np.float32)  # positive outputs: the ReLU does not clip
    s_in = np.float32(4.0)
    xv = np.array([37, 21], np.float32) / s_in  # on the grid (x·s_in integral, < 127)
    x = np.broadcast_to(xv[:, None, None], (2, 5, 5)).copy()
    model = _tiny(tmp_path, w, b)
    layers = quantizable_layers(model)
    ws = weight_scales(layers[0], "max")
    table = Table("max", {"c": ws}, {"c": float(s_in)})
    fixed = Table("max", {"c": ws}, {"c": float(s_in)}, weight_error_biases(model, layers, table, {"in": xv}))
    inputs = Inputs("in", [ncnn.Mat(x)], threads=1)
    want = w @ xv + b
    assert np.all(want > 0)
    outs = {}
    for tag, t in (("plain", table), ("fixed", fixed)):
        write_int8(model, t, set(), tmp_path / f"{tag}.param", tmp_path / f"{tag}.bin", fuse=False)
        outs[tag] = inputs.means(tmp_path / f"{tag}.param", tmp_path / f"{tag}.bin", ["out"])["out"]
    np.testing.assert_allclose(outs["fixed"], want, atol=1e-5)
    assert np.abs(outs["plain"] - want).max() > 1e-3
