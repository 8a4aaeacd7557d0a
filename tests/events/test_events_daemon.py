"""The event history inside the real daemon (images source, real model, real mosquitto, real HTTP, Chromium):
``end`` events name their evidence, snapshots decode at full resolution, software-encoded clips decode with
PyAV and span the event plus pre- and post-roll (frame timestamps), /api/events filters, Home Assistant
gets a "Last <label>" image, and the review page shows thumbnails and plays a clip."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from broker import Mosquitto, MqttRecorder
from daemonkit import BASE, EVENTS, Daemon, camera_dir, last_stats, write_config
from sharedkit import HORSE
from webkit import LiveView, request

PRE_S, POST_S, CLIP_FPS = 1.0, 0.5, 10.0
EVENTS_ON = f'\n[events]\nclips = "on"\npre_s = {PRE_S}\npost_s = {POST_S}\nclip_fps = {CLIP_FPS}\nclip_width = 320\n'

pytestmark = pytest.mark.slow


def write_history_scene(directory: Path, cycles: int = 1, blank: int = 15, horse: int = 8, tail: int = 15) -> Path:
    """Per cycle: ``blank`` empty grey frames (the pre-roll has something to show), ``horse`` frames of horse.jpg
    (person, dog, horse appear), ``tail`` empty frames (they leave; the post-roll)."""
    directory.mkdir(parents=True, exist_ok=True)
    grey = directory.parent / "grey.jpg"
    shape = cv2.imread(str(HORSE)).shape
    cv2.imwrite(str(grey), np.full(shape, 128, np.uint8))
    for c in range(cycles):
        for i in range(blank + horse + tail):
            src = HORSE if blank <= i < blank + horse else grey
            (directory / f"c{c:03d}f{i:03d}.jpg").symlink_to(src)
    return directory


def web_port(daemon: Daemon) -> LiveView:
    daemon.wait_until(lambda: re.search(r"live view: http://127\.0\.0\.1:\d+/", daemon.stderr()), 120, "the live view")
    port = int(re.search(r"live view: http://127\.0\.0\.1:(\d+)/", daemon.stderr()).group(1))
    return LiveView(publisher=None, controls=None, host="127.0.0.1", port=port)  # type: ignore[arg-type]


def api_events(view: LiveView, query: str = "") -> list[dict]:
    r = request(view, "GET", "/api/events" + query)
    assert r.status == 200, r.body
    return json.loads(r.body)


def frame_times(data: bytes, tmp: Path) -> list[float]:
    """Presentation times of every frame of an MP4 (every frame must decode)."""
    tmp.write_bytes(data)
    with av.open(str(tmp)) as container:
        return [float(f.time) for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """One daemon for the module: a looping scene, clips on, the live view and MQTT on."""
    tmp = tmp_path_factory.mktemp("history")
    broker = Mosquitto(tmp / "broker").start()
    rec = MqttRecorder(broker, ("#",))
    scene = write_history_scene(tmp / "scene", cycles=1)
    cfg = write_config(tmp, scene, broker.port, loop=True, fps=10, web="port = 0\n", extra=EVENTS_ON)
    daemon = Daemon(cfg, tmp / "run")
    try:
        view = web_port(daemon)
        daemon.wait_until(lambda: any(e["clip"] for e in api_events(view, "?label=person")), 120,
                          "a person event with a clip")
        yield daemon, view, rec, tmp
    finally:
        daemon.kill()
        rec.close()
        broker.stop()


def test_end_events_name_evidence_that_decodes_and_clips_span_the_event(history):
    daemon, view, rec, tmp = history
    listed = {e["id"]: e for e in api_events(view)}
    ends = [e for e in daemon.events() if e["type"] == "end" and listed.get(e["id"], {}).get("clip")]
    assert ends, "no ended event with a clip"
    end = ends[0]
    item = listed[end["id"]]
    assert end["snapshot"] == f"/api/events/{end['id']}/snapshot.jpg" == item["snapshot"]
    assert end["clip"] == f"/api/events/{end['id']}/clip.mp4" == item["clip"]
    assert item["label"] == end["label"] and item["start_time"] == end["start_time"]
    assert item["end_time"] == end["end_time"] and item["top_score"] == round(end["top_score"], 4)

    snapshot = cv2.imdecode(np.frombuffer(request(view, "GET", end["snapshot"]).body, np.uint8), cv2.IMREAD_COLOR)
    assert snapshot.shape == cv2.imread(str(HORSE)).shape  # the frame's full resolution
    thumb = cv2.imdecode(np.frombuffer(request(view, "GET", item["thumbnail"]).body, np.uint8), cv2.IMREAD_COLOR)
    assert thumb is not None and max(thumb.shape[:2]) <= 240

    times = frame_times(request(view, "GET", end["clip"]).body, tmp / "clip.mp4")
    span = times[-1] - times[0]
    wanted = (end["end_time"] + POST_S) - (end["start_time"] - PRE_S)  # the event, its pre- and post-roll
    tolerance = 2.5 / CLIP_FPS  # the last frame before the end of the post-roll may be a frame interval early
    assert span >= wanted - tolerance, (span, wanted, times)
    assert span <= wanted + 1.0 + tolerance  # at most one GOP (1 s) before the pre-roll starts
    # the decoded frames are the recorded span: first and last frame at the wall times the index gives
    assert span == pytest.approx(item["clip_end"] - item["clip_start"], abs=1.5 / CLIP_FPS)
    assert item["clip_start"] <= end["start_time"] - PRE_S + 1.0 / CLIP_FPS
    assert item["clip_end"] >= end["end_time"] + POST_S - tolerance


def test_api_filters_in_the_daemon(history):
    daemon, view, rec, tmp = history
    everything = api_events(view)
    assert {e["label"] for e in everything} >= {"person", "dog", "horse"}
    assert [e["start_time"] for e in everything] == sorted((e["start_time"] for e in everything), reverse=True)
    assert {e["label"] for e in api_events(view, "?label=dog")} == {"dog"}
    newest = everything[0]["start_time"]
    assert all(e["start_time"] >= newest for e in api_events(view, f"?after={newest}"))
    assert all(e["start_time"] < newest for e in api_events(view, f"?before={newest}"))
    assert len(api_events(view, "?limit=1")) == 1
    stats = json.loads(request(view, "GET", "/api/stats").body)["events"]
    assert stats["stored"] >= 3 and stats["recording"] is True and stats["clips"] >= 1 and stats["disk_full"] == 0


def test_home_assistant_last_label_image(history):
    daemon, view, rec, tmp = history
    discovery = rec.wait_for("homeassistant/device/edgecam_yard/config",
                             lambda m: "edgecam_yard_person_last" in json.loads(m.payload)["cmps"], 60)
    image = json.loads(discovery.payload)["cmps"]["edgecam_yard_person_last"]
    assert image["p"] == "image" and image["name"] == "Last person" and image["content_type"] == "image/jpeg"
    assert image["image_topic"] == f"{BASE}/person/snapshot"
    jpeg = rec.wait_for(f"{BASE}/person/snapshot", timeout=60)
    picture = cv2.imdecode(np.frombuffer(jpeg.payload, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == cv2.imread(str(HORSE)).shape
    # the end event on MQTT names the same evidence as the one printed
    ends = [json.loads(m.payload) for m in rec.on(EVENTS) if json.loads(m.payload)["type"] == "end"]
    assert ends and all(e["snapshot"] == f"/api/events/{e['id']}/snapshot.jpg" for e in ends)


def test_review_page_shows_thumbnails_and_plays_a_clip(history):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    daemon, view, rec, tmp = history
    if not (shutil.which("/usr/bin/chromium") and shutil.which("/usr/bin/chromedriver")):
        pytest.fail("the browser test needs Debian's Chromium: apt-get install chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="edgecam-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    try:
        wait = WebDriverWait(browser, 60)
        browser.get(f"{view.url}events")
        wait.until(lambda d: d.execute_script(
            "const t = [...document.querySelectorAll('#grid img.thumb')];"
            "return t.length >= 3 && t.every(i => i.complete && i.naturalWidth > 0);"), "thumbnails shown")
        shown = set(browser.execute_script("return [...document.querySelectorAll('.card')].map(c => c.dataset.id)"))
        clip_id = next(e["id"] for e in api_events(view) if e["clip"] and e["id"] in shown)
        browser.find_element(By.CSS_SELECTOR, f'.card[data-id="{clip_id}"]').click()
        wait.until(lambda d: d.execute_script("return document.getElementById('d-clip').readyState >= 2"),
                   "the clip loaded (readyState >= 2)")
        browser.execute_script("document.getElementById('d-clip').play()")
        wait.until(lambda d: d.execute_script("return document.getElementById('d-clip').currentTime > 0.3"),
                   "the clip playing (currentTime advancing)")
        assert browser.execute_script("return document.getElementById('d-clip').error") is None
        wait.until(lambda d: d.execute_script(
            "const i = document.getElementById('d-snapshot'); return i.complete && i.naturalWidth > 0"), "the snapshot")
        # delete from the page: the event leaves the index and the grid
        browser.find_element(By.ID, "d-delete").click()
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'.card[data-id="{clip_id}"]'), "the card deleted")
        assert clip_id not in {e["id"] for e in api_events(view)}
        assert request(view, "GET", f"/api/events/{clip_id}/clip.mp4").status == 404
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _file_bytes(events_dir: Path) -> int:
    return sum(p.stat().st_size for p in events_dir.iterdir() if p.is_file() and not p.name.startswith("index."))


def test_budget_keeps_the_store_under_max_mb(tmp_path):
    """max_mb = 0.25: old events are deleted as new ones come; the files never stay above the budget."""
    scene = write_history_scene(tmp_path / "scene", cycles=3)
    cfg = write_config(tmp_path, scene, None, fps=10, extra=EVENTS_ON + "max_mb = 0.25\n")
    with Daemon(cfg, tmp_path / "run") as daemon:
        assert daemon.wait(180) == 0
    events_dir = camera_dir(tmp_path / "state") / "events"
    ends = [e for e in daemon.events() if e["type"] == "end"]
    assert len(ends) >= 6
    assert 0 < _file_bytes(events_dir) <= 0.25 * 1024 * 1024
    stats = last_stats(daemon)["events"]
    assert stats["deleted"] >= 1 and stats["mb"] <= 0.25


def test_sigkill_mid_clip_then_every_listed_clip_plays(tmp_path):
    """A long post-roll keeps a clip open; SIGKILL while its .part file grows; the next start finalises it
    (the packets that decode) or removes it, and every clip /api/events lists then plays to its end."""
    scene = write_history_scene(tmp_path / "scene", cycles=1, tail=200)
    cfg = write_config(tmp_path, scene, None, fps=10, web="port = 0\n",
                       extra=EVENTS_ON.replace(f"post_s = {POST_S}", "post_s = 60.0"))
    events_dir = camera_dir(tmp_path / "state") / "events"
    with Daemon(cfg, tmp_path / "run") as daemon:
        daemon.wait_until(lambda: any(e["type"] == "end" for e in daemon.events())
                          and any(p.stat().st_size > 30_000 for p in events_dir.glob("*.clip.mp4.part")), 120,
                          "an ended event whose clip is still being written (post-roll)")
        daemon.kill()
    parts = [p.name.split(".clip.mp4.part")[0] for p in events_dir.glob("*.clip.mp4.part")]
    assert parts
    quiet = write_history_scene(tmp_path / "quiet", cycles=1, blank=30, horse=0, tail=0)
    cfg2 = write_config(tmp_path, quiet, None, fps=10, loop=True, web="port = 0\n", extra=EVENTS_ON, name="again.toml")
    with Daemon(cfg2, tmp_path / "run") as daemon:
        view = web_port(daemon)
        daemon.wait_until(lambda: "event history:" in daemon.stderr(), 60, "the event history at start")
        listed = api_events(view)
        with_clips = [e for e in listed if e["clip"]]
        assert set(parts) <= {e["id"] for e in with_clips}  # finalised
        assert all(e["end_time"] is not None for e in listed)  # events the crash left open are closed
        for e in with_clips:
            times = frame_times(request(view, "GET", e["clip"]).body, tmp_path / "check.mp4")
            assert len(times) >= 5 and times == sorted(times)
        assert not list(events_dir.glob("*.part"))
        assert daemon.terminate() == 0


def test_a_full_disk_stops_recording_not_detection_or_mqtt(tmp_path, mosquitto, mqtt_recorder):
    """The event store on a 400 KiB tmpfs fills up: one warning, a counter, recording off; events keep
    flowing over MQTT and frames keep being processed."""
    from daemonkit import last_stats, mounted_tmpfs, stderr_lines

    rec = mqtt_recorder(mosquitto, (EVENTS,))
    events_dir = camera_dir(tmp_path / "state") / "events"
    with mounted_tmpfs(events_dir, "400k"):
        scene = write_history_scene(tmp_path / "scene", cycles=1)
        cfg = write_config(tmp_path, scene, mosquitto.port, loop=True, fps=10, extra=EVENTS_ON)
        with Daemon(cfg, tmp_path / "run") as daemon:
            daemon.wait_until(lambda: stderr_lines(daemon.stderr(), "event history: the disk is full"), 180,
                              "the disk-full warning")
            full = last_stats(daemon)
            news_then = sum(1 for m in rec.on(EVENTS) if json.loads(m.payload)["type"] == "new")
            daemon.wait_until(lambda: sum(1 for m in rec.on(EVENTS) if json.loads(m.payload)["type"] == "new")
                              >= news_then + 3, 120, "new events over MQTT after the disk filled")
            daemon.wait_until(lambda: last_stats(daemon)["frames"] > full["frames"] + 20, 60, "frames processed")
            stats = last_stats(daemon)
            assert stats["events"]["disk_full"] >= 1 and stats["events"]["recording"] is False
            assert len(stderr_lines(daemon.stderr(), "event history: the disk is full")) == 1  # rate-limited
            assert daemon.terminate() == 0
    ends = [json.loads(m.payload) for m in rec.on(EVENTS) if json.loads(m.payload)["type"] == "end"]
    assert any(e["snapshot"] is None and e["clip"] is None for e in ends)  # no evidence named while full
