"""The staged pipeline (prepare → infer → finish threads) with the real model, tracker and motion gate."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgecam.controls import Controls
from edgecam.detectors.ncnn_detector import NcnnDetector
from edgecam.detectors.settings import DetectorSettings
from edgecam.domain import Frame
from edgecam.runtime.motion import MotionGate
from edgecam.runtime.pipeline import Pipeline
from edgecam.runtime.settings import MotionSettings
from edgecam.runtime.stages import Handoff
from edgecam.tracking.settings import TrackerSettings
from edgecam.tracking.tracker import IouTracker


@pytest.fixture(scope="module")
def detector():
    """Smaller than the session's detector: the pipeline's stages are under test here, not the model."""
    det = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=320, threads=1))
    yield det
    det.close()


class Frames:
    """A finite camera: hands out the given images in order, then reports itself exhausted."""

    def __init__(self, images, start_ts: float = 1000.0) -> None:
        self._frames = [Frame(image=im, index=i, timestamp=start_ts + i * 0.2, pixel_format="BGR")
                        for i, im in enumerate(images)]
        self._lock = threading.Lock()
        self.taken = 0

    def next(self, timeout: float):
        with self._lock:
            if self.taken < len(self._frames):
                self.taken += 1
                return self._frames[self.taken - 1]
        time.sleep(min(timeout, 0.01))
        return None

    def exhausted(self) -> bool:
        return self.taken >= len(self._frames)


class Recorder:
    """A publisher that keeps what it is given (and can be told to fail on a frame)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.updates = []
        self.stats = []
        self.threads = set()
        self.fail_on = fail_on

    def start(self) -> None: ...

    def publish(self, update) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and update.frame.index == self.fail_on:
            raise RuntimeError("publisher broke")
        self.updates.append(update)

    def publish_stats(self, stats) -> None:
        self.stats.append(dict(stats))

    def close(self) -> None: ...


def make_pipeline(detector, frames: Frames, pub: Recorder, overlap: bool = True, **kw) -> Pipeline:
    tracker = IouTracker(TrackerSettings(min_hits=2, max_missed_s=0.7), (), ())
    return Pipeline("cam", frames.next, frames.exhausted, detector, tracker, [pub], Controls(), overlap=overlap, **kw)


def run_bounded(pipeline: Pipeline, timeout: float = 60.0) -> BaseException | None:
    """Run the pipeline in a thread with a deadline; returns what run() raised (or None)."""
    box: list[BaseException] = []

    def target():
        try:
            pipeline.run()
        except BaseException as exc:  # noqa: BLE001
            box.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "pipeline.run() did not return in time"
    return box[0] if box else None


@pytest.mark.parametrize("overlap", [True, False])
def test_every_frame_in_order_tracks_ended_and_stages_in_their_threads(detector, horse, overlap):
    frames = Frames([horse] * 6)
    pub = Recorder()
    p = make_pipeline(detector, frames, pub, overlap=overlap)
    assert run_bounded(p) is None
    real = [u for u in pub.updates if u.frame.index >= 0]
    assert [u.frame.index for u in real] == list(range(6))
    assert all(u.inference is not None and len(u.inference.detections) >= 3 for u in real)
    events = [e for u in pub.updates for e in u.events]
    news = {e.id for e in events if e.type == "new"}
    ends = {e.id for e in events if e.type == "end"}
    assert len(news) >= 3 and news == ends  # person, dog, horse confirmed, and ended on the way out
    assert pub.updates[-1].frame.index == -1  # the shutdown update comes last
    assert ("edgecam-finish" in pub.threads) is overlap  # inline: everything in the caller's thread
    assert p.stats.frames == 6 and p.stats.inferences == 6
    assert pub.stats and pub.stats[-1]["frames"] == 6


