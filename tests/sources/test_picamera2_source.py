"""PiCamera2Source against the fake camera stack of tests/sources/fake_picamera2.py (the Pi camera
cannot exist here; the fake follows picamera2's and libcamera's own code where it matters)."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from edgecam.errors import ConfigError, SourceError, UsageError
from edgecam.runtime.capture import CaptureThread
from edgecam.sources.picamera2 import MISSING_PICAMERA2, PiCamera2Source
from edgecam.sources.settings import PiCamera2Settings
from polling import WAIT, read_frame
from tests.sources.fake_picamera2 import FakeCameraSystem
from tests.sources.yuv_reference import colour_bars


def cam_settings(**kw) -> PiCamera2Settings:
    return PiCamera2Settings(**{"fps": 50, **kw})


def max_error(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def opened(system: FakeCameraSystem, **kw) -> PiCamera2Source:
    src = PiCamera2Source(cam_settings(**kw), stack=system.stack)
    src.open()
    return src




def test_default_yuv420_lores_has_the_right_colours():
    """Main 1280x720 would make the lores Rec.709; the source asks for BT.601 and decodes it as such."""
    system = FakeCameraSystem()
    src = opened(system)
    cam = system.instances[-1]
    assert cam.camera_config["main"]["size"] == (1280, 720)
    assert str(cam.camera_config["colour_space"]) == "SMPTE170M"
    assert cam.camera_config["controls"] == {"FrameRate": 50.0} and cam.camera_config["queue"] is False
    frame = read_frame(src)
    assert frame.pixel_format == "RGB" and frame.image.shape == (360, 640, 3) and frame.image.flags.c_contiguous
    assert max_error(frame.image, colour_bars(640, 360)) <= 2
    assert read_frame(src).index == 1
    src.close()
    src.close()  # safe twice
    assert system.acquired == set() and system.instances == []


def test_frames_carry_the_sensor_timestamp_and_every_request_is_released():
    """The capture time is the exposure start (SensorTimestamp, monotonic ns) mapped to the wall clock,
    not the read time; each completed request is released, or the camera would run out of buffers."""
    from tests.sources.fake_picamera2 import BUFFERS, SENSOR_LEAD_NS

    system = FakeCameraSystem()
    src = opened(system)
    cam = system.instances[-1]
    wall_minus_mono = time.time() - time.monotonic_ns() / 1e9
    for _ in range(3 * BUFFERS):  # more frames than the camera has buffers: each request went back
        frame = read_frame(src)
        read_at = time.time()
        mapped = [wall_minus_mono + ns / 1e9 for ns in cam.sensor_log]
        assert min(abs(frame.timestamp - m) for m in mapped) < 0.01  # one frame's SensorTimestamp
        assert frame.timestamp <= read_at - SENSOR_LEAD_NS / 1e9 + 0.005  # the exposure began before delivery
    assert cam.held == 0
    src.close()


@pytest.mark.parametrize("granted", ["Rec709", "Sycc"])
def test_granted_colour_space_is_read_back(granted):
    """Whatever colour space libcamera grants (here forced), the frame is decoded with its matrix and range."""
    system = FakeCameraSystem(grant_colour_space=granted)
    src = opened(system)
    assert max_error(read_frame(src).image, colour_bars(640, 360)) <= 2
    src.close()


@pytest.mark.parametrize("platform", ["vc4", "pisp"])
def test_odd_sizes_deliver_frames_at_the_granted_size(platform):
    system = FakeCameraSystem(platform=platform)
    src = opened(system, lores_width=641, lores_height=361, width=1281, height=721)
    assert system.instances[-1].camera_config["main"]["size"] == (1280, 720)
    frame = read_frame(src)
    assert frame.image.shape == (360, 640, 3)
    assert max_error(frame.image, colour_bars(640, 360)) <= 2
    src.close()


def test_size_adjusted_by_libcamera_is_used_with_its_stride():
    """On a Pi 5 a lores far below the sensor mode is raised to the resampler's minimum (and its
    stride is padded): the frame has the granted size, not the configured one."""
    system = FakeCameraSystem(platform="pisp")
    src = opened(system, lores_width=64, lores_height=64)
    lores = system.instances[-1].stream_configuration("lores")
    w, h = lores["size"]
    assert (w, h) != (64, 64) and lores["stride"] > w
    frame = read_frame(src)
    assert frame.image.shape == (h, w, 3)
    assert max_error(frame.image, colour_bars(w, h)) <= 2
    src.close()


@pytest.mark.parametrize("fmt, order", [("RGB888", "BGR"), ("BGR888", "RGB")])
def test_pi5_rgb_formats(fmt, order):
    system = FakeCameraSystem(platform="pisp", cameras=2)
    src = opened(system, format=fmt, width=1920, height=1080, path="1")
    cam = system.instances[-1]
    assert cam.camera_idx == 1 and cam.camera_config["main"]["size"] == (1920, 1080)
    frame = read_frame(src)
    assert frame.pixel_format == order and frame.image.shape == (360, 640, 3)
    rgb = frame.image if order == "RGB" else frame.image[..., ::-1]
    assert np.array_equal(rgb, colour_bars(640, 360))
    src.close()


def test_pi4_rgb888_lores_stops_capture_with_one_line():
    system = FakeCameraSystem(platform="vc4")
    settings = cam_settings(format="RGB888")
    made = []

    def source():
        made.append(PiCamera2Source(settings, stack=system.stack))
        return made[-1]

    cap = CaptureThread(source, settings)
    cap.start()
    try:
        assert cap.get(WAIT) is None and cap.done
    finally:
        cap.stop(timeout=2.0)
    assert cap.state == "failed" and isinstance(cap.error, ConfigError) and len(made) == 1  # not retried
    message = str(cap.error)
    assert "\n" not in message and "lores stream must be YUV" in message and 'set format = "YUV420"' in message
    assert system.acquired == set()  # the camera was released


def test_missing_camera_is_named_without_constructing_picamera2():
    system, empty = FakeCameraSystem(cameras=1), FakeCameraSystem(cameras=0)
    with pytest.raises(SourceError, match=r"Pi camera 1 not found \(cameras: 0: imx708\); set \[camera\] path"):
        opened(system, path="1")
    with pytest.raises(SourceError, match=r"no Pi camera found .*rpicam-hello --list-cameras"):
        opened(empty)
    assert system.pipes == [] and empty.pipes == []  # Picamera2 was never constructed


def test_fake_raises_the_real_exception_types():
    """What picamera2 itself raises (no edgecam code involved): IndexError for a missing camera,
    RuntimeError from libcamera's EBUSY wrapped by __init__ for a busy one."""
    system = FakeCameraSystem(cameras=1)
    with pytest.raises(IndexError):
        system.stack.Picamera2(1)
    holder = system.stack.Picamera2(0)
    with pytest.raises(RuntimeError, match=r"Camera __init__ sequence did not complete\.") as info:
        system.stack.Picamera2(0)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value.__cause__) == "Failed to acquire camera: Device or resource busy"
    holder.close()


