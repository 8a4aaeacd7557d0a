"""The plugin registries: every source, detector and publisher kind round-trips config → instance.

A kind is registered once (``SOURCES``, ``DETECTORS``, ``PUBLISHERS``); the config's ``[camera]`` and
``[model]`` models, the app's publishers and the stats keys all follow from that registration.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from edgecam.app import _publisher_stats, build_publishers
from edgecam.config import Settings, parse_config
from edgecam.config.plugins import CAMERA_SETTINGS
from edgecam.controls import Controls
from edgecam.detectors.base import DETECTORS, Detector
from edgecam.publishers.base import PUBLISHERS, Publisher, load_publisher_class
from edgecam.sources.base import SOURCES, FrameSource, create_source
from sharedkit import HORSE, REPO


CAMERA = {"picamera2": 'path = "0"', "opencv": 'path = "rtsp://cam.local/stream"', "images": f'path = "{HORSE}"',
          "stream": 'path = "rtsp://cam.local/stream"'}


def test_the_registries_know_every_plugin():
    assert SOURCES.kinds() == ("picamera2", "opencv", "images", "stream")  # the first is the default
    assert DETECTORS.kinds() == ("ncnn",)
    assert PUBLISHERS.kinds() == ("stdout", "mqtt", "events", "web")
    with pytest.raises(KeyError, match=r"unknown publisher 'nope'; known: events, mqtt, stdout, web"):
        load_publisher_class("nope")


@pytest.mark.parametrize("kind", SOURCES.kinds())
def test_every_source_kind_round_trips(kind, tmp_path):
    settings = parse_config(f'[camera]\nsource = "{kind}"\n{CAMERA[kind]}\n', base_dir=tmp_path)
    plugin = SOURCES[kind]
    assert type(settings.camera) is plugin.settings_model() is CAMERA_SETTINGS[kind]
    source = create_source(settings.camera, base_dir=tmp_path)  # built, not opened: no camera needed
    assert type(source) is plugin.load() and type(source).kind == kind == settings.camera.source
    assert isinstance(source, FrameSource)
    source.close()


def test_the_detector_kind_round_trips(horse):
    settings = parse_config('[model]\nbackend = "ncnn"\npath = "yolov5ss"\nsize = 320\nthreads = 1\n')
    plugin = DETECTORS[settings.model.backend]
    assert type(settings.model) is plugin.settings_model()
    detector = plugin.load().from_settings(settings.model)
    try:
        assert type(detector).kind == "ncnn" and isinstance(detector, Detector)
        detections = detector.detect(horse, "BGR").detections
        assert {detections.label(i) for i in range(len(detections))} >= {"horse", "person"}
    finally:
        detector.close()


class _Classes:
    class_names = ("person", "dog", "horse")


def test_every_publisher_kind_round_trips(tmp_path):
    text = ('[output]\nstdout = true\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\n'
            '[web]\nenabled = true\nport = 0\n[[zones]]\nname = "yard"\npoints = [[0, 0], [1, 0], [1, 1]]\n')
    settings = parse_config(text)
    publishers = build_publishers(settings, Controls(), _Classes(), tmp_path)  # built, not started
    assert [type(p).kind for p in publishers] == list(PUBLISHERS.kinds())
    for plugin, publisher in zip(PUBLISHERS, publishers):
        assert type(publisher) is plugin.load() and isinstance(publisher, Publisher)
        if plugin.settings is not None:  # the section it is built from is its registered model
            assert type(getattr(settings, plugin.sections[0])) is plugin.settings_model()
    stdout, mqtt, events, web = publishers
    assert mqtt.state_dir == tmp_path and mqtt.topics.camera == settings.camera.id
    assert events.directory == tmp_path / "events" and events.clip_mode is None  # picamera2 off a Pi 4: no hardware encoder, auto = no clips
    assert web.zones == settings.zones and web.class_names == _Classes.class_names and web.parse_config is parse_config
    assert set(_publisher_stats(publishers)) == {"mqtt", "events"}  # each publisher's own counters under its kind


@pytest.mark.parametrize("switch", PUBLISHERS.kinds())
def test_a_publisher_is_built_only_when_its_switch_is_on(switch, tmp_path):
    flags = {kind: "true" if kind == switch else "false" for kind in PUBLISHERS.kinds()}
    settings = parse_config(f'[output]\nstdout = {flags["stdout"]}\n[mqtt]\nenabled = {flags["mqtt"]}\n'
                            f'host = "127.0.0.1"\n[web]\nenabled = {flags["web"]}\nport = 0\n'
                            f'[events]\nenabled = {flags["events"]}\n')
    assert [type(p).kind for p in build_publishers(settings, Controls(), _Classes(), tmp_path)] == [switch]


@pytest.mark.slow  # a fresh interpreter
def test_settings_import_no_heavy_library():
    """``edgecam check`` composes every plugin's settings without ncnn, cv2 or paho."""
    code = ("import sys, json, edgecam.config; edgecam.config.parse_config('[camera]\\nsource = \"opencv\"\\n"
            "path = \"0\"\\n'); print(json.dumps([m for m in ('ncnn', 'cv2', 'paho', 'picamera2') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == []


def test_defaults_are_the_first_kinds():
    settings = Settings()
    assert settings.camera.source == SOURCES.kinds()[0] and settings.model.backend == DETECTORS.kinds()[0]
    assert dataclasses.replace(settings.camera, fps=2.0).source == "picamera2"