def test_staged_path_matches_detect(detector, horse):
    pub = Recorder()
    p = make_pipeline(detector, Frames([horse]), pub)
    update = p.process(Frame(image=horse, index=0, timestamp=1.0, pixel_format="BGR"))
    direct = detector.detect(horse, "BGR")
    assert update.inference is not None
    np.testing.assert_allclose(update.inference.detections.boxes, direct.detections.boxes, atol=1e-3)
    np.testing.assert_array_equal(update.inference.detections.class_ids, direct.detections.class_ids)
    assert (update.inference.width, update.inference.height) == (horse.shape[1], horse.shape[0])
    assert update.inference.inference_ms > 0 and update.inference.preprocess_ms > 0


@pytest.mark.parametrize("overlap", [True, False])
def test_max_frames_takes_exactly_that_many(detector, horse, overlap):
    frames = Frames([horse] * 10)
    pub = Recorder()
    assert run_bounded(make_pipeline(detector, frames, pub, overlap=overlap, max_frames=4)) is None
    assert [u.frame.index for u in pub.updates if u.frame.index >= 0] == [0, 1, 2, 3]
    assert frames.taken == 4  # no frame was pulled from the camera and then thrown away


@pytest.mark.parametrize("overlap", [True, False])
def test_publisher_error_stops_the_pipeline_and_is_raised(detector, horse, overlap):
    frames = Frames([horse] * 50)
    pub = Recorder(fail_on=2)
    p = make_pipeline(detector, frames, pub, overlap=overlap)
    err = run_bounded(p)
    assert isinstance(err, RuntimeError) and "publisher broke" in str(err)
    assert frames.taken < 50
    assert not [t for t in threading.enumerate() if t.name in ("edgecam-prepare", "edgecam-finish")]


def test_detector_error_stops_the_pipeline_and_is_raised(detector, horse):
    frames = Frames([horse, np.zeros((8, 8), np.uint8), horse, horse])  # a 2-D image is invalid input
    pub = Recorder()
    err = run_bounded(make_pipeline(detector, frames, pub))
    assert isinstance(err, ValueError) and "H×W×3" in str(err)
    assert pub.updates and pub.updates[-1].frame.index == -1  # tracks were still ended


def test_stop_from_another_thread_ends_a_running_pipeline(detector, horse):
    class Endless(Frames):
        def next(self, timeout):
            with self._lock:
                self.taken += 1
            return Frame(image=horse, index=self.taken, timestamp=float(self.taken), pixel_format="BGR")

        def exhausted(self):
            return False

    frames = Endless([])
    pub = Recorder()
    p = make_pipeline(detector, frames, pub)
    threading.Timer(0.5, p.stop).start()
    assert run_bounded(p, timeout=30) is None
    real = [u.frame.index for u in pub.updates if u.frame.index >= 0]
    assert len(real) >= 1 and real == sorted(real)
    assert frames.taken - len(real) <= 1  # at most the frame in hand when stop came is left


def moving_patch(n: int, size=(240, 320)) -> list[np.ndarray]:
    """Grey frames with a bright square sliding across: motion in every frame, nothing to detect."""
    out = []
    for i in range(n):
        im = np.full((*size, 3), 90, np.uint8)
        x = 10 + i * 30
        im[80:140, x:x + 60] = 250
        out.append(im)
    return out


def test_motion_gate_skips_a_static_scene_but_not_a_moving_one(detector):
    grey = np.full((240, 320, 3), 90, np.uint8)
    for images, want_inferred in (([grey] * 8, 1), (moving_patch(8), 8)):
        frames = Frames(images)
        pub = Recorder()
        tracker = IouTracker(TrackerSettings(min_hits=2, max_missed_s=0.3), (), ())
        gate = MotionGate(MotionSettings(enabled=True, recheck_s=3600.0))
        p = Pipeline("cam", frames.next, frames.exhausted, detector, tracker, [pub], Controls(), motion=gate,
                     overlap=True)
        assert run_bounded(p) is None
        assert p.stats.frames == 8
        assert p.stats.inferences == want_inferred  # static: only the first frame (no background yet)
        assert p.stats.skipped == 8 - want_inferred