def test_busy_camera_keeps_the_cause_and_leaks_no_fd():
    system = FakeCameraSystem()
    holder = system.stack.Picamera2(0)  # another process has the camera
    for _ in range(20):
        with pytest.raises(SourceError) as info:
            opened(system)
        message = str(info.value)
        assert "Camera __init__ sequence did not complete." in message
        assert "Failed to acquire camera: Device or resource busy" in message
        assert "another process holds the camera" in message and "\n" not in message
    assert len(system.failed_inits) == 20 and len(system.pipes) == 2 + 40
    assert system.open_pipe_fds() == [holder.notifyme_r, holder.notifyme_w]  # picamera2's leaked pipes are closed
    holder.close()
    src = opened(system)  # released: it opens
    assert read_frame(src) is not None
    src.close()


def test_capture_waits_at_most_the_read_timeout_and_close_releases_a_hung_capture():
    system = FakeCameraSystem()
    src = opened(system)
    assert read_frame(src) is not None
    system.frontend_timeout()  # no frame ever again from this session, and no exception
    assert src.read(0.05) is None and src.read(0.05) is None
    assert len(system.open_pipe_fds()) == 2
    src.close()  # cancel_all_and_flush, stop, close: the camera is free again
    assert system.acquired == set() and system.open_pipe_fds() == []  # its notify pipe is closed
    system.reconnect_sensor()
    again = opened(system)
    assert read_frame(again) is not None
    again.close()


class _ImportProbe:
    """A real ``picamera2`` package on sys.path whose import fails the way a broken install does."""

    def __init__(self, tmp_path, monkeypatch, body: str):
        for name, text in (("libcamera", "class ColorSpace: pass\n"), ("picamera2", body)):
            pkg = tmp_path / name
            pkg.mkdir()
            (pkg / "__init__.py").write_text(text)
            monkeypatch.delitem(__import__("sys").modules, name, raising=False)
        monkeypatch.syspath_prepend(str(tmp_path))


def test_numpy_abi_mismatch_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    _ImportProbe(tmp_path, monkeypatch, 'raise ValueError("numpy.dtype size changed, may indicate binary '
                                        'incompatibility. Expected 96 from C header, got 88 from PyObject")\n')
    with pytest.raises(UsageError) as info:
        PiCamera2Source(cam_settings()).open()
    message = str(info.value)
    assert message.startswith("pip installed a numpy the Raspberry Pi camera stack was not built for; "
                              "reinstall with the system numpy")
    assert "ValueError: numpy.dtype size changed" in message and "\n" not in message


def test_other_import_failure_names_the_exception(tmp_path, monkeypatch):
    _ImportProbe(tmp_path, monkeypatch, 'raise OSError("libcamera.so.0.5: cannot open shared object file")\n')
    with pytest.raises(UsageError, match=r"picamera2\) cannot be imported: OSError: libcamera\.so\.0\.5"):
        PiCamera2Source(cam_settings()).open()


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_missing_picamera2_gives_the_install_hint():
    with pytest.raises(UsageError) as info:
        PiCamera2Source(cam_settings()).open()
    assert str(info.value).startswith(MISSING_PICAMERA2)
    assert "sudo apt install python3-picamera2" in str(info.value) and "--system-site-packages" in str(info.value)
