"""Fixtures: the live view under test, the real server fed by the real detector and tracker.

``live_view(**web_settings)`` starts a :class:`WebPublisher` on a free loopback port with a zone and a
mask, and a feeder thread that plays real detections of horse.jpg (person, dog, horse) through the
real tracker, as the pipeline's finish stage does: the live view sees confirmed tracks, events and
frames.  Helpers (raw HTTP requests, an MJPEG reader) are in ``tests/webkit.py``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time

import pytest

from edgecam.config.loader import parse_config
from edgecam.controls import Controls
from edgecam.domain import Frame, FrameUpdate, Inference
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

    def make(fps: float = 20.0, script=None, tracking: dict | None = None, **web) -> LiveView:
        settings = dataclasses.replace(WebSettings(port=0), **web)
        settings.validate()
        controls = Controls(conf=0.45)
        pub = WebPublisher(settings, "yard", controls, ZONES, MASKS, class_names=classes, parse_config=parse_config)
        pub.start()
        assert pub.server is not None, "the live view did not bind"
        view = LiveView(pub, controls, "127.0.0.1", pub.server.url_port)
        tracker = IouTracker(TrackerSettings(**{"min_hits": 2, **(tracking or {})}), ZONES, MASKS)
        # script(index, detections) → the detections of frame ``index`` (default: all of them, every frame)

        def feed() -> None:
            index = 0
            while not view.stop.is_set():
                now = time.time()
                det = detections if script is None else script(index, detections)
                out = tracker.update(det, now, image.shape[1], image.shape[0])
                inference = Inference(det, image.shape[1], image.shape[0], 12.5)  # a frame detection ran on
                pub.publish(FrameUpdate("yard", Frame(image, index, now), inference, out.detections, out.events,
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


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("the browser test needs Debian's Chromium: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="edgecam-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
