"""End-to-end: .pt → fp32/fp16/int8 bundles + report, on a small subset (one shared run)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import ncnn
import numpy as np
import pytest

from edgecam.bundles.ncnnfile import TAG_FP16, TAG_INT8, parse_param, walk_bin
from edgecam.bundles.resolver import resolve, validate

from deploy.calibrate import make_table, quantizable_layers
from deploy.int8 import write_int8
from deploy.measure import open_detector
from deploy.ncnnio import NcnnModel

from deploy_paths import IMAGES

pytestmark = pytest.mark.slow


def _bundle(run, prec: str) -> Path:
    return run["out"] / f"yolov5ss-{prec}"


@pytest.mark.parametrize("prec", ["fp32", "fp16", "int8"])
def test_bundles_are_valid_and_checksummed(pipeline_run, prec):
    b = _bundle(pipeline_run, prec)
    m = json.loads((b / "model.json").read_text())
    assert m["precision"] == prec and m["input"] == "in0" and m["pixel"] == "RGB"
    assert [o["blob"] for o in m["outputs"]] == ["out0", "out1", "out2"]
    assert [o["stride"] for o in m["outputs"]] == [8, 16, 32]
    assert all(o["layout"] == "chw" for o in m["outputs"])
    assert m["outputs"][1]["anchors"] == [[23.0, 29.0], [43.0, 55.0], [73.0, 105.0]]
    assert m["mean"] == [0.0, 0.0, 0.0] and m["norm"] == pytest.approx([1 / 255] * 3)
    assert len(m["classes"]) == 80 and set(m["sha256"]) == {m["param"], m["bin"]}
    validate(resolve(b))  # sha256, .bin walk ends exactly at EOF, blobs exist, heads are YOLO heads


def test_storage_formats(pipeline_run):
    tags = {}
    kept: list[str] = []
    for prec in ("fp32", "fp16", "int8"):
        b = _bundle(pipeline_run, prec)
        param = parse_param((b / f"yolov5ss-{prec}.param").read_text())
        data = (b / f"yolov5ss-{prec}.bin").read_bytes()
        tags[prec] = {buf.storage for buf in walk_bin(param, data) if buf.role == "weight"}
        if prec == "int8":
            terms = {layer.name: layer.int(8) for layer in param.layers if layer.type.startswith("Convolution")}
            cal = json.loads((b / "model.json").read_text())["calibration"]
            kept = cal["fp32_layers"]
            for name in cal["fp32_layers"]:
                assert terms[name] == 0
            assert sum(1 for t in terms.values() if t) == cal["int8_layers"] > 50
            assert any(t > 100 for t in terms.values())  # requantize fusion happened
    # layers the search kept in fp32 keep fp32 weights; everything else is int8
    assert tags == {"fp32": {"fp32"}, "fp16": {"fp16"}, "int8": {"int8", "fp32"} if kept else {"int8"}}
    assert TAG_INT8 == struct.unpack("<I", bytes.fromhex("384B0D00"))[0]
    assert TAG_FP16 == struct.unpack("<I", bytes.fromhex("476B3001"))[0]


def test_fp32_parity_with_pytorch_at_three_sizes(pipeline_run):
    rep = json.loads((pipeline_run["out"] / "report.json").read_text())
    diff = rep["precisions"]["fp32"]["max_abs_diff"]
    assert set(diff) == {"320", "416", "640", "max"}
    assert diff["max"] <= 1e-3, diff


def test_int8_writer_is_bit_exact_with_ncnn_load_time_quantization(pipeline_run, tmp_path):
    """Oracle: float weights + the same scales → ncnn quantizes at load; outputs must be identical."""
    b = _bundle(pipeline_run, "fp32")
    model = NcnnModel.load(b / "yolov5ss-fp32.param", b / "yolov5ss-fp32.bin")
    layers = quantizable_layers(model)
    rng = np.random.default_rng(0)
    from deploy.calibrate import BlobStats

    stats = {q.bottom: BlobStats(absmax=float(rng.uniform(1, 20)), elements=1000) for q in layers}
    table = make_table(layers, stats, "max")
    write_int8(model, table, set(), tmp_path / "q.param", tmp_path / "q.bin")
    write_int8(model, table, set(), tmp_path / "o.param", tmp_path / "o.bin", oracle=True)
    det = open_detector(b, 320, 2)
    mat, _ = det.preprocess(cv2.imread(str(IMAGES / "horse.jpg")), "BGR")
    outs = []
    for stem in ("q", "o"):
        net = ncnn.Net()
        net.opt.num_threads = 2
        assert net.load_param(str(tmp_path / f"{stem}.param")) == 0
        assert net.load_model(str(tmp_path / f"{stem}.bin")) == 0
        ex = net.create_extractor()
        ex.input("in0", mat)
        outs.append([np.array(ex.extract(o)[1], copy=True) for o in ("out0", "out1", "out2")])
    for a, o in zip(*outs):
        np.testing.assert_array_equal(a, o)


def _labels(bundle: Path, size: int) -> dict[str, float]:
    det = open_detector(bundle, size, 2, conf=0.5)
    res = det.detect(cv2.imread(str(IMAGES / "horse.jpg")), "BGR")
    det.close()
    best: dict[str, float] = {}
    for d in res.detections.to_dicts():
        best[d["label"]] = max(best.get(d["label"], 0.0), d["score"])
    return best


@pytest.mark.parametrize("prec", ["fp32", "int8"])
@pytest.mark.parametrize("size", [320, 640])
def test_detections_match_the_seed(pipeline_run, prec, size):
    ours = _labels(_bundle(pipeline_run, prec), size)
    seed = _labels("yolov5ss", size)  # the seed's own ncnn model
    assert {"person", "dog", "horse"} <= set(ours)
    assert set(ours) == set(seed)
    tol = 0.03 if prec == "fp32" else 0.1
    for k in seed:
        assert ours[k] == pytest.approx(seed[k], abs=tol), (k, ours[k], seed[k])


def test_report(pipeline_run):
    out = pipeline_run["out"]
    rep = json.loads((out / "report.json").read_text())
    for prec in ("fp32", "fp16", "int8"):
        r = rep["precisions"][prec]
        assert r["size_bytes"] > 0 and r["latency"]["median_ms"] > 0
        assert set(r["latency_by_size"]) == {"256", "320"}
        assert 0.0 < r["map"]["map50_95"] <= 1.0 and r["map"]["images"] == 20
        assert r["max_abs_diff"]["max"] >= 0
    assert rep["precisions"]["int8"]["size_bytes"] < 0.5 * rep["precisions"]["fp32"]["size_bytes"]
    assert rep["host"]["threads"] == 2
    assert set(rep["baselines"]) == {"yolov5ss", "yolov5ss-int8"}  # the seed models are default rows
    cal = rep["calibration"]
    assert cal["images"] == 16 and cal["sizes"] == [256, 320] and cal["preprocessing"]["pixel"] == "RGB"
    assert cal["method"] in ("max", "kl")


def test_splits_keep_the_test_images_out_of_calibration_and_selection(pipeline_run):
    rep = json.loads((pipeline_run["out"] / "report.json").read_text())
    sp = rep["splits"]
    assert sp["layout"] == "cross-fit" and sp["counts"] == {"calibrate": 16, "select": 16, "test": 4}
    names = sorted(p.name for p in (pipeline_run["dataset"] / "images").iterdir())
    test = set(sp["test"])
    a, b = sp["folds"]["A"], sp["folds"]["B"]
    assert a["calibrate"] == b["score"] and b["calibrate"] == a["score"] and len(a["score"]) == 8
    assert not set(a["calibrate"]) & set(a["score"])
    assert sorted([*a["calibrate"], *a["score"], *test]) == names  # every image has exactly one role
    assert sorted(rep["test"]["names"]) == sorted(test) and rep["test"]["images"] == 4


def test_search_scores_every_candidate_at_every_size_and_applies_the_rule(pipeline_run):
    out = pipeline_run["out"]
    rep = json.loads((out / "report.json").read_text())
    search = rep["search"]
    # 2 methods, each without and with bias correction, x (4 base sets + first+heads+4), every one scored at
    # both sizes and reported
    assert [(c["method"], c["label"]) for c in search["candidates"]] == [
        (m, lab) for m in ("max", "max+bc", "kl", "kl+bc")
        for lab in ("none", "first", "heads", "first+heads", "first+heads+4")]
    assert set(search["sensitivity"]) == {"max", "kl"}  # +bc candidates use their method's ranking
    assert set(search["fp32"]) == {"256", "320"} and all(v["images"] == 16 for v in search["fp32"].values())
    for c in search["candidates"]:
        assert [z["size"] for z in c["sizes"]] == [256, 320]
        for z in c["sizes"]:
            iv = z["interval"]
            assert iv["delta"] == pytest.approx(z["map50_95"] - search["fp32"][str(z["size"])]["map50_95"], abs=1e-6)
            assert iv["low"] <= iv["lcb"] <= iv["high"] and iv["samples"] == 100 and iv["images"] == 16
        assert c["worst_lcb"] == pytest.approx(min(z["interval"]["lcb"] for z in c["sizes"]))
        assert c["meets_budget"] == (c["worst_lcb"] >= -search["budget"])
        if c["label"] == "first+heads+4":
            ranked = search["sensitivity"][c["method"].removesuffix("+bc")]
            fh = next(x for x in search["candidates"] if (x["method"], x["label"]) == (c["method"], "first+heads"))
            assert len(fh["fp32_layers"]) == 4 and not set(fh["fp32_layers"]) & set(ranked)
            assert set(c["fp32_layers"]) == set(fh["fp32_layers"]) | set(ranked[:4])
    # the chosen candidate is the rule's pick, and the int8 bundle is that candidate recalibrated
    from deploy.search import Candidate, SizeScore, select

    cands = [Candidate(c["method"], c["label"], c["fp32_layers"], [SizeScore(**z) for z in c["sizes"]], c["fused"])
             for c in search["candidates"]]
    pick = select(cands, search["budget"])
    cal = rep["calibration"]
    assert (search["chosen"]["method"], search["chosen"]["label"]) == (pick.method, pick.label)
    assert (cal["method"], cal["fp32_layers"]) == (pick.method, pick.fp32_layers)
    if cal["method"].endswith("+bc"):
        bc = cal["bias_correction"]
        assert bc["kind"] == "weights" and bc["images"] == 2 and bc["layers"] == cal["int8_layers"] + len(cal["fp32_layers"])
        assert bc["mean_abs_shift"] > 0
    else:
        assert "bias_correction" not in cal
    md = (out / "report.md").read_text()
    for c in search["candidates"]:
        z = c["sizes"][0]
        assert f"| {c['method']} | {c['label']}" in md
        assert f"{z['map50_95']:.4f} ({z['interval']['delta']:+.4f}) | {z['interval']['lcb']:+.4f}" in md
    assert "(chosen)" in md and "None threads" not in md
    assert rep["timing"]["total_seconds"] > 0 and search["seconds"] > 0
    assert (out / "yolov5ss-int8" / "yolov5ss-int8.table").read_text().count("_param_0") == cal["int8_layers"] + len(cal["fp32_layers"])


def test_held_out_section(pipeline_run):
    out = pipeline_run["out"]
    rep = json.loads((out / "report.json").read_text())
    t = rep["test"]
    assert set(t["sizes"]) == {"256", "320"}
    for size, rows in t["sizes"].items():
        assert set(rows) == {"fp32", "fp16", "int8", "yolov5ss", "yolov5ss-int8"}
        assert "delta" not in rows["fp32"]
        for k, r in rows.items():
            if k != "fp32":
                d = r["delta"]
                assert d["delta"] == pytest.approx(r["map50_95"] - rows["fp32"]["map50_95"], abs=1e-6)
                assert d["low"] <= d["high"] and d["images"] == 4
    md = (out / "report.md").read_text()
    assert "## Held-out test split" in md and "4 labelled images never used for calibration or selection" in md
    assert "| yolov5ss-int8 (baseline) |" in md
    int8 = t["sizes"]["320"]["int8"]
    assert f"{int8['map50_95']:.4f} | {int8['delta']['delta']:+.4f} [{int8['delta']['low']:+.4f}, " in md
    png = out / "report.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_auto_takes_each_layers_least_disturbing_method(pipeline_run):
    """Per-layer choice: a layer keeps the scales of the method whose isolated head error is smallest."""
    from deploy.calibrate import collect_stats
    from deploy.perlayer import per_layer_table
    from deploy.sensitivity import layer_sensitivity

    b = _bundle(pipeline_run, "fp32")
    model = NcnnModel.load(b / "yolov5ss-fp32.param", b / "yolov5ss-fp32.bin")
    layers = quantizable_layers(model)[:6]  # six layers keep the test short
    img = [IMAGES / "horse.jpg"]
    stats = collect_stats(b, img, sorted({q.bottom for q in layers}), 256, 2)
    table, choice = per_layer_table(model, b, layers, stats, img, 256, 2, methods=("kl", "max"))
    assert set(choice) == {q.name for q in layers} == set(table.bottom)
    errs = {m: dict(layer_sensitivity(model, b, layers, make_table(layers, stats, m), img, 256, 2)) for m in ("kl", "max")}
    for q in layers:
        want = "kl" if errs["kl"][q.name] <= errs["max"][q.name] else "max"
        assert choice[q.name] == want
        assert table.bottom[q.name] == make_table(layers, stats, want).bottom[q.name]
