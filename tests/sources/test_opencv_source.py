"""OpenCVSource on a real video file written with cv2.VideoWriter, and on absent devices."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.errors import SourceError
from edgecam.sources.opencv import OpenCVSource, parse_target, redact
from edgecam.sources.settings import OpenCVSettings

N_FRAMES = 6


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened(), "this OpenCV build cannot write MJPG AVI"
    for i in range(N_FRAMES):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))  # grey level encodes the frame number
    writer.release()
    return path


def opencv(path, **kw) -> OpenCVSource:
    return OpenCVSource(OpenCVSettings(path=str(path), **kw))


def grey_levels(src: OpenCVSource, n: int) -> list[int]:
    return [int(round(float(src.read(1.0).image.mean()) / 40)) for _ in range(n)]


def test_video_file_plays_once_then_eof(video):
    src = opencv(video, loop=False)
    assert src.live is False
    src.open()
    frame = src.read(1.0)
    assert frame.pixel_format == "BGR" and frame.image.shape == (48, 64, 3)
    assert grey_levels(src, N_FRAMES - 1) == list(range(1, N_FRAMES))
    with pytest.raises(EOFError, match="end of video file"):
        src.read(1.0)
    src.close()
    src.close()  # safe twice


def test_video_file_loops(video):
    src = opencv(video, loop=True)
    src.open()
    assert grey_levels(src, N_FRAMES + 3) == [i % N_FRAMES for i in range(N_FRAMES + 3)]
    src.close()


def test_relative_video_path_uses_base_dir(video):
    src = OpenCVSource(OpenCVSettings(path=video.name), base_dir=video.parent)
    src.open()
    assert src.read(1.0) is not None
    src.close()


def test_missing_video_file(tmp_path):
    with pytest.raises(SourceError, match=r"video file .*missing.mp4 does not exist; fix \[camera\] path"):
        opencv(tmp_path / "missing.mp4").open()


def test_not_a_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="cannot open .*bad.mp4.* with OpenCV"):
        opencv(bad).open()


def test_absent_device_is_a_source_error():
    index = next(i for i in range(40, 64) if not Path(f"/dev/video{i}").exists())
    src = opencv(f"/dev/video{index}")
    assert src.live is True
    with pytest.raises(SourceError, match=rf"cannot open '/dev/video{index}'.*plugged in"):
        src.open()


def test_read_before_open():
    with pytest.raises(SourceError, match="before open"):
        opencv("/dev/video0").read(0.1)


def test_targets_and_redaction():
    assert parse_target("0") == (0, False)
    assert parse_target("/dev/video2") == ("/dev/video2", False)
    assert parse_target("rtsp://u:p@cam/s") == ("rtsp://u:p@cam/s", False)
    assert parse_target("clip.mp4", "/videos") == ("/videos/clip.mp4", True)
    assert redact("rtsp://user:secret@cam:554/stream") == "rtsp://user:***@cam:554/stream"
    assert "secret" not in opencv("rtsp://user:secret@cam/stream").name


def test_video_file_through_the_capture_thread_ends_with_exhausted(video):
    from edgecam.runtime.capture import CaptureThread

    settings = OpenCVSettings(path=str(video), fps=100, loop=False)
    cap = CaptureThread(lambda: OpenCVSource(settings), settings)
    cap.start()
    try:
        frames = list(cap.frames(timeout=0.05))
    finally:
        cap.stop(timeout=2.0)
    assert cap.exhausted and cap.captured == N_FRAMES
    assert len(frames) + cap.slot.dropped == N_FRAMES
