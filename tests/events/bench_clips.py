"""Benchmark of the clip modes' own cost, printed (not a test): ``python tests/events/bench_clips.py``.

- stream copy: H.264 packets of a real encoded video (PyAV, 1280×720 and 1920×1080 at 25 fps) go through
  ``ClipRecorder.sink`` (the capture thread's share) with one clip open the whole time (the worker's
  share: ring + MP4 remux + write); reported as CPU ms per second of video and % of one core in real time;
- software encode: frames (the photo at 1280×720) through ``SoftwareEncoder`` at ``clip_width`` 640 and
  320, reported as CPU ms per encoded frame and % of one core at 5 fps.
The whole pipeline's cost with each mode: ``edgecam bench --pipeline IMAGES --events off|auto|clips``.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgecam.domain import Frame  # noqa: E402
from edgecam.events.clips import ClipRecorder  # noqa: E402
from edgecam.events.encoder import SoftwareEncoder  # noqa: E402
from edgecam.events.store import EventRecord, EventStore  # noqa: E402
from h264kit import encode_mp4  # noqa: E402
from sharedkit import HORSE  # noqa: E402


def cpu() -> float:
    """CPU seconds of this process, every thread (CLOCK_PROCESS_CPUTIME_ID: scheduler-precise)."""
    return time.process_time()


def camera_video(width: int, height: int, seconds: int, fps: int = 25) -> bytes:
    """A camera-like H.264 stream: the photo panning slowly, a keyframe every 2 s, no B-frames."""
    photo = cv2.resize(cv2.imread(str(HORSE)), (width + 200, height))
    pans = (photo[:, (i * 2) % 200:(i * 2) % 200 + width] for i in range(seconds * fps))
    return encode_mp4(pans, (width, height), fps, 2 * fps, {"preset": "veryfast", "bf": "0", "crf": "14"})


def bench_copy(width: int, height: int, seconds: int = 20) -> None:
    data = camera_video(width, height, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp), 10**10, 10**12)
        clips = ClipRecorder(store, 5.0, 5.0, queue_size=10_000)
        store.save_event(EventRecord("bench", "person", (), 0.0, None, 0.9))
        clips.start()
        clips.open("bench", 0.0)
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            packets = [p for p in container.demux(stream) if p.size]
            c0 = cpu()
            for p in packets:  # the capture thread's share
                clips.sink(p, stream, float(p.pts * p.time_base))
            sink_s = cpu() - c0
            clips.close("bench", seconds - 5.5)
            clips.stop(60.0)
            total_s = cpu() - c0
        size = store.path("bench", "clip.mp4").stat().st_size
        store.close()
    print(f"stream copy {width}x{height} 25 fps ({len(data) * 8 / seconds / 1e6:.1f} Mbit/s): "
          f"sink {1e3 * sink_s / seconds:.1f} ms CPU per video second, sink+remux+write "
          f"{1e3 * total_s / seconds:.1f} ms per video second = {100 * total_s / seconds:.1f}% of one core; "
          f"clip {size / 1e6:.1f} MB, dropped {clips.dropped_packets}")


def bench_encode(width: int, frames: int = 100) -> None:
    photo = cv2.resize(cv2.imread(str(HORSE)), (1280, 720))
    got = []
    encoder = SoftwareEncoder(lambda packet, stream, wall: got.append(packet.size), width, 5.0)
    encoder.start()
    c0 = cpu()
    for i in range(frames):
        shifted = np.roll(photo, i * 4, axis=1)  # something moves
        encoder.offer(Frame(shifted, i, 1000.0 + i / 5.0, "BGR"))
        while encoder.encoded + encoder.skipped < i + 1:
            time.sleep(0.001)
    used = cpu() - c0
    encoder.stop()
    per_frame = 1e3 * used / max(1, encoder.encoded)
    print(f"software encode {encoder.codec} 1280x720 → {width} wide: {per_frame:.1f} ms CPU per frame = "
          f"{per_frame * 5 / 10:.1f}% of one core at 5 fps; {sum(got) * 8 / (frames / 5) / 1e3:.0f} kbit/s")


if __name__ == "__main__":
    bench_copy(1280, 720)
    bench_copy(1920, 1080)
    bench_encode(640)
    bench_encode(320)
