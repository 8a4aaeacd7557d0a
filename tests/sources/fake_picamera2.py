"""A stand-in for picamera2 + libcamera on a Raspberry Pi: the one part of edgecam that cannot run here.

It implements only what ``edgecam.sources.picamera2`` calls, but each behaviour that matters follows the
real code; the comments cite it (raspberrypi/picamera2 at 3e6dff09, raspberrypi/libcamera at 26bfadc6):

* ``Picamera2.__init__`` (picamera2/picamera2.py) opens its ``notifyme`` pipe first, looks the camera up
  with ``global_camera_info()[camera_num]`` (a missing camera is a bare ``IndexError``), registers with
  the CameraManager, then ``_open_camera`` → ``camera.acquire()``, which raises
  ``RuntimeError("Failed to acquire camera: Device or resource busy")`` while another instance holds the
  camera (libcamera src/py/libcamera/py_main.cpp "acquire"; src/libcamera/camera.cpp Camera::acquire
  returns -EBUSY); ``__init__`` re-raises it as ``RuntimeError("Camera __init__ sequence did not
  complete.")`` from the cause. ``close()`` returns early when the camera never opened, so the pipe of a
  failed ``__init__`` is never closed: its write end leaks (the read end is a file object, closed when
  collected).
* ``create_video_configuration`` rounds sizes down to even (``align_stream(optimal=False)``), defaults
  the lores format to YUV420, and picks the colour space by main size: Smpte170m below 1280×720, else
  Rec709.
* ``configure`` → ``check_camera_config``: odd sizes, lores larger than main, and on VC4 (Pi 4 and
  older) a non-YUV lores ("lores stream must be YUV") raise ``RuntimeError``. Then libcamera's
  ``validate()`` may adjust sizes (src/libcamera/pipeline/rpi/vc4/vc4.cpp platformValidate bounds each
  ISP output by output 0; pisp/pisp.cpp platformValidate raises an output below the resampler's 16×
  minimum) and forces every YUV stream onto one colour space, the first valid one given — the main
  stream's (pipeline/rpi/common/pipeline_base.cpp validateColorSpaces). ``_update_camera_config`` writes
  the granted size, stride and colour space back, readable with ``stream_configuration(name)``.
* ``capture_array(name, wait)`` → ``dispatch_functions``: a ``Job`` (picamera2/job.py) whose
  ``concurrent.futures.Future`` is completed by the next frame; ``wait=None``/``True`` block forever,
  a number raises ``TimeoutError`` after that many seconds, ``False`` returns the job for
  ``Picamera2.wait(job, timeout)``. With ``queue=False`` (``_max_queue_len = 0``) only a frame that
  completes after the call serves it.
* A frontend timeout (pipeline_base.cpp CameraData::cameraTimeout) only logs "Camera frontend has timed
  out!", stops streaming and cancels the outstanding requests; picamera2's
  ``CameraManager.handle_request`` keeps only completed requests, so pending captures get nothing and no
  exception — until the camera is stopped and started again.
* ``cancel_all_and_flush`` fails pending jobs with ``CancelledError``. ``stop()`` while the event loop
  runs is itself a job queued behind the pending ones, so with a hung capture it never returns (why
  ``cancel_all_and_flush`` exists); here it raises after a guard time instead of hanging the tests.
* ``make_array``/``_make_array_shared`` (picamera2/request.py): YUV420 is ``(h * 3 // 2, stride)``
  with the padding kept; RGB888/BGR888 is ``(h, w, 3)`` with it cut off.
* ``capture_request(wait)`` is ``capture_array``'s sibling: its job completes with a ``CompletedRequest``
  (``make_array(name)`` a copy, ``get_metadata()`` with ``SensorTimestamp``: ns on the monotonic clock
  (libcamera passes the V4L2 buffer's CLOCK_MONOTONIC time on) at the start of the exposure, here
  ``SENSOR_LEAD_NS`` before the frame is delivered) that must be ``release()``d: every unreleased request
  holds one of the camera's ``BUFFERS`` buffers, and without a free one no frame completes.
  ``make_array("main")``: the main stream, XBGR8888 by default (``create_video_configuration``), an
  ``(h, w, 4)`` array of R, G, B, X bytes (request.py ``_make_array_shared``; PIL mode "RGBX").
* The camera thread hands every completed request to each started encoder (``encoder.encode(encoder.name,
  req)``, picamera2.py ``process_requests``); ``start_encoder``/``stop_encoder`` and the encoder itself are
  in fake_picamera2_encoder.py.
* A ``scene`` (RGB images, each held for ``hold`` frames) replaces the colour bars, so a real detector
  sees something; it is scaled to every stream.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np

from edgecam.sources.picamera2 import CameraStack
from tests.sources.fake_picamera2_encoder import EncodingCamera, H264Encoder, Output
from tests.sources.yuv_reference import colour_bars, pack_i420, rgb_to_yuv444

log = logging.getLogger(__name__)

STOP_GUARD_S = 10.0
SENSOR_LEAD_NS = 30_000_000  # exposure start → frame delivered (a 30 ms exposure + readout)
BUFFERS = 4


class CompletedRequest:
    def __init__(self, camera: "Picamera2", array: np.ndarray, sensor_ns: int, main: np.ndarray | None = None,
                 held: bool = True) -> None:
        self._camera, self._array, self._sensor_ns, self._main = camera, array, sensor_ns, main
        self.released = not held  # a request only lent to the encoders is released by the camera thread

    def make_array(self, name: str) -> np.ndarray:
        assert name in ("lores", "main"), name
        if name == "main":
            self._camera.main_arrays += 1
            return self._main.copy()
        assert not self.released
        return self._array.copy()

    def get_metadata(self) -> dict[str, Any]:
        return {"SensorTimestamp": self._sensor_ns, "FrameDuration": 33333}

    def release(self) -> None:
        if not self.released:
            self.released = True
            with self._camera._cond:
                self._camera.held -= 1


class _Enum(SimpleNamespace):
    """Just enough of a pybind11 enum value: a ``name``."""


class ColorSpace:
    """libcamera.ColorSpace presets (src/py/libcamera/py_color_space.cpp): only the fields used."""

    def __init__(self, name: str, ycbcr: str, range_: str) -> None:
        self._name = name
        self.ycbcrEncoding = _Enum(name=ycbcr)
        self.range = _Enum(name=range_)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColorSpace) and self._name == other._name

    def __hash__(self) -> int:
        return hash(self._name)

    def __str__(self) -> str:
        return self._name

    @staticmethod
    def Sycc() -> "ColorSpace":
        return ColorSpace("sYCC", "Rec601", "Full")

    @staticmethod
    def Smpte170m() -> "ColorSpace":
        return ColorSpace("SMPTE170M", "Rec601", "Limited")

    @staticmethod
    def Rec709() -> "ColorSpace":
        return ColorSpace("Rec709", "Rec709", "Limited")


_VALID_COLOUR_SPACES = ("sYCC", "SMPTE170M", "Rec709")  # pipeline_base.cpp validColorSpaces
_ENCODING = {"Rec601": "bt601", "Rec709": "bt709"}


@dataclass
class FakeCameraSystem:
    """The machine: which SoC, which cameras, whether each sensor's frontend delivers."""

    platform: str = "vc4"  # "vc4" (Pi 4 and older) or "pisp" (Pi 5)
    cameras: int = 1
    fps: float = 50.0
    grant_colour_space: str | None = None  # force what libcamera grants (None: what was asked)
    sensor_ok: bool = True
    scene: list | None = None  # RGB images shown in turn (None: colour bars)
    hold: int | list = 1  # frames each scene image is shown for (one number for all, or one per image)
    acquired: set = field(default_factory=set)
    instances: list = field(default_factory=list)
    failed_inits: list = field(default_factory=list)
    pipes: list = field(default_factory=list)  # (fd, (st_dev, st_ino)) of every notifyme pipe end opened
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stack(self) -> CameraStack:
        system = self
        cls = type("Picamera2", (FakePicamera2,), {"system": system})
        return CameraStack(Picamera2=cls, ColorSpace=ColorSpace, H264Encoder=H264Encoder, Output=Output)

    def open_pipe_fds(self) -> list[int]:
        """The notifyme pipe ends this system's cameras opened that are still open. Checked by identity
        (device, inode), not by counting /proc/self/fd, so another test's socket being collected
        meanwhile, or a closed fd number being reused, cannot change the answer."""
        still = []
        for fd, ident in self.pipes:
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == ident:
                still.append(fd)
        return still

    def frontend_timeout(self) -> None:
        """The ribbon cable comes loose: every streaming camera stops delivering, silently."""
        self.sensor_ok = False
        for cam in list(self.instances):
            cam._frontend_timeout()

    def reconnect_sensor(self) -> None:
        """The sensor is back; a camera that timed out stays dead until it is stopped and started."""
        self.sensor_ok = True


