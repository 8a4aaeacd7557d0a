"""Fixtures: the live view under test, the real server fed by the real detector and tracker.

``live_view(**web_settings)`` starts a :class:`WebPublisher` on a free loopback port with a zone and a
mask, and a feeder thread that plays real detections of horse.jpg (person, dog, horse) through the
real tracker, as the pipeline's finish stage does: the live view sees confirmed tracks, events and
frames.  Helpers (raw HTTP requests, an MJPEG reader) are in ``tests/webkit.py``.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from edgecam.config.loader import parse_config
from edgecam.controls import Controls
from edgecam.domain import Frame, FrameUpdate
from edgecam.tracking.settings import TrackerSettings
from edgecam.web.publisher import WebPublisher
from edgecam.web.settings import WebSettings
from webkit import MASKS, ZONES, LiveView


@pytest.fixture(scope="session")
def horse_scene(horse):
    """(RGB image, real detections of it) from the real yolov5ss model at 320."""
    from edgecam.detectors.ncnn_detector import NcnnDetector
    from edgecam.detectors.settings import DetectorSettings

    detector = NcnnDetector.from_settings(DetectorSettings(path="yolov5ss", size=320, threads=1, conf=0.3))
    try:
        image = horse[:, :, ::-1].copy()
        detections = detector.detect(image, "RGB").detections
        return image, detections, tuple(detector.class_names)
    finally:
        detector.close()


@pytest.fixture
def live_view(horse_scene):
    from edgecam.tracking.tracker import IouTracker

    image, detections, classes = horse_scene
    made: list[tuple[LiveView, threading.Thread]] = []

    def make(fps: float = 20.0, **web) -> LiveView:
        settings = dataclasses.replace(WebSettings(port=0), **web)
        settings.validate()
        controls = Controls(conf=0.45)
        pub = WebPublisher(settings, "yard", controls, ZONES, MASKS, class_names=classes, parse_config=parse_config)
        pub.start()
        assert pub.server is not None, "the live view did not bind"
        view = LiveView(pub, controls, "127.0.0.1", pub.server.url_port)
        tracker = IouTracker(TrackerSettings(min_hits=2), ZONES, MASKS)

        def feed() -> None:
            index = 0
            while not view.stop.is_set():
                now = time.time()
                out = tracker.update(detections, now, image.shape[1], image.shape[0])
                pub.publish(FrameUpdate("yard", Frame(image, index, now), None, out.detections, out.events,
                                        out.tracks, out.counts, out.zone_counts))
                index += 1
                view.offered = index
                if index % 10 == 0:
                    pub.publish_stats({"fps": fps, "inference_ms": 12.5, "dropped_frames": 0})
                view.stop.wait(1.0 / fps)

        thread = threading.Thread(target=feed, name="test-feeder", daemon=True)
        thread.start()
        made.append((view, thread))
        return view

    yield make
    for view, thread in made:
        view.stop.set()
        thread.join(5)
        view.publisher.close()


