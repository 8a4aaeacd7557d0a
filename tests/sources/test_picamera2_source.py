"""PiCamera2Source with a fake Picamera2 (only the calls used), the one part that cannot exist here."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from edgecam.errors import SourceError
from edgecam.sources.picamera2 import MISSING_PICAMERA2, PiCamera2Source
from edgecam.sources.settings import CameraSettings

W, H, STRIDE = 640, 360, 704


def pattern_image() -> np.ndarray:
    """A smooth RGB test pattern (chroma subsampling keeps it almost exact)."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([x * 255 // W, y * 255 // H, (x + y) * 255 // (W + H)], axis=-1).astype(np.uint8)




def i420_with_stride(rgb: np.ndarray, stride: int) -> np.ndarray:
    """The (H*3/2, stride) YUV420 buffer picamera2 returns: each plane's rows padded to the stride."""
    h, w = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    y = np.full((h, stride), 16, np.uint8)
    y[:, :w] = i420[:h]
    chroma = []
    for k in range(2):
        plane = i420[h + k * h // 4 : h + (k + 1) * h // 4].reshape(h // 2, w // 2)
        padded = np.full((h // 2, stride // 2), 128, np.uint8)
        padded[:, : w // 2] = plane
        chroma.append(padded.reshape(h // 4, stride))
    return np.vstack([y] + chroma)


class FakePicamera2:
    """Implements only what PiCamera2Source calls."""

    instances: list["FakePicamera2"] = []

    def __init__(self, camera_num: int = 0, fail_capture_after: int | None = None) -> None:
        self.camera_num = camera_num
        self.calls: list[str] = []
        self.config_args: dict = {}
        self.captures = 0
        self.fail_capture_after = fail_capture_after
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, main, lores, controls, queue):
        self.config_args = {"main": main, "lores": lores, "controls": controls, "queue": queue}
        return {"main": dict(main), "lores": dict(lores), "controls": dict(controls)}

    def configure(self, config):
        self.calls.append("configure")
        self.configured = config

    def start(self):
        self.calls.append("start")

    def capture_array(self, name="main"):
        assert name == "lores"
        if self.fail_capture_after is not None and self.captures >= self.fail_capture_after:
            raise RuntimeError("Camera frontend has timed out!")
        self.captures += 1
        lores = self.configured["lores"]
        w, h = lores["size"]
        rgb = pattern_image() if (w, h) == (W, H) else np.zeros((h, w, 3), np.uint8)
        if lores["format"] == "YUV420":
            return i420_with_stride(rgb, STRIDE)
        if lores["format"] == "RGB888":  # libcamera RGB888 is [B, G, R] in memory, padded per row
            padded = np.zeros((h, STRIDE, 3), np.uint8)
            padded[:, :w] = rgb[..., ::-1]
            return padded[:, : w + 8]
        return rgb.copy()  # BGR888: [R, G, B]

    def stop(self):
        self.calls.append("stop")

    def close(self):
        self.calls.append("close")


def cam_settings(**kw) -> CameraSettings:
    return CameraSettings(source="picamera2", fps=10, **kw)


def test_yuv420_lores_converted_to_rgb_with_stride_cropped():
    src = PiCamera2Source(cam_settings(), camera_factory=FakePicamera2)
    assert src.live is True
    src.open()
    cam = FakePicamera2.instances[-1]
    assert cam.config_args == {
        "main": {"size": (1280, 720)},
        "lores": {"size": (W, H), "format": "YUV420"},
        "controls": {"FrameRate": 10.0},
        "queue": False,
    }
    assert cam.calls == ["configure", "start"]
    frame = src.read(1.0)
    assert frame.pixel_format == "RGB" and frame.image.shape == (H, W, 3) and frame.image.flags.c_contiguous
    # identical to converting the unpadded buffer, and close to the original picture
    reference = cv2.cvtColor(cv2.cvtColor(pattern_image(), cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420)
    assert np.array_equal(frame.image, reference)
    assert np.abs(frame.image.astype(int) - pattern_image()).mean() < 3
    assert src.read(1.0).index == 1
    src.close()
    src.close()
    assert cam.calls == ["configure", "start", "stop", "close"]


@pytest.mark.parametrize("fmt, order", [("RGB888", "BGR"), ("BGR888", "RGB")])
def test_pi5_rgb_formats(fmt, order):
    src = PiCamera2Source(cam_settings(format=fmt, width=1920, height=1080, path="1"), camera_factory=FakePicamera2)
    src.open()
    cam = FakePicamera2.instances[-1]
    assert cam.camera_num == 1 and cam.config_args["main"] == {"size": (1920, 1080)}
    frame = src.read(1.0)
    assert frame.pixel_format == order and frame.image.shape == (H, W, 3)
    rgb = frame.image if order == "RGB" else frame.image[..., ::-1]
    assert np.array_equal(rgb, pattern_image())


def test_capture_failure_is_a_source_error():
    src = PiCamera2Source(cam_settings(), camera_factory=lambda n: FakePicamera2(n, fail_capture_after=1))
    src.open()
    src.read(1.0)
    with pytest.raises(SourceError, match="capture failed: Camera frontend has timed out"):
        src.read(1.0)


def test_camera_open_failure_names_the_camera():
    def no_camera(num):
        raise IndexError("list index out of range")

    with pytest.raises(SourceError, match=r"cannot open Pi camera 0: .*rpicam-hello --list-cameras"):
        PiCamera2Source(cam_settings(), camera_factory=no_camera).open()


def test_configure_failure_closes_the_camera():
    class BadConfig(FakePicamera2):
        def configure(self, config):
            raise RuntimeError("lores stream must be YUV420 on this Pi")

    src = PiCamera2Source(cam_settings(format="RGB888"), camera_factory=BadConfig)
    with pytest.raises(SourceError, match="cannot start Pi camera 0: lores stream must be YUV420"):
        src.open()
    assert FakePicamera2.instances[-1].calls == ["stop", "close"]


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_missing_picamera2_gives_the_install_hint():
    with pytest.raises(SourceError) as info:
        PiCamera2Source(cam_settings()).open()
    assert str(info.value).startswith(MISSING_PICAMERA2)
    assert "sudo apt install python3-picamera2" in str(info.value) and "--system-site-packages" in str(info.value)


def test_camera_that_times_out_is_reopened_by_the_capture_thread():
    from edgecam.runtime.capture import CaptureThread

    settings = CameraSettings(source="picamera2", fps=50, reconnect_initial_s=0.01, reconnect_max_s=0.02)
    cams: list[FakePicamera2] = []

    def camera(num):
        cams.append(FakePicamera2(num, fail_capture_after=2))
        return cams[-1]

    cap = CaptureThread(lambda: PiCamera2Source(settings, camera_factory=camera), settings)
    cap.start()
    try:
        frames = []
        while len(frames) < 5:
            f = cap.get(10.0)
            assert f is not None, cap.stats()
            frames.append(f)
    finally:
        cap.stop(timeout=2.0)
    assert cap.reconnects >= 2 and len(cams) >= 3
    assert all(c.calls[-2:] == ["stop", "close"] for c in cams)  # every failed camera was released
    assert all(f.pixel_format == "RGB" and f.image.shape == (H, W, 3) for f in frames)