class FakePicamera2(EncodingCamera):
    system: FakeCameraSystem  # set on the per-system subclass made by FakeCameraSystem.stack

    @classmethod
    def global_camera_info(cls) -> list[dict[str, Any]]:
        return [{"Model": "imx708", "Location": 2, "Rotation": 180, "Id": f"/base/i2c@{i}/imx708@1a", "Num": i}
                for i in range(cls.system.cameras)]

    def __init__(self, camera_num: int = 0) -> None:
        system = self.system
        self.notifyme_r, self.notifyme_w = os.pipe2(os.O_NONBLOCK)  # first, as in picamera2
        self.notifymeread = os.fdopen(self.notifyme_r, "rb")
        for fd in (self.notifyme_r, self.notifyme_w):
            st = os.fstat(fd)
            system.pipes.append((fd, (st.st_dev, st.st_ino)))
        self.is_open = False
        self.started = False
        self.camera_config: dict[str, Any] = {}
        self._jobs: list[concurrent.futures.Future] = []
        self._request_jobs: set[int] = set()  # ids of the jobs made by capture_request
        self.held = 0  # completed requests not released yet (each holds a buffer)
        self.last_sensor_ns = 0
        self.sensor_log: list[int] = []  # SensorTimestamp of every frame
        self._cond = threading.Condition()
        self._dead = False  # frontend timed out while streaming
        self._thread: threading.Thread | None = None
        self._frame: np.ndarray | None = None
        self._buffers: list[tuple[np.ndarray, np.ndarray]] = []  # (lores, main) per scene image
        self._encoders: set = set()
        self.main_arrays = 0  # main-stream copies made (make_array("main"))
        self.frames = 0
        camera_num = self.global_camera_info()[camera_num]["Num"]  # IndexError for a missing camera
        self.camera_idx = camera_num
        try:
            with system.lock:  # _open_camera → camera.acquire()
                if camera_num in system.acquired:
                    raise RuntimeError("Failed to acquire camera: Device or resource busy")
                system.acquired.add(camera_num)
        except Exception as e:
            system.failed_inits.append(camera_num)
            raise RuntimeError("Camera __init__ sequence did not complete.") from e
        self.is_open = True
        system.instances.append(self)

    # -- configuration -------------------------------------------------------------------------
    def create_video_configuration(self, main={}, lores=None, colour_space=None, controls={}, queue=True,
                                   **_ignored) -> dict[str, Any]:
        main = {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True} | dict(main)
        main["size"] = _even(main["size"])
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], "preserve_ar": False} | dict(lores)
            lores["size"] = _even(lores["size"])
        if colour_space is None:
            small = main["size"][0] < 1280 or main["size"][1] < 720
            colour_space = ColorSpace.Smpte170m() if small else ColorSpace.Rec709()
        return {"colour_space": colour_space, "main": main, "lores": lores, "controls": dict(controls),
                "queue": queue, "buffer_count": 6}

    def configure(self, config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
        for name in ("main", "lores"):  # check_stream_config
            stream = config[name]
            if stream is None:
                continue
            if stream["format"] not in ("YUV420", "YVU420", "RGB888", "BGR888", "XBGR8888", "XRGB8888"):
                raise RuntimeError(f"Bad format {stream['format']} in stream {name}")
            if stream["size"][0] % 2 or stream["size"][1] % 2:
                raise RuntimeError("width and height should be even")
        lores, main = config["lores"], config["main"]
        if lores is not None:  # check_camera_config
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if self.system.platform == "vc4" and lores["format"] not in ("YUV420", "YVU420"):
                raise RuntimeError("lores stream must be YUV")
            lores["size"] = self._validated_size(lores["size"], main["size"])
            lores["stride"] = _stride(lores["format"], lores["size"][0])
        granted = self.system.grant_colour_space
        cs = config["colour_space"]
        if granted is not None:
            cs = getattr(ColorSpace, granted)()
        if str(cs) not in _VALID_COLOUR_SPACES:
            cs = ColorSpace.Sycc()
        config["colour_space"] = cs
        self.camera_config = config
        main["stride"] = main["size"][0] * 4
        if self.system.scene:
            images = self.system.scene
            self._buffers = [(self._render(config, image), _rgbx(image, main["size"])) for image in images]
        else:  # colour bars drawn at each stream's own size
            images = [None]
            self._buffers = [(self._render(config, colour_bars(*lores["size"])),
                              _rgbx(colour_bars(*main["size"]), main["size"]))]
        self._frame = self._buffers[0][0]
        holds = self.system.hold if isinstance(self.system.hold, list) else [self.system.hold] * len(images)
        self._sequence = [i for i, n in enumerate(holds) for _ in range(max(1, n))]

    def _validated_size(self, size: tuple[int, int], main: tuple[int, int]) -> tuple[int, int]:
        w, h = min(size[0], main[0]), min(size[1], main[1])  # vc4.cpp: bounded by output 0
        if self.system.platform == "pisp":  # pisp.cpp, resampler only on output 1: (out - 1) * 16 <= in - 1
            raw_w, raw_h = 2304, 1296  # the imx708 mode a 1280x720 main selects
            min_w = ((raw_w - 1 + 15) // 16 + 1 + 1) & ~1
            min_h = ((raw_h - 1 + 15) // 16 + 1 + 1) & ~1
            if w < min_w:
                w, h = min_w, (h * min_w // w + 1) & ~1
            if h < min_h:
                w, h = (w * min_h // h + 1) & ~1, min_h
        return w, h

    def stream_configuration(self, name: str = "main") -> dict[str, Any]:
        return self.camera_config[name]

    def camera_configuration(self) -> dict[str, Any]:
        return self.camera_config

    def _render(self, config: dict[str, Any], image: np.ndarray) -> np.ndarray:
        """The lores buffer of a frame showing ``image`` (RGB), encoded as the ISP would."""
        lores = config["lores"]
        w, h = lores["size"]
        rgb = image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        if lores["format"] in ("YUV420", "YVU420"):
            cs = config["colour_space"]
            yuv = rgb_to_yuv444(rgb, _ENCODING[cs.ycbcrEncoding.name], cs.range.name == "Full")
            return pack_i420(yuv, lores["stride"])
        return np.ascontiguousarray(rgb[..., ::-1] if lores["format"] == "RGB888" else rgb)  # RGB888 is B,G,R

    # -- streaming -----------------------------------------------------------------------------
    def start(self) -> None:
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        if self.started:
            return
        self.started = True
        self._dead = False
        self._thread = threading.Thread(target=self._stream, name="fake-libcamera", daemon=True)
        self._thread.start()

    def _stream(self) -> None:
        period = 1.0 / self.system.fps
        with self._cond:
            while self.started:
                self._cond.wait(period)
                if not self.started or self._dead:
                    continue
                if not self.system.sensor_ok:
                    self._frontend_timeout_locked()
                    continue
                if self.held >= BUFFERS:  # every buffer is held by an unreleased request: no frame
                    continue
                lores, main = self._buffers[self._sequence[self.frames % len(self._sequence)]]
                self.frames += 1
                self.last_sensor_ns = time.monotonic_ns() - SENSOR_LEAD_NS
                self.sensor_log.append(self.last_sensor_ns)
                if self._jobs:  # process_requests: the first job takes the frame (capture_array_)
                    job = self._jobs.pop(0)
                    if id(job) in self._request_jobs:
                        self._request_jobs.discard(id(job))
                        self.held += 1
                        job.set_result(CompletedRequest(self, lores.copy(), self.last_sensor_ns, main))
                    else:
                        job.set_result(lores.copy())
                # else: queue=False keeps nothing; the request goes back to libcamera
                for encoder in list(self._encoders):  # then every request goes to the encoders
                    encoder.encode(encoder.name, CompletedRequest(self, lores, self.last_sensor_ns, main, False))

    def _frontend_timeout(self) -> None:
        with self._cond:
            self._frontend_timeout_locked()

    def _frontend_timeout_locked(self) -> None:
        if self.started and not self._dead:
            log.error("Camera frontend has timed out!")
            self._dead = True

    def capture_array(self, name: str = "main", wait: Any = None, signal_function: Any = None) -> Any:
        assert name == "lores", name
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        with self._cond:
            self._jobs.append(future)
        if wait is None:
            wait = signal_function is None
        if wait is False:
            return future
        return future.result(timeout=None if wait is True else wait)

    def capture_request(self, wait: Any = None, flush: Any = None, signal_function: Any = None) -> Any:
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        with self._cond:
            self._jobs.append(future)
            self._request_jobs.add(id(future))
        if wait is None:
            wait = signal_function is None
        if wait is False:
            return future
        return future.result(timeout=None if wait is True else wait)

    def wait(self, job: concurrent.futures.Future, timeout: float | None = None) -> Any:
        return job.result(timeout=timeout)

    def cancel_all_and_flush(self) -> None:
        with self._cond:
            for job in self._jobs:
                job.set_exception(concurrent.futures.CancelledError())
            self._jobs = []

    def stop(self) -> None:
        if not self.started:
            return
        with self._cond:
            # the stop job waits behind pending capture jobs; they finish only when frames come
            if not self._cond.wait_for(lambda: not self._jobs or not self.started, STOP_GUARD_S):
                raise AssertionError("stop() behind a hung capture job: the real picamera2 would hang forever")
            self.started = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        if not self.is_open:
            return
        self.stop()
        with self.system.lock:
            self.system.acquired.discard(self.camera_idx)
        self.is_open = False
        self.notifymeread.close()
        os.close(self.notifyme_w)
        if self in self.system.instances:
            self.system.instances.remove(self)


def _rgbx(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The main stream's XBGR8888 buffer showing ``image`` (RGB): R, G, B, X bytes per pixel."""
    w, h = size
    rgb = image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.dstack([rgb, np.full((h, w), 255, np.uint8)]))


def _even(size: tuple[int, int]) -> tuple[int, int]:
    return (size[0] - size[0] % 2, size[1] - size[1] % 2)


def _stride(fmt: str, width: int) -> int:
    """Bytes per row: the ISP pads rows to a multiple of 64 bytes (chroma rows to half of that)."""
    bpp = 1 if fmt in ("YUV420", "YVU420") else 3
    return -(-width * bpp // 64) * 64
