"""PiCamera2Source's two capabilities for the event history, against the fake camera stack
(tests/sources/fake_picamera2.py, fake_picamera2_encoder.py):

* main-stream images for snapshots, copied from the same capture request only when asked for;
* picamera2's H.264 encoder on the main stream feeding a packet sink: real H.264 that a clip recorder remuxes
  into an MP4 that decodes, timestamped on the same clock as the lores frames."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

from edgecam.events.clips import ClipRecorder
from edgecam.events.mainimage import MainImageRequests
from edgecam.events.store import EventRecord, EventStore
from edgecam.sources.picamera2 import PiCamera2Source
from polling import read_frame
from edgecam.sources.settings import PiCamera2Settings
from tests.sources.fake_picamera2 import FakeCameraSystem
from tests.sources.yuv_reference import colour_bars




def test_main_stream_image_is_copied_only_when_wanted_and_has_the_main_size():
    system = FakeCameraSystem(fps=50)
    src = PiCamera2Source(PiCamera2Settings(fps=50, width=1280, height=720), stack=system.stack)
    requests = MainImageRequests(min_interval_s=0.0)
    src.set_main_image_sink(requests)
    src.open()
    try:
        for _ in range(5):
            read_frame(src)
        cam = system.instances[-1]
        assert cam.main_arrays == 0 and requests.take() is None  # nobody asked: no copy of the main stream
        requests.want()
        lores = read_frame(src)
        main = requests.take()
        assert main is not None and cam.main_arrays == 1
        assert (main.width, main.height) == (1280, 720) and (lores.width, lores.height) == (640, 360)
        assert main.index == lores.index and main.timestamp == lores.timestamp  # the same capture request
        assert main.pixel_format == "RGB"
        assert np.abs(main.image.astype(int) - colour_bars(1280, 720).astype(int)).max() <= 2
        read_frame(src)
        assert requests.take() is None and cam.main_arrays == 1  # one request, one copy
    finally:
        src.close()
    assert system.acquired == set()


def test_encoder_packets_make_a_clip_that_decodes_on_the_frames_clock(tmp_path: Path):
    system = FakeCameraSystem(fps=20)
    src = PiCamera2Source(PiCamera2Settings(fps=20, width=320, height=240, lores_width=320, lores_height=240),
                          stack=system.stack)
    store = EventStore(tmp_path / "events", 64 << 20, 86400.0)
    clips = ClipRecorder(store, pre_s=1.0, post_s=0.5)
    clips.start()
    packets: list[tuple[bool, float]] = []
    lock = threading.Lock()

    def sink(packet, stream, wall):
        with lock:
            packets.append((bool(packet.is_keyframe), wall))
        clips.sink(packet, stream, wall)

    src.set_packet_sink(sink)
    src.open()
    try:
        cam = system.instances[-1]
        assert len(cam._encoders) == 1  # picamera2's encoder runs on the main stream
        first = read_frame(src)
        frames = [read_frame(src) for _ in range(40)]  # 2 s at 20 fps: the ring holds a pre-roll
        start = frames[-1].timestamp
        store.save_event(EventRecord("e1", "person", (), start, None, 0.9, None), {})
        clips.open("e1", start)
        for _ in range(20):
            last = read_frame(src)
        store.save_event(EventRecord("e1", "person", (), start, last.timestamp, 0.9, None), {})
        clips.close("e1", last.timestamp)
        for _ in range(20):
            read_frame(src)
    finally:
        src.close()
        clips.stop()
    assert system.instances == [] and system.acquired == set()
    with lock:
        assert packets and packets[0][0]  # starts at a keyframe
        assert sum(k for k, _ in packets) >= 2  # a keyframe a second (iperiod = fps)
        walls = [w for _, w in packets]
    assert abs(walls[0] - first.timestamp) < 1.0  # the sensor's clock, like the frames
    path = store.path("e1", "clip.mp4")
    assert path.exists(), clips.failed
    with av.open(str(path)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
        size = (container.streams.video[0].width, container.streams.video[0].height)
    assert size == (320, 240)
    duration = times[-1] - times[0]
    # pre-roll (1 s, from the keyframe at or before it) + the event (1 s) + post-roll (0.5 s)
    assert duration >= 1.0 + 0.9 + 0.4 - 0.1, times
    assert all(b > a for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("platform, free", [("vc4", True), ("pisp", False)])
def test_hardware_encoder_follows_picamera2s_platform(monkeypatch, platform, free):
    import sys
    import types
    from enum import Enum

    class Platform(Enum):
        VC4 = 0
        PISP = 1

    module = types.ModuleType("picamera2.platform")
    module.Platform = Platform
    module.get_platform = lambda: Platform.VC4 if platform == "vc4" else Platform.PISP
    monkeypatch.setitem(sys.modules, "picamera2", types.ModuleType("picamera2"))
    monkeypatch.setitem(sys.modules, "picamera2.platform", module)
    assert PiCamera2Source.packets_cost_nothing() is free
