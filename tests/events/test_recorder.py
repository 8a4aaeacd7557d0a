"""The recorder between the real tracker and the store: the best frame becomes the snapshot, the ``end``
event names its evidence (absolute under ``[web] public_url``), and the Last <label> callback gets it."""

from __future__ import annotations

import time

import cv2
import numpy as np

from edgecam.domain import Detections, Frame, FrameUpdate
from edgecam.events.recorder import EventRecorder
from edgecam.events.settings import EventsSettings, clip_mode
from edgecam.tracking.settings import TrackerSettings
from edgecam.tracking.tracker import IouTracker

NAMES = ("person", "car")
SCORES = [0.5, 0.6, 0.93, 0.7, 0.65]  # the object is seen best in frame 2


def _frame(i: int) -> np.ndarray:
    image = np.full((240, 320, 3), 30 * i, np.uint8)  # each frame its own grey level
    return image


def _run(recorder: EventRecorder) -> list:
    tracker = recorder.naming(IouTracker(TrackerSettings(min_hits=2, max_missed_s=0.3)))  # as the app wires it
    box = np.array([[100, 60, 160, 200]], np.float32)
    ends = []
    t0 = time.time()
    for i, score in enumerate([*SCORES, 0, 0, 0]):
        dets = Detections(box, np.array([score], np.float32), np.zeros(1, np.int32), NAMES) if score else \
            Detections.empty(NAMES)
        out = tracker.update(dets, t0 + i * 0.2, 320, 240)
        events = out.events
        recorder.publish(FrameUpdate("yard", Frame(_frame(i), i, t0 + i * 0.2, "BGR"), None, out.detections, events,
                                     out.tracks, out.counts, out.zone_counts))
        ends += [e for e in events if e.type == "end"]
    return ends


def test_best_frame_is_the_snapshot_and_the_end_names_it(tmp_path):
    got = []
    recorder = EventRecorder(EventsSettings(), "yard", tmp_path / "events", url_base="https://cam.example/ec/",
                             on_snapshot=lambda label, jpeg: got.append((label, jpeg)))
    recorder.start()
    try:
        ends = _run(recorder)
    finally:
        recorder.close()
    assert len(ends) == 1
    end = ends[0]
    assert end.snapshot == f"https://cam.example/ec/api/events/{end.id}/snapshot.jpg"
    assert end.clip is None  # no clips: [events] clips = "auto" without a packet source
    payload = end.to_payload()
    assert payload["snapshot"] == end.snapshot and payload["clip"] is None
    from edgecam.events.store import EventStore

    store = EventStore(tmp_path / "events", 10**9, 10**12)
    record = store.get(end.id)
    assert record.end_time == end.end_time and abs(record.top_score - 0.93) < 1e-6 and record.snapshot
    snapshot = cv2.imread(str(store.path(end.id, "snapshot.jpg")))
    assert snapshot.shape == (240, 320, 3)
    assert abs(float(snapshot.mean()) - 60) < 3  # frame 2's grey level: the frame with the top score
    assert got and got[0][0] == "person" and cv2.imdecode(np.frombuffer(got[0][1], np.uint8), 1).shape == (240, 320, 3)
    store.close()


def test_clip_modes():
    assert clip_mode("auto", source_has_packets=True) == "copy"
    assert clip_mode("auto", source_has_packets=False) is None
    assert clip_mode("on", source_has_packets=False) == "encode"
    assert clip_mode("on", source_has_packets=True) == "copy"
    assert clip_mode("off", source_has_packets=True) is None


def test_a_store_that_cannot_open_leaves_the_daemon_running(tmp_path, caplog):
    """A file where the events directory should be (or a full disk at start): one warning, no history, no raise."""
    (tmp_path / "events").write_text("not a directory")
    recorder = EventRecorder(EventsSettings(clips="on"), "yard", tmp_path / "events", clip_mode="encode")
    recorder.start()
    try:
        ends = _run(recorder)
        assert ends and ends[0].snapshot is None and ends[0].clip is None
        stats = recorder.stats()
        assert stats["recording"] is False and stats["disk_full"] == 1 and stats["stored"] == 0
    finally:
        recorder.close()
    warnings = [r.getMessage() for r in caplog.records if "cannot open the event store" in r.getMessage()]
    assert len(warnings) == 1 and "state_dir" in warnings[0]


def test_a_larger_main_stream_image_becomes_the_snapshot_with_the_box_scaled(tmp_path):
    """A source with a larger stream (picamera2's main) answers the recorder's request with the image of the
    capture after the best frame; the snapshot is that image, the box scaled to it."""
    recorder = EventRecorder(EventsSettings(), "yard", tmp_path / "events")
    requests = recorder.main_images
    requests.min_interval_s = 0.0
    real_publish = recorder.publish

    def publish_then_capture(update):  # the source reads the next frame after the recorder asked
        real_publish(update)
        i = update.frame.index + 1
        if requests.wanted():
            requests.deliver(Frame(cv2.resize(_frame(i), (640, 480)), i, update.frame.timestamp + 0.2, "BGR"))

    recorder.publish = publish_then_capture
    recorder.start()
    try:
        ends = _run(recorder)
        stats = recorder.stats()
    finally:
        recorder.close()
    from edgecam.events.store import EventStore

    store = EventStore(tmp_path / "events", 10**9, 10**12)
    clean = cv2.imread(str(store.path(ends[0].id, "snapshot.jpg")))
    boxed = cv2.imread(str(store.path(ends[0].id, "boxed.jpg")))
    store.close()
    assert clean.shape == (480, 640, 3)  # the main stream's size, not the 320x240 detection frame
    assert abs(float(clean.mean()) - 90) < 3  # frame 3: the capture right after the best frame (2)
    drawn = np.abs(boxed.astype(int) - clean.astype(int)).max(axis=2) > 40
    cols = np.flatnonzero(drawn[250:380].any(axis=0))  # rows inside the box, below its label
    assert abs(cols.min() - 200) <= 4 and abs(cols.max() - 320) <= 4, (cols.min(), cols.max())  # x 100..160 × 2
    assert requests.delivered >= 1 and stats["main_images"] == requests.delivered
