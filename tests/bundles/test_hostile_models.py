"""Broken manifests and params from the hostile-input report (#11): one line, exit 2, never a traceback.

The cases run the real CLI in a subprocess (a native crash would show as a signal); the fuzzers mutate
manifests and params in-process by the thousand (only ModelError may come out) and run a seeded corpus
of mutated params through the CLI, where every mutation that passes validation reaches ncnn.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from clikit import HORSE, SHARED, assert_clean_exit, assert_usage_error, run_edgecam
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecam.bundles.manifest import manifest_from_dict
from edgecam.bundles.resolver import Bundle, known_manifest, resolve, validate
from edgecam.errors import ModelError

pytestmark = pytest.mark.slow  # runs the edgecam CLI in subprocesses

MODELS = SHARED / "models"
KNOWN = json.loads((Path(__file__).resolve().parents[2] / "edgecam" / "known_models" / "yolov5ss.json").read_text())
SEED_PARAM = (MODELS / "yolov5ss.param").read_text()
HEAD_LINE = "Convolution              Conv_430                 1 1 849_splitncnn_0 878 0=255 1=1 5=1 6=32640"


def detect(model, timeout=120):
    return run_edgecam("detect", "--model", model, "--size", "320", HORSE, timeout=timeout)


def seed_param(tmp_path: Path, text: str = SEED_PARAM) -> Path:
    (tmp_path / "yolov5ss.param").write_text(text)
    shutil.copy(MODELS / "yolov5ss.bin", tmp_path / "yolov5ss.bin")
    return tmp_path / "yolov5ss.param"


def bundle_dir(tmp_path: Path, manifest: dict | None = None, **changes) -> Path:
    seed_param(tmp_path)
    m = {k: v for k, v in KNOWN.items() if k != "urls"} if manifest is None else manifest
    (tmp_path / "model.json").write_text(json.dumps({**m, **changes}))
    return tmp_path


PARAM_EDITS = {
    "0=abc": (r"(Conv_0 .*?) 0=24 ", r"\1 0=abc ", "0='abc'"),
    "0=nan": (r"(Conv_0 .*?) 0=24 ", r"\1 0=nan ", "0='nan'"),
    "6=1e999": (r"(Conv_0 .*?) 6=648", r"\1 6=1e999", "not a finite"),
    "id 99": (r"(Conv_0 .*?) 9=1", r"\1 99=1", "parameter id 99"),
    "no =": (r"(Conv_0 .*?) 9=1", r"\1 9", "key=value"),
    "head 254 channels": (r"(Conv_430 .*?) 0=255", r"\1 0=254", "yolov5ss.bin"),
    "head 256 channels": (r"(Conv_430 .*?) 0=255 (.*) 6=32640", r"\1 0=256 \2 6=32768", "yolov5ss.bin"),
    "head 85 channels": (r"(Conv_430 .*?) 0=255 (.*) 6=32640", r"\1 0=85 \2 6=10880", "yolov5ss.bin"),
    "layer count": (r"^182 208", "183 208", "header declares 183 layers"),
    # found by the mutation corpus: passes the structural checks, ncnn runs it, the head's shape is wrong
    "head reshape": (r"(Reshape_476 .*?) 1=85", r"\1 1=3", "output '937' holds"),
    # ncnn copies the input's dimension for a 0: the sizes still add up and 100 garbage boxes come out
    "reshape zero": (r"(Reshape_476 .*?) 1=85", r"\1 1=0", "zero-size dimension (1=0)"),
    "conv zero outputs": (r"(Conv_0 .*?) 0=24 ", r"\1 0=0 ", "zero-size dimension (0=0)"),
}


@pytest.mark.parametrize("name", sorted(PARAM_EDITS))
def test_broken_param_is_one_line_naming_the_file(tmp_path, name):
    pattern, repl, needle = PARAM_EDITS[name]
    text, n = re.subn(pattern, repl, SEED_PARAM, count=1, flags=re.M)
    assert n == 1
    line = assert_usage_error(detect(seed_param(tmp_path, text)), needle)
    assert "re-export" in line or "re-download" in line or "does not belong" in line
    assert "yolov5ss." in line or name == "head reshape"  # found at the first inference: names the output blob


def test_edited_head_in_a_pinned_bundle_is_a_sha256_mismatch(tmp_path):
    bundle = bundle_dir(tmp_path)
    param = bundle / "yolov5ss.param"
    param.write_text(param.read_text().replace(HEAD_LINE, HEAD_LINE.replace("0=255", "0=254")))
    assert_usage_error(detect(bundle), "yolov5ss.param", "sha256 mismatch", "fix the manifest's sha256")


MANIFEST_EDITS = {
    "sha256 abc": ({"sha256": "abc"}, "sha256 must be an object"),
    "sha256 short": ({"sha256": {**KNOWN["sha256"], "yolov5ss.bin": "abc"}}, "64 hex digits"),
    "sha256 empty": ({"sha256": {}}, "no entry for yolov5ss.param"),
    "sha256 traversal": ({"sha256": {**KNOWN["sha256"], "../x": "0" * 64}}, "file names inside the bundle"),
    "input_size abc": ({"input_size": "abc"}, "input_size must be a whole number"),
    "input_size 0": ({"input_size": 0}, "input_size 0 is out of range"),
    "input_size -64": ({"input_size": -64}, "input_size -64 is out of range"),
    "input_size 33": ({"input_size": 33}, "input_size 33 is not a multiple of 32"),
    "input_size 100000": ({"input_size": 100000}, "input_size 100000 is out of range"),
    "norm zero": ({"norm": [0, 0, 0]}, "norm must not contain 0"),
    "mean string": ({"mean": ["a", 0, 0]}, "mean must be a list of 3 finite numbers"),
    "classes numbers": ({"classes": [1, 2]}, "classes must be a non-empty list"),
    "classes empty name": ({"classes": [""] * 80}, "classes must be a non-empty list"),
    "param traversal": ({"param": "../yolov5ss.param"}, "param must be a file name"),
    "pad_value": ({"pad_value": 300}, "pad_value"),
    "precision": ({"precision": "fp8"}, "precision must be fp32, fp16 or int8"),
    "outputs not a list": ({"outputs": "x"}, "outputs must be a list"),
}


@pytest.mark.parametrize("name", sorted(MANIFEST_EDITS))
def test_broken_manifest_is_one_line_naming_the_key(tmp_path, name):
    changes, needle = MANIFEST_EDITS[name]
    line = assert_usage_error(detect(bundle_dir(tmp_path, **changes)), "model.json", needle)
    assert "fix the manifest" in line


@pytest.mark.parametrize("anchors,needle", [
    ("NaN", "finite numbers"), ("Infinity", "finite numbers"), ("-5", "positive"), ("0", "positive"),
])
def test_non_finite_or_non_positive_anchors_are_refused(tmp_path, anchors, needle):
    bundle = bundle_dir(tmp_path)
    text = (bundle / "model.json").read_text().replace("[4, 5]", f"[{anchors}, 5]", 1)
    (bundle / "model.json").write_text(text)
    assert_usage_error(detect(bundle), "outputs[0].anchors", needle)


@pytest.mark.parametrize("stride", [7, "8", 8.5, 0, True])
def test_head_stride_must_be_a_power_of_two(tmp_path, stride):
    m = copy.deepcopy({k: v for k, v in KNOWN.items() if k != "urls"})
    m["outputs"][0]["stride"] = stride
    with pytest.raises(ModelError, match=r"outputs\[0\]\.stride must be one of"):
        resolve(bundle_dir(tmp_path, m))


def test_empty_sha256_with_tampered_weights_is_refused(tmp_path):
    bundle = bundle_dir(tmp_path, sha256={})
    data = bytearray((bundle / "yolov5ss.bin").read_bytes())
    data[5000] ^= 0xFF
    (bundle / "yolov5ss.bin").write_bytes(bytes(data))
    assert_usage_error(detect(bundle), "model.json", "sha256", "sha256sum")


def test_non_utf8_manifest(tmp_path):
    bundle = bundle_dir(tmp_path)
    (bundle / "model.json").write_bytes(b'{"name": "\xff\xfe"}')
    assert_usage_error(detect(bundle), "model.json", "not UTF-8", "save it as UTF-8")


def test_manifest_that_is_a_directory(tmp_path):
    bundle = bundle_dir(tmp_path)
    (bundle / "model.json").unlink()
    (bundle / "model.json").mkdir()
    assert_usage_error(detect(bundle), "model.json", "is a directory")


def test_deeply_nested_manifest(tmp_path):
    bundle = bundle_dir(tmp_path)
    (bundle / "model.json").write_text("[" * 100000 + "]" * 100000)
    assert_usage_error(detect(bundle), "model.json", "nested too deeply")


def test_bundle_directory_without_manifest(tmp_path):
    seed_param(tmp_path)
    assert_usage_error(detect(tmp_path), "no model.json", "bundle directory")


@pytest.mark.parametrize("which", ["model.json", "yolov5ss.param", "yolov5ss.bin"])
def test_fifo_in_a_bundle_exits_2_without_blocking(tmp_path, which):
    bundle = bundle_dir(tmp_path)
    (bundle / which).unlink()
    os.mkfifo(bundle / which)
    assert_usage_error(detect(bundle, timeout=60), which, "FIFO")


@pytest.mark.parametrize("which", ["param", "bin", "json"])
def test_fifo_beside_a_bare_param_exits_2_without_blocking(tmp_path, which):
    param = seed_param(tmp_path)
    target = param.with_suffix(f".{which}")
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    assert_usage_error(detect(param, timeout=60), target.name, "FIFO")


def test_seed_models_and_their_manifests_still_validate():
    for name in ("yolov5ss", "yolov5ss-int8"):
        bundle = resolve(name)
        validate(bundle)
        assert manifest_from_dict(bundle.manifest.to_json()) == bundle.manifest


# -- fuzzers ------------------------------------------------------------------------------------

NASTY = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.integers(-3, 300), max_size=4), st.builds(dict), st.builds(lambda: [[1, 2], [3, 4], [5, 6]]),
)
KEYS = ["name", "precision", "param", "bin", "input", "outputs", "input_size", "mean", "norm", "pixel", "classes",
        "sha256", "pad_value", "urls"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS + ["outputs.0", "outputs.0.anchors", "outputs.0.stride",
                                                  "outputs.0.anchors.0", "sha256.yolov5ss.bin"]), NASTY),
                min_size=1, max_size=3),
       st.lists(st.sampled_from(KEYS), max_size=2))
def test_manifest_fuzz_only_ever_raises_model_error(edits, removed):
    m = copy.deepcopy(KNOWN)
    for key, value in edits:
        parts = key.split(".", 1) if key.startswith("sha256.") else key.split(".")
        try:  # an earlier edit may have replaced the structure this path walks into
            target = m
            for part in parts[:-1]:
                target = target[int(part)] if isinstance(target, list) else target[part]
            target[int(parts[-1]) if isinstance(target, list) else parts[-1]] = value
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    for key in removed:
        m.pop(key, None)
    try:
        manifest_from_dict(json.loads(json.dumps(m)), "fuzz.json")
    except ModelError as exc:
        assert str(exc).startswith("fuzz.json: ") and "\n" not in str(exc)


PARAM_TOKENS = st.sampled_from(["abc", "nan", "inf", "-inf", "1e40", "", "=", "0=", "=1", "0=1,2", "-23300=",
                                "-23300=2,1", "-23300=x", "99999999999", "-2147483649", '"s"', "0=1.5", "4=-233"])


@pytest.fixture(scope="module")
def fuzz_dir():
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(MODELS / "yolov5ss.bin", Path(d) / "yolov5ss.bin")
        yield Path(d)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 183), st.integers(0, 12), PARAM_TOKENS), min_size=1, max_size=3))
def test_param_fuzz_only_ever_raises_model_error(fuzz_dir, edits):
    lines = SEED_PARAM.splitlines()
    for line_no, token_no, token in edits:
        toks = lines[line_no % len(lines)].split()
        toks[token_no % (len(toks) + 1):token_no % (len(toks) + 1) + 1] = [token]
        lines[line_no % len(lines)] = " ".join(toks)
    param = fuzz_dir / "yolov5ss.param"
    param.write_text("\n".join(lines) + "\n")
    try:
        validate(Bundle(known_manifest("yolov5ss"), param, fuzz_dir / "yolov5ss.bin"))
    except ModelError as exc:
        assert "\n" not in str(exc)


VALUES = ["0", "1", "2", "3", "-1", "-233", "7", "100", "65535", "99999", "0.0"]


def test_mutated_params_never_crash_the_cli(tmp_path):
    """Seeded value mutations of the seed param; those that still validate run inside ncnn."""
    rng = random.Random(5)
    src = SEED_PARAM.splitlines()
    shutil.copy(MODELS / "yolov5ss.bin", tmp_path / "m.bin")
    outcomes = {}
    for i in range(12):
        lines = list(src)
        for _ in range(rng.randint(1, 2)):
            n = rng.randrange(2, len(lines))
            toks = lines[n].split()
            keys = [j for j, t in enumerate(toks) if re.match(r"^\d+=", t)]
            if keys:
                j = rng.choice(keys)
                toks[j] = f"{toks[j].split('=')[0]}={rng.choice(VALUES)}"
                lines[n] = " ".join(toks)
        (tmp_path / "m.param").write_text("\n".join(lines) + "\n")
        proc = run_edgecam("detect", "--model", tmp_path / "m.param", "--size", "128", "--threads", "1", HORSE)
        assert_clean_exit(proc, i)
        outcomes[proc.returncode] = outcomes.get(proc.returncode, 0) + 1
    assert outcomes.get(0) and outcomes.get(2), outcomes  # the corpus reaches ncnn and the validator


def test_mutated_manifests_never_crash_the_cli(tmp_path):
    """Seeded value swaps in model.json run through the CLI; the ones that validate reach ncnn."""
    rng = random.Random(3)
    values = [0, -1, 1e300, -1e-300, 2048, 64, "RGB", "BGR", "x", [1, 2, 3], [[1e-30, 1e30]] * 3, None, 114]
    paths = ["input_size", "mean", "norm", "pixel", "pad_value", "outputs.0.anchors", "outputs.1.stride",
             "outputs.2.layout", "input", "name"]
    bundle_dir(tmp_path)
    outcomes = {}
    for i in range(8):
        m = copy.deepcopy({k: v for k, v in KNOWN.items() if k != "urls"})
        for _ in range(rng.randint(1, 2)):
            *parents, last = rng.choice(paths).split(".")
            target = m
            for part in parents:
                target = target[int(part)] if isinstance(target, list) else target[part]
            target[last] = rng.choice(values)
        (tmp_path / "model.json").write_text(json.dumps(m))
        proc = run_edgecam("detect", "--model", tmp_path, "--size", "128", "--threads", "1", HORSE)
        assert_clean_exit(proc, (i, m))
        outcomes[proc.returncode] = outcomes.get(proc.returncode, 0) + 1
    assert outcomes.get(0) and outcomes.get(2), outcomes


@pytest.mark.parametrize("kind", ["long name", "long path", "symlink loop", "device"])
def test_unusable_model_paths_are_one_line(tmp_path, kind):
    loop = tmp_path / "loop.param"
    loop.symlink_to(loop)
    model = {"long name": "m" * 5000, "long path": "d/" * 3000 + "m.param", "symlink loop": loop,
             "device": "/dev/zero"}[kind]
    needle = {"long name": "too long", "long path": "too long", "symlink loop": "loop", "device": "device"}[kind]
    line = assert_usage_error(detect(model, timeout=60), needle)
    assert len(line) < 400
