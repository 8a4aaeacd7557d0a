"""The ``yuv420:`` bench source: picamera2-like I420 buffers, converted only for frames taken (and only
to the size asked for)."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from edgecam.evaluation.yuv_replay import Yuv420ReplaySource, i420_buffer
from edgecam.runtime.capture import CaptureThread
from edgecam.sources import yuv
from edgecam.sources.settings import ImagesSettings
from edgecam.sources.yuv import YuvFrame
from sharedkit import HORSE as HORSE_JPG

HORSE = str(HORSE_JPG)


@pytest.mark.parametrize("stride", [None, 704])
def test_buffer_round_trips_through_the_camera_conversion(stride):
    bgr = cv2.imread(HORSE)
    buf = i420_buffer(bgr, 640, 360, stride)
    assert buf.shape == (540, stride or 640) and buf.dtype == np.uint8
    src = Yuv420ReplaySource([HORSE], 640, 360, stride)
    src.open()
    raw = src.read(0.1)
    assert isinstance(raw, YuvFrame) and raw.buffer is not buf
    frame = raw
    assert frame.image.shape == (360, 640, 3) and frame.pixel_format == "RGB"
    # horse.jpg (773×512) centre-cropped to 16:9, scaled: colours survive the I420 round trip
    h, w = bgr.shape[:2]
    ch = w * 360 // 640
    want = cv2.cvtColor(cv2.resize(bgr[(h - ch) // 2:(h - ch) // 2 + ch], (640, 360), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2RGB)
    assert np.abs(frame.image.astype(int) - want).mean() < 6


def test_odd_sizes_and_short_strides_are_refused():
    bgr = np.zeros((100, 100, 3), np.uint8)
    for args in ((641, 360, None), (640, 360, 600), (640, 360, 641)):
        with pytest.raises(ValueError, match="even"):
            i420_buffer(bgr, *args)


def test_only_the_frames_the_pipeline_takes_are_converted(monkeypatch):
    """A camera delivering faster than the consumer: replaced buffers are never converted."""
    converted = []
    real = yuv.yuv420_to_rgb

    def counting(*args, **kwargs):
        converted.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(yuv, "yuv420_to_rgb", counting)
    cap = CaptureThread(lambda: Yuv420ReplaySource([HORSE], 320, 180), ImagesSettings(path=HORSE, fps=500))
    cap.start()
    try:
        taken = []
        while cap.slot.dropped < 20:  # the capture thread replaced at least 20 unconsumed buffers
            frame = cap.get(5.0)
            assert frame is not None
            taken.append(frame.scaled(160, 90))
            threading.Event().wait(0.02)  # a slow consumer
    finally:
        cap.stop()
    assert len(converted) == len(taken)
    assert set(converted) == {threading.current_thread().name}  # in the consumer, not in the capture thread
