"""The live controls and the thermal governor, wired through a running pipeline (real model, real tracker).

Each test changes something while ``run()`` is going and checks the frame that follows: switching
detection off stops forward passes, a new confidence applies to the next frame taken, a hot SoC
stretches the capture period and a cooled one restores it.
"""

from __future__ import annotations

import threading
import time

import cv2
import pytest

from edgecam.controls import Controls
from edgecam.detectors.ncnn_detector import NcnnDetector
from edgecam.detectors.settings import DetectorSettings
from edgecam.domain import Frame
from edgecam.runtime.capture import CaptureThread
from edgecam.runtime.pipeline import Pipeline
from edgecam.runtime.settings import ThermalSettings
from edgecam.runtime.thermal import ThermalGovernor
from edgecam.sources.images import ImageFolderSource
from edgecam.sources.settings import ImagesSettings
from edgecam.tracking.settings import TrackerSettings
from edgecam.tracking.tracker import IouTracker
from sharedkit import HORSE


class CountingDetector(NcnnDetector):
    """The real ncnn detector, counting its forward passes."""

    forwards = 0

    def forward(self, mat):
        self.forwards += 1
        return super().forward(mat)


@pytest.fixture(scope="module")
def detector():
    det = CountingDetector.from_settings(DetectorSettings(path="yolov5ss", size=320, threads=1))
    yield det
    det.close()


class Camera:
    """An endless camera of one photo; ``on_take[i]()`` runs just before frame ``i`` is handed over."""

    def __init__(self, on_take: dict, stop_after: int) -> None:
        self.image = cv2.imread(str(HORSE))
        self.on_take, self.stop_after, self.taken = on_take, stop_after, 0

    def next(self, timeout: float):
        if self.taken >= self.stop_after:
            time.sleep(min(timeout, 0.01))
            return None
        i, self.taken = self.taken, self.taken + 1
        if i in self.on_take:
            self.on_take[i]()
        return Frame(image=self.image, index=i, timestamp=1000.0 + i * 0.2, pixel_format="BGR")

    def exhausted(self) -> bool:
        return self.taken >= self.stop_after


class Recorder:
    def __init__(self) -> None:
        self.updates = []

    def start(self) -> None: ...

    def publish(self, update) -> None:
        if update.frame.index >= 0:
            self.updates.append(update)

    def publish_stats(self, stats) -> None: ...

    def close(self) -> None: ...


def run(pipeline: Pipeline, timeout: float = 120.0) -> None:
    t = threading.Thread(target=pipeline.run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "pipeline.run() did not return in time"


def pipeline_for(detector, camera: Camera, controls: Controls, pub: Recorder, overlap: bool, **kw) -> Pipeline:
    tracker = IouTracker(TrackerSettings(min_hits=1), (), ())
    return Pipeline("cam", camera.next, camera.exhausted, detector, tracker, [pub], controls, overlap=overlap, **kw)


@pytest.mark.parametrize("overlap", [False, True])
def test_detection_off_means_no_forward_pass(detector, overlap):
    controls = Controls(conf=0.45)
    forwards_at_switch = []

    def switch_off():
        forwards_at_switch.append(detector.forwards)
        controls.set_detection_enabled(False)

    camera, pub = Camera({3: switch_off}, stop_after=8), Recorder()
    before = detector.forwards
    run(pipeline_for(detector, camera, controls, pub, overlap))
    assert [u.frame.index for u in pub.updates] == list(range(8))
    assert all(u.inference is not None for u in pub.updates[:3])
    assert all(u.inference is None for u in pub.updates[3:])  # from the frame taken after the switch
    assert detector.forwards - before == 3  # ... no forward pass at all
    assert forwards_at_switch[0] - before <= 3


@pytest.mark.parametrize("overlap", [False, True])
def test_a_new_confidence_applies_to_the_next_frame(detector, overlap):
    controls = Controls(conf=0.25)
    camera, pub = Camera({2: lambda: controls.set_conf(0.78)}, stop_after=4), Recorder()
    run(pipeline_for(detector, camera, controls, pub, overlap))
    scores = [u.inference.detections.scores for u in pub.updates]
    assert all(len(s) >= 3 and s.min() < 0.78 for s in scores[:2])  # person .80, dog .75, horse .70 at 0.25
    assert all(len(s) == 1 and s.min() >= 0.78 for s in scores[2:])  # only the person from frame 2 on


def test_a_hot_soc_stretches_the_capture_period_and_a_cool_one_restores_it(detector, tmp_path):
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    temp = zone / "temp"
    temp.write_text("50000\n")
    cam = ImagesSettings(path=str(HORSE), fps=20.0, loop=True)
    capture = CaptureThread(lambda: ImageFolderSource(cam), cam)
    governor = ThermalGovernor(ThermalSettings(sysfs_root=str(tmp_path / "sys"), poll_s=0.0, step_s=0.0,
                                               step_factor=2.0, min_fps=2.0), base_fps=20.0)
    controls = Controls(detection_enabled=False)  # the governor runs whether or not the network does
    pipe = Pipeline("cam", capture.get, lambda: capture.done, detector, IouTracker(TrackerSettings(), (), ()),
                    [Recorder()], controls, thermal=governor, set_fps=capture.set_fps, overlap=False)
    period = lambda: capture._period  # noqa: E731 - the capture thread's pacing interval (s)

    def wait_for(condition, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.01)

    capture.start()
    runner = threading.Thread(target=pipe.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: pipe.stats.frames >= 3, "no frames at 50 °C")
        assert period() == pytest.approx(1 / 20.0)
        temp.write_text("80000\n")
        wait_for(lambda: period() >= 1 / 2.0 - 1e-9, "the capture period never stretched to the minimum rate")
        assert governor.level == governor.max_level
        temp.write_text("50000\n")
        wait_for(lambda: period() == pytest.approx(1 / 20.0), "the capture period never came back")
        assert governor.level == 0
    finally:
        pipe.stop()
        runner.join(30)
        capture.stop()