def test_handoff_put_waits_until_taken_and_close_ends():
    h = Handoff()
    assert h.get(0.01) is None
    assert h.put("a")
    done = threading.Event()

    def second():
        h.put("b")
        done.set()

    threading.Thread(target=second, daemon=True).start()
    assert not done.wait(0.1)  # the mailbox is full: put waits
    assert h.get(1.0) == "a"
    assert done.wait(5.0)
    h.close()
    assert h.get(1.0) == "b"  # what was handed over is still delivered
    assert h.get(1.0) is Handoff.END
    assert not h.put("c")


def test_release_free_heap_returns_freed_pages():
    from edgecam.runtime.stats import release_free_heap

    def rss_kb() -> int:
        line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmRSS"))
        return int(line.split()[1])

    # many mid-sized blocks (below the mmap threshold, so they live in the heap), then free most of them
    blocks = [bytearray(64 * 1024) for _ in range(800)]
    keep = blocks[::50]
    del blocks
    before = rss_kb()
    assert release_free_heap() is True  # glibc (Debian, Raspberry Pi OS)
    assert rss_kb() < before - 10 * 1024  # >10 MB of the ~50 MB freed went back to the system
    assert keep


def test_overlap_only_when_the_network_leaves_a_core_free(detector):
    import os

    from edgecam.runtime.pipeline import spare_core

    cores = len(os.sched_getaffinity(0))

    class Det:
        def __init__(self, threads):
            self.settings = DetectorSettings(threads=threads)
            self.name, self.class_names = "d", ()

    assert spare_core(Det(cores)) is False and spare_core(Det(cores + 2)) is False
    assert spare_core(Det(cores - 1)) is (cores > 1)
    assert spare_core(object()) is True  # nothing known about its threads
    frames = Frames([])
    assert Pipeline("c", frames.next, frames.exhausted, Det(cores), None, [], Controls()).overlap is False
    assert Pipeline("c", frames.next, frames.exhausted, Det(cores), None, [], Controls(), overlap=True).overlap is True


def test_overlapped_stages_hand_the_gil_over_quickly_and_restore_the_interval(detector, horse):
    import sys

    from edgecam.runtime.stages import SWITCH_INTERVAL_S

    seen = []

    class Probe(Recorder):
        def publish(self, update) -> None:
            seen.append(sys.getswitchinterval())
            super().publish(update)

    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S
    assert run_bounded(make_pipeline(detector, Frames([horse] * 2), Probe(), overlap=True)) is None
    assert seen and seen[0] == SWITCH_INTERVAL_S
    assert sys.getswitchinterval() == before
    seen.clear()
    assert run_bounded(make_pipeline(detector, Frames([horse] * 2), Probe(), overlap=False)) is None
    assert seen and set(seen) == {before}  # in turn: nothing to hand over to


@pytest.mark.parametrize("overlap", [True, False])
def test_camera_yuv_frames_are_never_converted_at_full_size(detector, horse, overlap):
    """The Pi camera's frames stay YUV buffers through the data path (with the motion gate on): the
    detector scales the planes and the gate reads luma, so no full-size RGB image is made — until a
    consumer (a snapshot, the live view) asks for ``frame.image``."""
    from edgecam.evaluation.yuv_replay import i420_buffer
    from edgecam.sources.yuv import YuvFrame

    buf = i420_buffer(horse, 640, 360)
    frames = Frames([horse] * 6)
    frames._frames = [YuvFrame(buf.copy(), 640, i, 1000.0 + i * 0.2) for i in range(6)]
    pub = Recorder()
    p = make_pipeline(detector, frames, pub, overlap=overlap, motion=MotionGate(MotionSettings(enabled=True)))
    assert run_bounded(p) is None
    updates = [u for u in pub.updates if u.frame.index >= 0]
    assert len(updates) == 6 and updates[0].inference is not None  # the gate lets the first frame through
    found = updates[0].inference.detections
    assert {"person", "dog", "horse"} <= {found.label(i) for i in range(len(found))}
    assert all(u.frame._image is None for u in updates)  # nothing converted the full frame
    assert updates[-1].frame.image.shape == (360, 640, 3)  # a consumer that asks gets it
