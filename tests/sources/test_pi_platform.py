"""What `check` can say about a picamera2 config without a camera: the Pi's ISP from the device tree
(a file written here, as /proc/device-tree/compatible reads on each board), and what it accepts."""

from __future__ import annotations

import importlib.util

import pytest

from edgecam.sources.pi_platform import (
    MISSING_PICAMERA2,
    configuration_notes,
    configuration_problems,
    detect_platform,
    import_problem,
)
from edgecam.sources.settings import ImagesSettings, PiCamera2Settings

BOARDS = {
    "pi5": (b"raspberrypi,5-model-b\0brcm,bcm2712\0", "pisp"),
    "pi4": (b"raspberrypi,4-model-b\0brcm,bcm2711\0", "vc4"),
    "pi3": (b"raspberrypi,3-model-b-plus\0brcm,bcm2837\0", "vc4"),
    "pc": (b"", None),
}


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_platform_from_the_device_tree(tmp_path, board):
    compatible, platform = BOARDS[board]
    path = tmp_path / "compatible"
    path.write_bytes(compatible)
    assert detect_platform(path) == platform


def test_no_device_tree_is_not_a_pi(tmp_path):
    assert detect_platform(tmp_path / "missing") is None


def cam(**kw) -> PiCamera2Settings:
    return PiCamera2Settings(**kw)


@pytest.mark.parametrize("fmt", ["RGB888", "BGR888"])
def test_pi4_accepts_only_yuv420_for_the_lores_stream(fmt):
    (problem,) = configuration_problems(cam(format=fmt), platform="vc4", check_stack=False)
    assert problem.startswith(f'[camera] format = "{fmt}": this Raspberry Pi (Pi 4 or older)')
    assert 'set format = "YUV420"' in problem and "\n" not in problem
    assert configuration_problems(cam(format=fmt), platform="pisp", check_stack=False) == []
    assert configuration_problems(cam(), platform="vc4", check_stack=False) == []


def test_off_a_pi_rgb_is_a_note_not_an_error():
    assert configuration_problems(cam(format="RGB888"), platform=None) == []  # no stack import off a Pi
    (note,) = configuration_notes(cam(format="RGB888"), platform=None)
    assert "works on a Pi 5 only" in note and "only as YUV420" in note
    assert configuration_notes(cam(format="RGB888"), platform="pisp") == []


def test_odd_sizes_are_noted_with_the_size_frames_will_have():
    notes = configuration_notes(cam(lores_width=641, lores_height=361, width=1281, height=721), platform="vc4")
    assert any("641x361" in n and "frames will be 640x360" in n for n in notes)
    assert any("1281x721" in n and "1280x720" in n for n in notes)
    assert configuration_notes(cam(), platform="vc4") == []
    assert configuration_notes(ImagesSettings(path="x"), platform="vc4") == []


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_on_a_pi_without_picamera2_check_says_how_to_install_it():
    (problem,) = configuration_problems(cam(), platform="vc4")
    assert problem.startswith(MISSING_PICAMERA2)


def test_import_problems_are_classified():
    abi = ValueError("numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, "
                     "got 88 from PyObject")
    assert import_problem(abi).startswith("pip installed a numpy the Raspberry Pi camera stack was not built for")
    assert import_problem(ImportError("numpy.core.multiarray failed to import")).startswith("pip installed a numpy")
    assert import_problem(ModuleNotFoundError("No module named 'picamera2'")).startswith(MISSING_PICAMERA2)
    assert import_problem(RuntimeError("boom")) == (
        "the Raspberry Pi camera stack (picamera2) cannot be imported: RuntimeError: boom")
