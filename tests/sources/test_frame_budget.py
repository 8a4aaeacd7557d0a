"""Frames above the pixel budget are refused where they enter, before any conversion or resize."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgecam.detectors.preprocess import letterbox
from edgecam.errors import SourceError
from edgecam.limits import MAX_PIXELS_LIMIT
from edgecam.sources.opencv import OpenCVSource
from edgecam.sources.settings import OpenCVSettings


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened(), "this OpenCV build cannot write MJPG AVI"
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 90, np.uint8))
    writer.release()
    return path


def test_opencv_frame_above_the_budget_is_a_source_error_naming_the_fix(video):
    src = OpenCVSource(OpenCVSettings(path=str(video), max_pixels=64 * 48 - 1))
    src.open()
    try:
        with pytest.raises(SourceError, match=r"64×48 = 0\.0 MP is above the pixel budget") as err:
            src.read(1.0)
        assert "max_pixels" in str(err.value) and "width/height" in str(err.value)
    finally:
        src.close()


def test_opencv_frame_within_the_budget_is_delivered(video):
    src = OpenCVSource(OpenCVSettings(path=str(video), max_pixels=64 * 48))
    src.open()
    try:
        assert src.read(1.0).image.shape == (48, 64, 3)
    finally:
        src.close()


def test_letterbox_refuses_a_frame_ncnn_cannot_hold():
    """The last guard before ncnn's int-sized resize, for a frame that bypassed every source check."""
    with pytest.raises(ValueError, match="above the 536870911-pixel limit"):
        letterbox(30000, 30000, 640)
    assert letterbox(MAX_PIXELS_LIMIT // 8, 8, 640).input_w == 640
