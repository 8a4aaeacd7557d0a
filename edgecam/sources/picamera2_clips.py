"""Event clips from the Pi camera: picamera2's H.264 encoder on the main stream, its packets handed to a
packet sink (the event history's clip recorder, which keeps the pre-roll ring and remuxes to MP4).

On a Pi 4 (VC4) picamera2's ``H264Encoder`` is the hardware V4L2 encoder: clips cost ~no CPU.  A Pi 5 has
no hardware encoder (picamera2 substitutes a software libav encoder), so ``[events] clips = "auto"`` records
no clips there (:func:`hardware_h264_encoder`).

picamera2 calls an ``Output``'s ``outputframe(frame, keyframe, timestamp)`` from its encoder thread with one
H.264 access unit (Annex B; with ``repeat=True`` every keyframe carries SPS/PPS) and its time in µs since the
encoder's first frame (``Encoder._timestamp``: SensorTimestamp / 1000 minus ``firsttimestamp``).  The bytes
are a mapping of the encoder's buffer, valid only during the call: they are copied at once.
"""

from __future__ import annotations

import io
import logging
import time
from fractions import Fraction
from typing import Any, Callable

log = logging.getLogger(__name__)

US = Fraction(1, 1_000_000)
PacketSink = Callable[[Any, Any, float], None]


def hardware_h264_encoder() -> bool:
    """True where picamera2's ``H264Encoder`` is the hardware one (Pi 4 and older, VC4), as picamera2 itself
    decides (``picamera2.platform.get_platform()``); without picamera2, from the device tree."""
    try:
        from picamera2.platform import Platform, get_platform  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - not on a Pi, or a broken stack (reported when the camera opens)
        from edgecam.sources.pi_platform import detect_platform

        return detect_platform() == "vc4"
    return bool(get_platform() == Platform.VC4)


def encoder_classes(stack: Any) -> tuple[Any, Any]:
    """(``H264Encoder``, ``Output``) of the camera stack (imported from picamera2 unless the stack names them)."""
    encoder, output = getattr(stack, "H264Encoder", None), getattr(stack, "Output", None)
    if encoder is None or output is None:
        from picamera2.encoders import H264Encoder  # type: ignore[import-not-found]
        from picamera2.outputs import Output  # type: ignore[import-not-found]

        encoder, output = H264Encoder, Output
    return encoder, output


def start_clip_encoder(cam: Any, stack: Any, sink: PacketSink, fps: float, wall_time: Callable[[int], float]) -> Any:
    """Start picamera2's H.264 encoder on the main stream, a keyframe every second, its packets to ``sink``.

    ``wall_time(sensor_ns)`` maps a SensorTimestamp to epoch seconds (as the frames' timestamps are)."""
    encoder_cls, output_cls = encoder_classes(stack)
    encoder = encoder_cls(repeat=True, iperiod=max(1, round(fps)))
    output = _packet_output(output_cls)(sink, encoder, wall_time)
    cam.start_encoder(encoder, output, name="main")
    main = cam.stream_configuration("main")
    log.info("event clips: picamera2 H.264 encoder on the main stream %dx%d, a keyframe every %d frames",
             main["size"][0], main["size"][1], max(1, round(fps)))
    return encoder


def _packet_output(base: type) -> type:
    """A picamera2 ``Output`` (the encoder accepts nothing else) turning access units into PyAV packets."""

    class PacketOutput(base):  # type: ignore[misc, valid-type]
        def __init__(self, sink: PacketSink, encoder: Any, wall_time: Callable[[int], float]) -> None:
            super().__init__()
            self._sink, self._encoder, self._wall_time = sink, encoder, wall_time
            self._container: Any = None
            self._stream: Any = None
            self.packets = 0

        def outputframe(self, frame: Any, keyframe: bool = True, timestamp: int | None = None, packet: Any = None,
                        audio: bool = False) -> None:
            if audio or frame is None:
                return
            try:
                self._packet(bytes(frame), bool(keyframe), timestamp)
            except Exception:  # noqa: BLE001 - picamera2's encoder thread must not die: clips miss a frame
                log.exception("event clips: cannot take an H.264 frame from picamera2")

        def _packet(self, data: bytes, keyframe: bool, timestamp: int | None) -> None:
            import av

            if self._stream is None:
                if not keyframe:
                    return  # nothing decodes before the first keyframe
                # the stream's parameters (size, SPS/PPS as extradata) from the first keyframe itself
                self._container = av.open(io.BytesIO(data), format="h264")
                self._stream = self._container.streams.video[0]
            first = getattr(self._encoder, "firsttimestamp", None)
            if timestamp is None or first is None:
                wall = time.time()
            else:
                wall = self._wall_time((first + timestamp) * 1000)
            p = av.Packet(data)
            if timestamp is not None:
                p.pts = p.dts = timestamp  # no B-frames from picamera2's encoders: decode order is display order
            p.time_base = US
            p.is_keyframe = keyframe
            self._sink(p, self._stream, wall)
            self.packets += 1

    return PacketOutput
