"""The Raspberry Pi camera through picamera2: a main stream plus a low-resolution stream for detection.

On a Pi 4 (VC4 ISP) the lores stream exists only as YUV420; it is handed over as a
:class:`~edgecam.sources.yuv.YuvFrame` that is decoded with the stream's own colour space (the source
asks for BT.601 "Smpte170m", what OpenCV decodes fastest), row padding (stride) cropped, only where
pixels are needed and at the size they are needed (the detector's letterbox size). A Pi 5 can deliver RGB888/BGR888 directly (``[camera] format``).
The size used is the one picamera2/libcamera granted (they round to even and may adjust), not the one
asked for. Every capture waits at most the read timeout, so a camera whose frontend timed out (it just
stops delivering) is noticed by the capture supervisor, flushed, stopped and closed — releasing it for
the next session. ``picamera2`` (and libcamera) are not pip-installable; they are imported only when
the camera opens.

Two optional capabilities serve the event history (both cost nothing unless used):

* :meth:`PiCamera2Source.set_main_image_sink`: when the sink ``wanted()`` a picture, the next capture also
  copies its main-stream buffer (same request as the lores frame) and hands it over as a :class:`Frame`, so
  an event's snapshot has the main stream's resolution rather than the lores one;
* :meth:`PiCamera2Source.set_packet_sink`: picamera2's H.264 encoder runs on the main stream and its packets
  go to the sink (event clips with pre-roll; ``picamera2_clips.py``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, NamedTuple

import numpy as np

from edgecam.domain import Frame
from edgecam.errors import ConfigError, SourceError, UsageError
from edgecam.sources.pi_platform import MISSING_PICAMERA2, import_problem
from edgecam.sources.settings import PiCamera2Settings
from edgecam.sources.yuv import YuvFrame

log = logging.getLogger(__name__)

DEFAULT_MAIN_SIZE = (1280, 720)
YUV_FORMATS = ("YUV420", "YVU420")

# libcamera names formats by their packed word order: "RGB888" arrays are [B, G, R] per pixel.
_PIXEL_ORDER = {"RGB888": "BGR", "BGR888": "RGB", "XRGB8888": "BGR", "XBGR8888": "RGB"}
_MATRIX = {"Rec601": "bt601", "Rec709": "bt709"}

__all__ = ["CameraStack", "MISSING_PICAMERA2", "PiCamera2Source"]


class CameraStack(NamedTuple):
    """What the source uses from the camera stack: ``picamera2.Picamera2`` and ``libcamera.ColorSpace``;
    for clips ``picamera2.encoders.H264Encoder`` and ``picamera2.outputs.Output`` (None: imported when needed)."""

    Picamera2: Any
    ColorSpace: Any
    H264Encoder: Any = None
    Output: Any = None


def _import_picamera2() -> CameraStack:
    """The camera stack, or one line naming why it cannot be imported (a usage error: exit 2)."""
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]  # imports libcamera itself
        import libcamera  # type: ignore[import-not-found]
    except Exception as exc:  # ImportError, numpy ABI ValueError, a broken install...
        raise UsageError(import_problem(exc)) from exc
    return CameraStack(Picamera2=Picamera2, ColorSpace=libcamera.ColorSpace)


class PiCamera2Source:
    """Frames from the lores stream of a Pi camera (RGB for YUV420)."""

    kind = "picamera2"
    live = True

    def __init__(
        self,
        settings: PiCamera2Settings,
        base_dir: str | os.PathLike | None = None,
        stack: CameraStack | None = None,
    ) -> None:
        self._settings = settings
        self._stack = stack
        self._camera_num = int(settings.path) if settings.path.strip() else 0
        self._cam: Any = None
        self._job: Any = None
        self._lores: dict[str, Any] = {}
        self._decode: tuple[str, bool] = ("bt601", False)
        self._index = 0
        self._main_sink: Any = None
        self._packet_sink: Any = None
        self._encoder: Any = None
        self.name = f"picamera2:{self._camera_num}"

    # -- optional capabilities (the event history) -----------------------------------------------
    def set_main_image_sink(self, sink: Any) -> None:
        """``sink.wanted()`` → bool (asked once per capture; cheap) and ``sink.deliver(frame)`` (a main-stream
        :class:`Frame`, from the same capture request as the lores frame read with it)."""
        self._main_sink = sink

    def set_packet_sink(self, sink: Any) -> None:
        """``sink(packet, stream, wall_time)`` gets picamera2's H.264 packets of the main stream (set before
        :meth:`open`): the encoder runs while the camera does."""
        self._packet_sink = sink

    @classmethod
    def packets_cost_nothing(cls, settings: Any = None) -> bool:
        """True where the H.264 encoder is the hardware one (Pi 4); a Pi 5 would encode in software."""
        from edgecam.sources.picamera2_clips import hardware_h264_encoder

        return hardware_h264_encoder()

    @classmethod
    def from_settings(cls, settings: PiCamera2Settings, base_dir: str | os.PathLike | None = None) -> "PiCamera2Source":
        """The source of ``[camera]``; relative paths resolve against ``base_dir`` (the config's directory)."""
        return cls(settings, base_dir=base_dir)

    def configuration(self, cam: Any, stack: CameraStack) -> Any:
        """The video configuration for ``cam``: main + lores streams at the configured rate."""
        s = self._settings
        main = (s.width, s.height) if s.width and s.height else DEFAULT_MAIN_SIZE
        return cam.create_video_configuration(
            main={"size": main},
            lores={"size": (s.lores_width, s.lores_height), "format": s.format},
            # the lores YUV takes this colour space; without it, a main of 1280x720 or more makes it Rec.709
            colour_space=stack.ColorSpace.Smpte170m(),
            controls={"FrameRate": float(s.fps)},
            queue=False,  # every capture is a frame that started after the request: the freshest
        )

    # -- open ------------------------------------------------------------------------------------
    def open(self) -> None:
        stack = self._stack or _import_picamera2()
        self._check_present(stack)
        try:
            cam = stack.Picamera2(self._camera_num)
        except Exception as exc:
            _close_leaked_pipe(exc, stack.Picamera2)
            raise SourceError(self._open_failure(exc)) from exc
        try:
            cam.configure(self.configuration(cam, stack))
        except Exception as exc:
            _close_quietly(cam)
            raise ConfigError(self._configure_failure(exc)) from exc
        try:
            self._read_back(cam)
            cam.start()
        except Exception as exc:
            _close_quietly(cam)
            raise SourceError(f"cannot start Pi camera {self._camera_num}: {_chain(exc)}") from exc
        if self._packet_sink is not None:
            self._start_encoder(cam, stack)
        if not hasattr(cam, "cancel_all_and_flush"):
            log.warning("picamera2 is older than 0.3.20: a camera that stops delivering may not be released "
                        "until restart; update it (`sudo apt full-upgrade`)")
        self._cam = cam

    def _start_encoder(self, cam: Any, stack: CameraStack) -> None:
        """Clips come from picamera2's H.264 encoder; a failure leaves the camera running without clips."""
        from edgecam.sources.picamera2_clips import start_clip_encoder

        try:
            self._encoder = start_clip_encoder(cam, stack, self._packet_sink, float(self._settings.fps),
                                               sensor_wall_time)
        except Exception as exc:  # noqa: BLE001 - detection goes on
            self._encoder = None
            log.warning("Pi camera %d: cannot start picamera2's H.264 encoder (%s); events get no clips this "
                        "session", self._camera_num, _chain(exc))

    def _check_present(self, stack: CameraStack) -> None:
        """A missing camera is reported without constructing Picamera2 (whose failed __init__ leaks a pipe)."""
        info = getattr(stack.Picamera2, "global_camera_info", None)
        if info is None:
            return
        try:
            cameras = info()
        except Exception as exc:  # noqa: BLE001 - constructing Picamera2 will report it with its cause
            log.debug("Picamera2.global_camera_info() failed: %s", exc)
            return
        if self._camera_num < len(cameras):
            return
        if not cameras:
            raise SourceError(
                "no Pi camera found (libcamera lists none): check the ribbon cable, camera_auto_detect=1 in "
                "/boot/firmware/config.txt, and `rpicam-hello --list-cameras`"
            )
        listed = ", ".join(f"{i}: {c.get('Model', '?')}" for i, c in enumerate(cameras))  # i: what path takes
        raise SourceError(
            f"Pi camera {self._camera_num} not found (cameras: {listed}); set [camera] path to one of them"
        )

    def _open_failure(self, exc: BaseException) -> str:
        chain = _chain(exc)
        if "busy" in chain.lower():
            hint = "another process holds the camera (an rpicam app, a second edgecam): stop it"
        else:
            hint = "check the ribbon cable and `rpicam-hello --list-cameras`"
        return f"cannot open Pi camera {self._camera_num}: {chain}; {hint}"

    def _configure_failure(self, exc: BaseException) -> str:
        s = self._settings
        text = _chain(exc)
        if s.format not in YUV_FORMATS and "must be YUV" in text:
            return (
                f"[camera] format = \"{s.format}\": Pi camera {self._camera_num} rejected it ({text}); "
                "a Pi 4 (and older) gives the lores stream only as YUV420: set format = \"YUV420\""
            )
        main = f"{s.width}x{s.height}" if s.width else "default"
        return (
            f"Pi camera {self._camera_num} rejected the configuration (lores {s.lores_width}x{s.lores_height} "
            f"{s.format}, main {main}): {text}; fix [camera] lores_width/lores_height/format/width/height"
        )

    def _read_back(self, cam: Any) -> None:
        """What libcamera granted: size and stride of the lores stream, and its colour space."""
        s = self._settings
        lores = dict(cam.stream_configuration("lores"))
        width, height = lores["size"]
        self._lores = lores
        colour_space = None
        config = getattr(cam, "camera_configuration", None)
        if callable(config):
            colour_space = (config() or {}).get("colour_space")
        self._decode = _decoding(colour_space)
        if (width, height) != (s.lores_width, s.lores_height):
            log.warning(
                "Pi camera %d: lores %dx%d was adjusted to %dx%d by picamera2/libcamera; frames are %dx%d",
                self._camera_num, s.lores_width, s.lores_height, width, height, width, height,
            )
        log.info(
            "picamera2 camera %d started: lores %dx%d %s (stride %s, colour space %s) @ %.1f fps",
            self._camera_num, width, height, lores.get("format", s.format), lores.get("stride", "?"),
            colour_space, s.fps,
        )

    # -- read ------------------------------------------------------------------------------------
    def read(self, timeout: float) -> Frame | YuvFrame | None:
        cam = self._cam
        if cam is None:
            raise SourceError(f"{self.name} read before open(); call open() first")
        try:
            if self._job is None:  # one pending capture, waited for across reads
                self._job = cam.capture_request(wait=False)
            request = cam.wait(self._job, timeout)
        except TimeoutError:
            return None  # no frame yet; the capture supervisor decides when it is a stall
        except Exception as exc:
            self._job = None
            raise SourceError(f"{self.name}: capture failed: {_chain(exc)}") from exc
        self._job = None
        main = None
        try:  # the request holds one of the camera's buffers until released
            array = request.make_array("lores")
            sensor_ns = (request.get_metadata() or {}).get("SensorTimestamp")
            if self._main_sink is not None and self._main_sink.wanted():
                main = self._main_array(request)  # a copy: only when a snapshot asks for one
        except Exception as exc:
            raise SourceError(f"{self.name}: reading the captured frame failed: {_chain(exc)}") from exc
        finally:
            request.release()
        timestamp = sensor_wall_time(sensor_ns)
        frame = self._frame(array, timestamp)
        if main is not None:
            self._deliver_main(main, frame.index, timestamp)
        return frame

    def _main_array(self, request: Any) -> np.ndarray | None:
        """The request's main-stream buffer; None (the snapshot falls back to the lores frame) if that fails:
        a snapshot's resolution is not worth a camera reconnect."""
        try:
            return request.make_array("main")
        except Exception as exc:  # noqa: BLE001
            log.warning("%s: cannot copy the main stream for a snapshot (%s); snapshots use the lores frame",
                        self.name, _chain(exc))
            self._main_sink = None
            return None

    def _deliver_main(self, array: np.ndarray, index: int, timestamp: float) -> None:
        """The main-stream buffer as a frame (X channel and stride padding cropped) to the main-image sink."""
        stream = self._cam.stream_configuration("main") if self._cam is not None else {}
        fmt = stream.get("format", "XBGR8888")
        order = _PIXEL_ORDER.get(fmt)
        width, height = stream.get("size", (array.shape[1], array.shape[0]))
        if order is None or array.ndim != 3 or array.shape[0] != height or array.shape[1] < width:
            log.debug("main stream %s buffer %s: no main-stream snapshot", fmt, array.shape)
            return
        self._main_sink.deliver(Frame(image=array[:, :width, :3], index=index, timestamp=timestamp,
                                      pixel_format=order, source=self.name))

    def _frame(self, array: np.ndarray, timestamp: float) -> Frame | YuvFrame:
        """The buffer as a frame: YUV420 stays a buffer (converted by whoever needs pixels, at the size
        they need); RGB/BGR formats are cropped to the width (rows may be padded to a stride)."""
        width, height = self._lores["size"]
        fmt = self._lores.get("format", self._settings.format)
        if fmt in YUV_FORMATS:
            if array.ndim != 2 or array.shape[0] != height * 3 // 2 or array.shape[1] < width:
                raise SourceError(f"{self.name}: unexpected YUV420 buffer shape {array.shape} for {width}x{height}")
            matrix, full_range = self._decode
            frame: Frame | YuvFrame = YuvFrame(array, width, self._index, timestamp, self.name,
                                               matrix, full_range)  # type: ignore[arg-type]
        else:
            if array.ndim != 3 or array.shape[0] != height or array.shape[1] < width:
                raise SourceError(f"{self.name}: unexpected {fmt} buffer shape {array.shape} for {width}x{height}")
            frame = Frame(image=np.ascontiguousarray(array[:, :width, :3]), index=self._index, timestamp=timestamp,
                          pixel_format=_PIXEL_ORDER.get(fmt, "BGR"), source=self.name)
        self._index += 1
        return frame

    def close(self) -> None:
        cam, self._cam, self._job, self._encoder = self._cam, None, None, None
        if cam is not None:
            _close_quietly(cam)


def sensor_wall_time(sensor_ns: Any, max_age_s: float = 5.0) -> float:
    """The wall-clock time of a frame's ``SensorTimestamp`` (ns, the monotonic clock: the start of its
    exposure); the current time when it is missing or implausible (older than ``max_age_s`` or ahead)."""
    now = time.time()
    if not isinstance(sensor_ns, int) or isinstance(sensor_ns, bool):
        return now
    age = (time.monotonic_ns() - sensor_ns) / 1e9
    return now - age if 0.0 <= age <= max_age_s else now


def _decoding(colour_space: Any) -> tuple[str, bool]:
    """(matrix, full_range) for a libcamera ColorSpace; BT.601 limited (what was asked) when unknown."""
    if colour_space is None:
        return "bt601", False
    encoding = getattr(getattr(colour_space, "ycbcrEncoding", None), "name", None)
    full = getattr(getattr(colour_space, "range", None), "name", None) == "Full"
    if encoding not in _MATRIX:
        log.warning("lores colour space %s has no YCbCr matrix edgecam knows; decoding as BT.601", colour_space)
        return "bt601", full
    return _MATRIX[encoding], full


def _chain(exc: BaseException) -> str:
    """The exception and its causes, e.g. picamera2's wrapper and libcamera's EBUSY underneath."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}".rstrip(": ") or type(current).__name__)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return " ← ".join(parts)


def _close_leaked_pipe(exc: BaseException, cls: Any) -> None:
    """picamera2's ``__init__`` opens a pipe before acquiring the camera and never closes it when that
    fails (``close()`` returns early for a camera that never opened): close it, or a camera that stays
    busy or missing exhausts the process's file descriptors within hours of retries."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        obj = frame.f_locals.get("self") if frame.f_code.co_name == "__init__" else None
        tb = tb.tb_next
        if not isinstance(obj, cls) or getattr(obj, "is_open", True):
            continue
        for closer in (lambda: obj.notifymeread.close(), lambda: os.close(obj.notifyme_w)):
            try:
                closer()
            except Exception as err:  # noqa: BLE001 - another picamera2 version: nothing to close
                log.debug("closing the pipe of a failed Picamera2 failed: %s", err)
        return


def _close_quietly(cam: Any) -> None:
    # cancel_all_and_flush first: stop() queues behind a pending capture and would wait for it forever
    # stop_encoder after stop, as picamera2's stop_recording does
    for method in ("cancel_all_and_flush", "stop", "stop_encoder", "close"):
        fn = getattr(cam, method, None)
        if fn is None:
            continue
        try:
            fn()
        except Exception as exc:  # a half-broken camera must not stop the reopen
            log.debug("picamera2 %s failed: %s", method, exc)

