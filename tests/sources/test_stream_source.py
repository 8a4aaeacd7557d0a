"""The PyAV stream source against a real RTSP server (gst-rtsp-server, H.264 640×360 at 10 fps).

Frames flow with a password holding ``@`` and ``:``; each failure a user can cause has its own line
(FFmpeg's 404 / 401, no video stream) with the password hidden; frames carry capture times and those
FFmpeg buffered while probing (before the connect) are dropped; the packet sink sees every video
packet before decoding, survives a reopen and cannot break capture when it raises.
"""

from __future__ import annotations

import threading
import time

import pytest

from edgecam.errors import SourceError
from edgecam.runtime.capture import CaptureThread
from edgecam.sources.settings import StreamSettings
from edgecam.sources.stream import StreamSource

pytestmark = pytest.mark.slow

PASSWORD = "p@ss:w0rd"


def settings(url: str, **kw) -> StreamSettings:
    base = dict(path=url, fps=10, stall_timeout_s=1.5, open_timeout_s=5.0, read_timeout_s=2.0,
                reconnect_initial_s=0.1, reconnect_max_s=0.5)
    base.update(kw)
    return StreamSettings(**base)


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def open_error(url: str, **kw) -> str:
    source = StreamSource(settings(url, **kw))
    with pytest.raises(SourceError) as info:
        source.open()
    source.close()
    return str(info.value)


def test_frames_with_a_password_holding_at_and_colon(rtsp_camera):
    cam = rtsp_camera(user="cam", password=PASSWORD)
    source = StreamSource(settings(cam.url()))
    assert PASSWORD not in source.name and "ss:w0rd" not in source.name
    source.open()
    try:
        assert source.describe() == {"codec": "h264", "width": 640, "height": 360, "fps": 10.0}
        frames = [source.read(1.0) for _ in range(15)]
    finally:
        source.close()
    assert all(f.image.shape == (360, 640, 3) and f.pixel_format == "BGR" for f in frames)
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)
    # PTS mapped to the wall clock: 10 fps apart, never in the future
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(0.09 <= g <= 0.11 for g in gaps[1:]), gaps
    assert stamps[-1] <= time.time()
    assert source.stats() == {"decode_errors": 0, "lost_frames": 0}


@pytest.mark.parametrize("path, password, cause", [
    ("nope", PASSWORD, "404 Not Found; check the stream's path"),
    ("cam", "wr@ng:pw", "401 Unauthorized"),
    ("audio", PASSWORD, "no video stream (the stream has: audio pcm_alaw)"),
])
def test_each_failure_has_its_own_one_line_cause(rtsp_camera, path, password, cause):
    cam = rtsp_camera(user="cam", password=PASSWORD)
    text = open_error(cam.url(path, password=password))
    assert cause in text and "\n" not in text
    assert password not in text and password.split("@")[-1] not in text
    assert f"rtsp://cam:***@127.0.0.1:{cam.port}/{path}" in text


def test_nothing_listening_names_the_fix(tmp_path):
    from broker import free_port

    text = open_error(f"rtsp://cam:{PASSWORD}@127.0.0.1:{free_port()}/cam")
    assert "Connection refused; is the camera on" in text and PASSWORD not in text


def test_probe_buffer_frames_are_dropped_and_capture_times_kept(rtsp_camera):
    cam = rtsp_camera()
    seen = []
    capture = CaptureThread(lambda: StreamSource(settings(cam.url())), settings(cam.url()))
    opened_before = time.time()
    capture.start()
    try:
        for _ in range(10):
            frame = capture.get(5.0)
            assert frame is not None, capture.stats()
            seen.append((frame, time.time()))
    finally:
        capture.stop()
    stats = capture.stats()
    # FFmpeg probed ~1 s of stream while opening: those frames are older than the connect
    assert stats["stale_frames"] >= 3, stats
    assert stats["camera"] == "online" and stats["captured"] >= 10
    for frame, taken in seen:
        assert opened_before < frame.timestamp <= taken  # captured after the connect, before it was read


def test_packet_sink_sees_video_packets_survives_reopen_and_cannot_break_capture(rtsp_camera, caplog):
    import av

    cam = rtsp_camera()
    calls: list[tuple] = []
    lock = threading.Lock()

    def sink(packet, stream, wall_time):  # (a stream is only valid while its container is open)
        record = (isinstance(packet, av.Packet), packet.stream.type, stream.type, stream.codec_context.name, wall_time)
        with lock:
            calls.append(record)
            n = len(calls)
        if n % 7 == 0:
            raise RuntimeError("ring buffer full")  # must not reach the source

    capture = CaptureThread(lambda: StreamSource(settings(cam.url())), settings(cam.url()))
    capture.set_packet_sink(sink)  # before open: every session's source gets it
    capture.start()
    try:
        assert wait_until(lambda: capture.captured >= 5)
        assert isinstance(capture.source, StreamSource) and capture.source.sink_errors >= 1
        cam.stop()
        assert wait_until(lambda: capture.camera == "offline")
        with lock:
            before = len(calls)
        cam.start()
        assert wait_until(lambda: capture.camera == "online" and len(calls) > before + 10)
    finally:
        capture.stop()
        cam.stop()
    assert {c[:4] for c in calls} == {(True, "video", "video", "h264")}
    assert abs(calls[-1][4] - time.time()) < 30
    walls = [c[4] for c in calls[before:]]
    assert walls == sorted(walls) or max(a - b for a, b in zip(walls, walls[1:])) < 0.5  # B-frame reorder at most
    assert any("packet sink failed" in r.getMessage() for r in caplog.records)


def test_a_frozen_camera_names_the_timeout_that_ran_out(rtsp_camera):
    cam = rtsp_camera()
    source = StreamSource(settings(cam.url(), read_timeout_s=1.0))
    source.open()
    try:
        assert source.read(1.0) is not None
        cam.pause()  # SIGSTOP: the connection stays open, nothing comes
        with pytest.raises(SourceError, match=r"no answer within read_timeout_s = 1 s \(the camera is silent or frozen\)"):
            while True:
                source.read(1.0)
    finally:
        source.close()
    text = open_error(cam.url(), open_timeout_s=1.5)  # a new connection to the frozen server
    assert "no answer within open_timeout_s = 1.5 s" in text
    cam.resume()
