"""Clips with pre-roll from real H.264 packets (stream copy, no re-encoding) and from the software encoder:
each clip decodes with PyAV and spans the event plus its pre- and post-roll (frame timestamps)."""

from __future__ import annotations

import time

import pytest

from edgecam.domain import Frame
from edgecam.events.clips import ClipRecorder
from edgecam.events.encoder import SoftwareEncoder
from edgecam.events.mp4 import clip_plays, salvage_clip
from edgecam.events.store import EventRecord, EventStore
from h264kit import decoded_times, feed, h264_file
from sharedkit import HORSE


def _store(tmp_path) -> EventStore:
    return EventStore(tmp_path / "events", 10**9, 86400.0)


def _event(store: EventStore, event_id: str, start: float, end: float | None = None) -> None:
    store.save_event(EventRecord(event_id, "person", (), start, end, 0.9))


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_stream_copy_clip_spans_event_and_pre_roll(tmp_path):
    """10 s of 10 fps H.264 (GOP 1 s); event from 4.0 to 6.0 s, pre 2 s, post 1 s → frames from ≤ 2.0 s
    (the keyframe at or before 2.0 s) to ≥ 7.0 s, and nothing from before 1.0 s (the ring's bound)."""
    data = h264_file(10.0, fps=10, gop=10)
    store = _store(tmp_path)
    clips = ClipRecorder(store, pre_s=2.0, post_s=1.0)
    wall0 = 1_000_000.0
    _event(store, "e1", wall0 + 4.0)

    def sink(packet, stream, wall):  # open/close the event as the evidence writer would, at its times
        if wall >= wall0 + 4.5 and not opened:
            opened.append(1)
            clips.open("e1", wall0 + 4.0)
        if wall >= wall0 + 6.5 and not closed:
            closed.append(1)
            clips.close("e1", wall0 + 6.0)
        clips.sink(packet, stream, wall)
        time.sleep(0.001)

    opened: list = []
    closed: list = []
    clips.start()
    assert feed(sink, data, wall0) == 100
    _wait(lambda: store.get("e1").clip)
    clips.stop()
    path = store.path("e1", "clip.mp4")
    times = decoded_times(path)
    assert clip_plays(path)
    span = times[-1] - times[0]
    # pre-roll from the keyframe at 2.0 s; post-roll until 7.0 s (plus the B-frames decoded with the last
    # packets: decode order runs up to 0.3 s ahead): at least 5 s of video, and every frame in it decodes
    assert 4.9 <= span <= 5.4, times
    assert len(times) == pytest.approx(span * 10 + 1, abs=1)
    assert clips.dropped_packets == 0 and clips.written == 1


def test_pre_roll_is_keyframe_aligned_and_bounded(tmp_path):
    """An event opened late in a long stream: the clip starts at a keyframe, at most one GOP before start - pre_s."""
    data = h264_file(8.0, fps=10, gop=20)  # a keyframe every 2 s
    store = _store(tmp_path)
    clips = ClipRecorder(store, pre_s=1.5, post_s=0.0)
    wall0 = 2_000_000.0
    _event(store, "late", wall0 + 5.0)
    clips.start()

    def sink(packet, stream, wall):
        if wall >= wall0 + 5.0 and not marks:
            marks.append(1)
            clips.open("late", wall0 + 5.0)
            clips.close("late", wall0 + 6.0)
        clips.sink(packet, stream, wall)

    marks: list = []
    feed(sink, data, wall0)
    _wait(lambda: store.get("late").clip)
    clips.stop()
    times = decoded_times(store.path("late", "clip.mp4"))
    # start - pre_s = 3.5 s → the keyframe at 2.0 s; the end at 6.0 s
    assert 3.9 <= times[-1] - times[0] <= 4.4, times


def test_software_encoder_clip(tmp_path):
    """clips = "on" without camera packets: frames → libx264 → the same ring and remuxer."""
    import cv2

    store = _store(tmp_path)
    clips = ClipRecorder(store, pre_s=1.0, post_s=0.5)
    encoder = SoftwareEncoder(clips.sink, max_width=320, fps=10.0)
    clips.start()
    encoder.start()
    image = cv2.imread(str(HORSE))
    t0 = 3_000_000.0
    _event(store, "sw", t0 + 2.0)
    for i in range(40):  # 4 s at 10 fps; the event from 2.0 to 3.0 s
        t = t0 + i / 10
        encoder.offer(Frame(image, i, t, "BGR"))
        _wait(lambda: encoder.encoded + encoder.skipped >= i + 1)
        if i == 20:
            clips.open("sw", t0 + 2.0)
        if i == 30:
            clips.close("sw", t0 + 3.0)
    encoder.stop()
    _wait(lambda: store.get("sw").clip)
    clips.stop()
    times = decoded_times(store.path("sw", "clip.mp4"))
    assert encoder.codec in ("libx264", "mpeg4")
    # from the keyframe at/before 1.0 s (GOP 1 s: 1.0 s) to 3.5 s
    assert times[-1] - times[0] == pytest.approx(2.5, abs=0.15), times
    assert len(times) >= 20 - encoder.skipped


def test_truncated_clip_is_finalised_or_removed(tmp_path):
    """A clip cut off mid-write (a crash): recover() keeps the packets that decode (every frame of the
    finalised clip decodes) and removes a clip where nothing does."""
    data = h264_file(4.0, fps=10, gop=10)
    store = _store(tmp_path)
    clips = ClipRecorder(store, pre_s=0.0, post_s=100.0)
    for event_id in ("live", "cut", "empty"):
        _event(store, event_id, 0.0)
    clips.start()
    clips.open("live", 0.0)
    feed(clips.sink, data, 0.0)
    part = store.part_path("live")
    _wait(lambda: part.exists() and part.stat().st_size > 20000)
    whole = part.read_bytes()  # the clip being written, as a crash would leave it: torn at any byte
    store.part_path("cut").write_bytes(whole[: len(whole) * 3 // 4])
    store.part_path("empty").write_bytes(whole[:100])
    clips.stop()
    store.recover(salvage_clip)
    assert store.get("cut").clip and not store.part_path("cut").exists()
    assert len(decoded_times(store.path("cut", "clip.mp4"))) >= 10  # every packet kept decodes
    assert not store.get("empty").clip and not store.part_path("empty").exists()
    assert store.get("live").clip
