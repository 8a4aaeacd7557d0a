"""picamera2's encoder API for the fake camera of fake_picamera2.py: ``H264Encoder`` and ``Output``, as far as
edgecam uses them; each behaviour follows raspberrypi/picamera2 at 3e6dff09:

* ``Output`` (picamera2/outputs/output.py): ``start()``/``stop()`` set ``recording``; ``outputframe(frame,
  keyframe, timestamp, packet, audio)`` is what an encoder calls per encoded frame.
* ``Encoder.output`` (encoders/encoder.py) accepts an ``Output`` or a list of them, else ``RuntimeError("Must
  pass Output")``; ``start()`` raises "Encoder already running" when running, resets ``firsttimestamp``,
  starts the outputs; ``stop()`` raises "Encoder already stopped" when stopped, then stops the outputs.
  ``_timestamp(request)``: SensorTimestamp in µs minus the first frame's (``firsttimestamp``), 0 first.
* ``H264Encoder`` on a Pi 4 is ``V4L2Encoder`` (encoders/v4l2_encoder.py): ``encode`` queues the camera's
  buffer to the hardware and returns; a separate thread dequeues each encoded buffer and calls
  ``outputframe(bytes, keyframe=V4L2_BUF_FLAG_KEYFRAME set, timestamp=the µs queued with it)``.  The
  stream is Annex B H.264 without B-frames; ``repeat=True`` (REPEAT_SEQ_HEADER) puts SPS/PPS in every
  keyframe and ``iperiod`` is the keyframe interval.  Here libx264 (PyAV, ``zerolatency``: no B-frames,
  headers repeated in-band) encodes in that thread instead of the VPU, so clips really decode.
* ``Picamera2.start_encoder(encoder, output, name=...)`` (picamera2.py) sets the encoder's output, then its
  name, size, format and stride from the stream's configuration (``RuntimeError`` for a stream not
  configured), a nominal framerate (at most 30), starts it and adds it to ``_encoders``;
  ``stop_encoder()`` stops every encoder and removes it (:class:`EncodingCamera`, mixed into the fake camera).
"""

from __future__ import annotations

import queue
import threading
from fractions import Fraction
from typing import Any

import numpy as np

US = Fraction(1, 1_000_000)


class Output:
    def __init__(self, pts: Any = None) -> None:
        self.recording = False
        self.ptsoutput = pts

    def start(self) -> None:
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    def outputframe(self, frame: Any, keyframe: bool = True, timestamp: int | None = None, packet: Any = None,
                    audio: bool = False) -> None:
        pass


class H264Encoder:
    def __init__(self, bitrate: int | None = None, repeat: bool = True, iperiod: int | None = None,
                 framerate: float | None = None, enable_sps_framerate: bool = False, qp: int | None = None,
                 profile: str | None = None) -> None:
        self.bitrate, self.repeat, self.iperiod, self.framerate = bitrate, repeat, iperiod, framerate
        self._output: list[Output] = []
        self._running = False
        self.firsttimestamp: int | None = None
        self.name = "main"
        self.width = self.height = self.stride = 0
        self.format = "XBGR8888"
        self.frames_encoded = 0
        self._queue: queue.Queue = queue.Queue(maxsize=8)  # the V4L2 encoder's buffers
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._running

    @property
    def output(self) -> Any:
        return self._output[0] if len(self._output) == 1 else self._output

    @output.setter
    def output(self, value: Any) -> None:
        outputs = value if isinstance(value, list) else [value]
        if not all(isinstance(o, Output) for o in outputs):
            raise RuntimeError("Must pass Output")
        self._output = outputs

    def start(self, quality: Any = None) -> None:
        if self._running:
            raise RuntimeError("Encoder already running")
        self._running = True
        self.firsttimestamp = None
        for out in self._output:
            out.start()
        self._thread = threading.Thread(target=self._poll, name="fake-v4l2-encoder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self._running:
            raise RuntimeError("Encoder already stopped")
        self._running = False
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()
        for out in self._output:
            out.stop()

    def encode(self, stream: str, request: Any) -> None:
        """From the camera thread, per completed request: queue the frame, return at once."""
        if not self._running:
            return
        timestamp_us = self._timestamp(request)
        try:
            self._queue.put_nowait((request.make_array(stream), timestamp_us))
        except queue.Full:
            pass  # the hardware is behind: V4L2Encoder blocks for a free buffer; here the frame is dropped
        self.frames_encoded += 1

    def _timestamp(self, request: Any) -> int:
        ts = int(request.get_metadata()["SensorTimestamp"] / 1000)
        if self.firsttimestamp is None:
            self.firsttimestamp = ts
            return 0
        return ts - self.firsttimestamp

    def _poll(self) -> None:
        import av

        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, "yuv420p"
        ctx.time_base = US
        ctx.gop_size = self.iperiod or 60
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency"}
        while (item := self._queue.get()) is not None:
            array, timestamp_us = item
            rgb = np.ascontiguousarray(array[:, : self.width, :3])  # XBGR8888: R, G, B, X bytes
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = timestamp_us, US
            for packet in ctx.encode(frame):
                for out in self._output:
                    out.outputframe(bytes(packet), bool(packet.is_keyframe), int(packet.pts))


class EncodingCamera:
    """The encoder half of the fake ``Picamera2`` (camera_config, _cond, _encoders and system are its)."""

    camera_config: dict
    _cond: threading.Condition
    _encoders: set
    system: Any

    def start_encoder(self, encoder: Any = None, output: Any = None, pts: Any = None, quality: Any = None,
                      name: str | None = None) -> None:
        if encoder is None:
            raise RuntimeError("No encoder specified")
        if output is not None:
            encoder.output = output
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        name = name or "main"  # create_video_configuration(encode="main")
        stream = self.camera_config.get(name)
        if stream is None:
            raise RuntimeError(f"Encode stream {name} was not defined")
        encoder.name = name
        encoder.width, encoder.height = stream["size"]
        encoder.format, encoder.stride = stream["format"], stream["stride"]
        if encoder.framerate is None:
            encoder.framerate = min(30.0, self.system.fps)
        encoder.start(quality=quality)
        with self._cond:
            self._encoders.add(encoder)

    def stop_encoder(self, encoders: Any = None) -> None:
        with self._cond:
            remove = list(self._encoders) if encoders is None else [encoders]
            self._encoders.difference_update(remove)
        for encoder in remove:
            encoder.stop()
