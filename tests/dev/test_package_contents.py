"""The wheel is the product (CONTRACT §1): what a Pi installs holds the package and nothing of the
checkout — no development tooling, no workstation tools among its requirements, no paths into ../shared."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel with pip in a subprocess

REPO = Path(__file__).resolve().parents[2]
WORKSTATION_TOOLS = {"torch", "onnx", "onnxslim", "pnnx", "matplotlib"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(out), str(REPO)], check=True, capture_output=True, timeout=300, cwd=out)
    (found,) = out.glob("edgecam-*.whl")
    return found


def test_wheel_holds_only_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"edgecam", next(t for t in tops if t.endswith(".dist-info"))}
    # the known models' manifests and the example config ship; development tooling does not
    assert {"edgecam/known_models/yolov5ss.json", "edgecam/known_models/yolov5ss-int8.json",
            "edgecam/config/example.toml", "edgecam/evaluation/bench.py"} <= set(names)
    for tool in ("demo.py", "soak.py", "report.py"):
        assert not [n for n in names if n.endswith("/" + tool)], tool


def test_plain_install_requires_no_workstation_tools(wheel):
    meta = zipfile.ZipFile(wheel).read(next(n for n in zipfile.ZipFile(wheel).namelist()
                                            if n.endswith(".dist-info/METADATA"))).decode()
    requires = [l.split(":", 1)[1].strip() for l in meta.splitlines() if l.startswith("Requires-Dist:")]
    plain = {re.split(r"[ <>=!~;\[]", r, maxsplit=1)[0].lower() for r in requires if "extra ==" not in r}
    assert {"av", "ncnn", "numpy", "opencv-python-headless", "paho-mqtt"} <= plain  # av: network cameras
    assert not plain & WORKSTATION_TOOLS
    extras = {r for r in requires if "extra ==" in r}
    assert any(r.startswith("pycocotools") and "extra == \"eval\"" in r for r in extras)
    assert not any(re.split(r"[ <>=!~;\[]", r, maxsplit=1)[0].lower() in WORKSTATION_TOOLS for r in extras)


def test_no_file_in_the_package_points_into_the_checkout(wheel):
    z = zipfile.ZipFile(wheel)
    offenders = []
    for name in z.namelist():
        if name.endswith(".py"):
            text = z.read(name).decode()
            if re.search(r"""\.\./shared|["']shared["']|parents\[\d\]\s*/\s*["'](build|shared|tests|deploy)""", text):
                offenders.append(name)
    assert offenders == []
