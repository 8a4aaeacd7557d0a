"""Stationary objects and zone dwell time on sequences of real photos, through the images source.

The frames are files in a directory (symlinks to one photo, and edited copies of it), played by the
real :class:`ImageFolderSource` into the real pipeline (ncnn detector, tracker).  Each frame's
timestamp is set to a steady simulated clock (``DT`` s apart), so the sequences cover tens of
seconds of a camera's time in a second or two of test time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.detectors.ncnn_detector import NcnnDetector
from edgecam.detectors.settings import DetectorSettings
from edgecam.controls import Controls
from edgecam.runtime.pipeline import Pipeline
from edgecam.sources.images import ImageFolderSource
from edgecam.sources.settings import ImagesSettings
from edgecam.tracking.settings import TrackerSettings, ZoneSettings
from edgecam.tracking.tracker import IouTracker

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAR = SHARED / "datasets" / "coco128_train2017" / "images" / "000000000064.jpg"  # a parked car, lower left
CAR_BOX = (49.6, 393.1, 240.3, 532.8)  # `edgecam detect --size 320`: within a few pixels
HORSE = SHARED / "images" / "horse.jpg"  # a person [192, 108, 273, 369] beside a horse
DT = 0.4
pytestmark = pytest.mark.slow  # a few hundred forward passes


@pytest.fixture(scope="module")
def detector():
    det = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=320, threads=1))
    yield det
    det.close()


def link(directory: Path, name: str, target: Path) -> None:
    (directory / name).symlink_to(target)


def play(detector, directory: Path, tracker: IouTracker, conf: float = 0.3):
    """Every frame of ``directory`` through the images source and the pipeline; the updates, then flush."""
    cam = ImagesSettings(path=str(directory), loop=False)
    source = ImageFolderSource(cam)
    source.open()
    pipe = Pipeline("cam", lambda _t: None, lambda: True, detector, tracker, [], Controls(conf=conf), overlap=False)
    updates = []
    try:
        while True:
            try:
                frame = source.read(1.0)
            except EOFError:
                break
            frame = dataclasses.replace(frame, timestamp=1000.0 + frame.index * DT)
            updates.append(pipe.process(frame))
    finally:
        source.close()
    return updates, tracker.flush(2000.0)


def car_events(updates, final):
    return [e for u in updates for e in u.events if e.label == "car"] + [e for e in final.events if e.label == "car"]


def test_a_parked_car_missed_for_8_seconds_is_one_stationary_object(detector, tmp_path):
    image = cv2.imread(str(CAR))
    hidden = image.copy()
    x0, y0, x1, y1 = (int(v) for v in CAR_BOX)
    hidden[y0 - 10:y1 + 10, max(0, x0 - 10):x1 + 10] = image[y0 - 10:y1 + 10, 250:250 + (x1 + 10 - max(0, x0 - 10))]
    cv2.imwrite(str(tmp_path / "hidden.png"), hidden)  # the car painted over with road from its right
    scene = tmp_path / "scene"
    scene.mkdir()
    for i in range(40):
        link(scene, f"a{i:03d}.jpg", CAR)
    for i in range(20):
        link(scene, f"b{i:03d}.png", tmp_path / "hidden.png")
    for i in range(40):
        link(scene, f"c{i:03d}.jpg", CAR)
    updates, final = play(detector, scene, IouTracker(TrackerSettings()))  # the defaults: 10 s, 60 s hold
    assert not any(d.label(i) == "car" for u in updates[40:60] for d in [u.inference.detections]
                   for i in range(len(d))), "the painted-over frames still show a car"
    events = car_events(updates, final)
    assert [e.type for e in events] == ["new", "update", "end"], [(e.type, e.stationary) for e in events]
    new, update, end = events
    assert len({e.id for e in events}) == 1
    assert not new.stationary and update.stationary and end.stationary
    assert all(u.counts.get("car") == 1 for u in updates[1:])  # counted through the 8 s gap
    assert all(t.stationary for u in updates[30:] for t in u.tracks if t.label == "car")


def test_a_car_that_drives_off_is_never_stationary(detector, tmp_path):
    image = cv2.imread(str(CAR))
    h, w = image.shape[:2]
    scene = tmp_path / "scene"
    scene.mkdir()
    for i in range(40):  # the photo slides right 12 px per frame across a wider grey canvas: the car moves
        canvas = np.full((h, w + 480, 3), 114, np.uint8)
        canvas[:, 12 * i:12 * i + w] = image
        cv2.imwrite(str(scene / f"f{i:03d}.png"), canvas)
    updates, final = play(detector, scene, IouTracker(TrackerSettings(stationary_s=5.0)))
    events = car_events(updates, final)
    assert events and events[0].type == "new" and events[-1].type == "end"
    boxes = [t.box for u in updates for t in u.tracks if t.label == "car"]
    assert boxes[-1][0] - boxes[0][0] > 300  # it did drive: the box moved across the frame
    assert not any(e.stationary for e in events)
    assert not any(t.stationary for u in updates for t in u.tracks)


def test_a_person_counts_in_a_zone_only_after_min_s(detector, tmp_path):
    scene = tmp_path / "scene"
    scene.mkdir()
    for i in range(15):
        link(scene, f"a{i:03d}.jpg", HORSE)
    gate = ZoneSettings(name="gate", points=((0.2, 0.5), (0.5, 0.5), (0.5, 1.0), (0.2, 1.0)), min_s=2.0,
                        labels=("person",))
    quick = ZoneSettings(name="quick", points=((0.2, 0.5), (0.5, 0.5), (0.5, 1.0), (0.2, 1.0)), labels=("person",))
    updates, final = play(detector, scene, IouTracker(TrackerSettings(update_min_interval_s=0.0), zones=[gate, quick]))
    gate_counts = [u.zone_counts.get(("gate", "person"), 0) for u in updates]
    quick_counts = [u.zone_counts.get(("quick", "person"), 0) for u in updates]
    assert quick_counts == [0] + [1] * 14  # confirmed on the second frame: counted at once
    assert gate_counts == [0] * 5 + [1] * 10  # in the zone from t=0 (its first sighting); counted from t=2.0 s
    person = [e for u in updates for e in u.events if e.label == "person"] + list(final.events)
    person = [e for e in person if e.label == "person"]
    assert [(e.type, e.entered_zones, e.exited_zones) for e in person] == [
        ("new", ("quick",), ()), ("update", ("gate",), ()), ("end", (), ("gate", "quick"))]
