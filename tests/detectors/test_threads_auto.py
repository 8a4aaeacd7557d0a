"""``[model] threads = "auto"`` (the default): every core for picamera2, one less for sources decoded in
the process; numbers stay as given. The daemon's detector is built with the resolved number."""

from __future__ import annotations

import os

import pytest

from edgecam.app import build_detector
from edgecam.config import parse_config
from edgecam.detectors.settings import DetectorSettings, resolve_threads



@pytest.mark.parametrize("threads, decodes, cores, expected", [
    ("auto", False, 4, 4), ("auto", True, 4, 3), ("auto", True, 2, 1), ("auto", True, 1, 1), ("auto", False, 1, 1),
    (3, True, 4, 3), (6, False, 4, 6),
])
def test_resolve(threads, decodes, cores, expected):
    assert resolve_threads(threads, decodes, cores) == expected


def test_auto_is_the_default_and_each_source_says_whether_it_decodes():
    assert DetectorSettings().threads == "auto"
    decodes = {}
    for source, path in (("picamera2", "0"), ("stream", "rtsp://cam/x"), ("opencv", "0"), ("images", "x")):
        decodes[source] = parse_config(f'[camera]\nsource = "{source}"\npath = "{path}"\n').camera.decodes_in_process()
    assert decodes == {"picamera2": False, "stream": True, "opencv": True, "images": True}


@pytest.mark.parametrize("source, path, minus", [("picamera2", "0", 0), ("stream", "rtsp://cam/x", 1)])
def test_the_daemon_builds_its_detector_with_the_resolved_count(source, path, minus):
    settings = parse_config(f'[camera]\nsource = "{source}"\npath = "{path}"\n[model]\nsize = 320\n')
    detector = build_detector(settings)
    try:
        cores = len(os.sched_getaffinity(0))
        assert detector.settings.threads == max(1, cores - minus)
    finally:
        detector.close()


def test_a_detector_built_without_a_camera_resolves_auto_to_every_core():
    from edgecam.detectors.ncnn_detector import NcnnDetector

    detector = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=320))
    try:
        assert detector.settings.threads == len(os.sched_getaffinity(0))
    finally:
        detector.close()
