"""Real H.264 for the clip tests: frames from the shared photos encoded with PyAV (libx264) into an MP4
in memory, then demuxed, so the clip recorder receives packets exactly as a network camera source
hands them over: ``sink(packet, stream, wall_time)`` from a demuxer."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import cv2
import numpy as np

from sharedkit import IMAGES



def h264_file(seconds: float, fps: int = 10, gop: int = 10, size: tuple[int, int] = (320, 240)) -> bytes:
    """An MP4 of ``seconds`` of H.264 at ``fps`` (a keyframe every ``gop`` frames) cycling through the photos."""
    photos = [cv2.resize(cv2.imread(str(IMAGES / n)), size) for n in ("horse.jpg", "cat.jpg", "bike.jpg")]
    images = (photos[(i // fps) % len(photos)] for i in range(round(seconds * fps)))
    return encode_mp4(images, size, fps, gop, {"preset": "ultrafast", "bf": "2"})  # B-frames: pts != dts


def encode_mp4(images: Iterable[np.ndarray], size: tuple[int, int], fps: int, gop: int,
               options: dict[str, str]) -> bytes:
    """``images`` (BGR, ``size``) as an MP4 of H.264 (libx264 with ``options``) at ``fps``, a keyframe
    every ``gop`` frames, in memory."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.options = options
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:, :, ::-1]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def feed(sink, data: bytes, wall0: float) -> int:
    """Demux ``data`` and hand every video packet to ``sink`` with wall time ``wall0`` + its decode time."""
    n = 0
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            sink(packet, stream, wall0 + float(packet.dts * packet.time_base))
            n += 1
    return n


def decoded_times(path: Path) -> list[float]:
    """Presentation times (s) of every frame that decodes from the file."""
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0)]
