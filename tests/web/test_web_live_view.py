"""What the live view tells the user, in a real headless Chromium: tracks seen in this frame and tracks
kept while lost (coasting) look different (in the picture and in the list), each event row carries the
time of *that* message, the overlay toggles change the picture;
and labels of a crowd do not pile up (the placement, on its own)."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest

from edgecam.web.labels import place_labels
from webkit import request

# the pixels (RGB) of a box's left edge (3 px wide, lower 60 %) in the picture the browser shows
EDGE_JS = """
const [box, frameWidth] = arguments;
const img = document.getElementById('stream');
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const g = c.getContext('2d'); g.drawImage(img, 0, 0);
const s = img.naturalWidth / frameWidth;
const [x0, y0, x1, y1] = box.map((v) => Math.round(v * s));
const top = Math.round(y0 + 0.4 * (y1 - y0)), left = Math.max(0, x0 - 1);
const d = g.getImageData(left, top, 3, y1 - 2 - top).data;
return [left, top, c.width, c.height, Array.from(d)];
"""


def drawn_fraction(browser, box, frame) -> float:
    """How much of a box's left edge the overlay drew: the browser's picture against the plain frame."""
    import cv2

    left, top, width, height, rgba = browser.execute_script(EDGE_JS, box, frame.shape[1])
    shown = np.asarray(rgba, np.int64).reshape(-1, 3, 4)[:, :, :3]
    plain = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA).astype(np.int64)
    plain = plain[top:top + shown.shape[0], left:left + 3]
    return float((np.abs(shown - plain).sum(axis=2) > 60).any(axis=1).mean())


def without(label: str, after: int):
    """A feeder script: every detection, and from frame ``after`` on none of ``label``."""
    def script(index, detections):
        if index < after:
            return detections
        names = np.asarray([detections.label(i) for i in range(len(detections))])
        return detections.select(names != label)
    return script


@pytest.mark.slow
def test_coasting_tracks_look_different_from_confirmed_ones(live_view, browser, horse_scene):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    view = live_view(fps=10, script=without("dog", 10), tracking={"max_missed_s": 100.0})
    wait = WebDriverWait(browser, 60)
    browser.get(view.url)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tracks li.coasting"))  # the dog, lost
    coasting = browser.find_element(By.CSS_SELECTOR, "#tracks li.coasting")
    confirmed = browser.find_element(By.CSS_SELECTOR, "#tracks li.confirmed")
    assert coasting.text.startswith("dog") and "lost" in coasting.text and "lost" not in confirmed.text
    style = lambda el: browser.execute_script(  # noqa: E731
        "const s = getComputedStyle(arguments[0]); return [s.borderTopStyle, s.opacity];", el)
    assert style(coasting) != style(confirmed)
    assert style(coasting)[0] == "dashed" and style(confirmed)[0] == "solid"

    # in the picture: the horse's box edge is solid, the lost dog's dashed (about half drawn)
    tracks = {t["label"]: t for t in json.loads(request(view, "GET", "/api/tracks").body)["tracks"]}
    assert tracks["dog"]["state"] == "coasting" and tracks["horse"]["state"] == "confirmed"
    wait.until(lambda d: d.execute_script("return document.getElementById('stream').naturalWidth") > 0)
    frame = horse_scene[0]  # RGB, as the canvas reads it
    solid = drawn_fraction(browser, tracks["horse"]["box"], frame)
    dashed = drawn_fraction(browser, tracks["dog"]["box"], frame)
    assert solid > 0.9, solid
    assert 0.3 < dashed < 0.8, dashed

    # hidden with the toggle: the dog's edge is gone from the picture, the horse's stays
    browser.find_element(By.ID, "show-coasting").click()
    wait.until(lambda d: view.publisher.overlay.coasting is False)
    wait.until(lambda d: drawn_fraction(d, tracks["dog"]["box"], frame) < 0.1)
    assert drawn_fraction(browser, tracks["horse"]["box"], frame) > 0.9


@pytest.mark.slow
def test_each_event_row_shows_when_that_message_happened(live_view, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # the dog leaves after 1.5 s and ends 3 frames later: its 'end' comes well over a second after its 'new'
    view = live_view(fps=20, script=without("dog", 30), tracking={"max_missed_s": 0.15})
    wait = WebDriverWait(browser, 60)
    browser.get(view.url)
    rows = lambda d: d.execute_script(  # noqa: E731 - (datetime, text) of every row, read at once
        "return [...document.querySelectorAll('#events li')].map(li => [li.querySelector('time').dateTime, li.textContent]);")
    wait.until(lambda d: any(" end dog " in f" {t} " for _, t in rows(d)))
    shown = rows(browser)
    new_dog = next((when, text) for when, text in shown if " new dog " in f" {text} ")
    end_dog = next((when, text) for when, text in shown if " end dog " in f" {text} ")
    at = lambda row: datetime.fromisoformat(row[0].replace("Z", "+00:00")).timestamp()  # noqa: E731
    assert at(end_dog) - at(new_dog) >= 1.0
    time_text = lambda row: row[1].split(" new ")[0].split(" end ")[0]  # noqa: E731 - the <time> text
    assert time_text(end_dog) != time_text(new_dog)  # what the user reads differs too
    end = next(e for e in json.loads(request(view, "GET", "/api/events").body)
               if e["type"] == "end" and e["label"] == "dog")
    assert end["at"] > end["start_time"] + 1.0  # the row is the message's time, not the track's start
    assert abs(at(end_dog) - end["at"]) < 0.01


@pytest.mark.slow
def test_a_lost_camera_shows_the_camera_banner(live_view, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    view = live_view()
    stats = {"fps": 20, "state": "running", "camera": "online"}
    view.publisher.stats_source = lambda: dict(stats)  # the pipeline's live stats, as the daemon wires them
    wait = WebDriverWait(browser, 60)
    browser.get(view.url)
    wait.until(lambda d: d.find_element(By.ID, "stat-state").text == "running")
    banner = browser.find_element(By.ID, "banner")
    assert not banner.is_displayed()
    stats.update(state="reconnecting", camera="offline", last_error="Device or resource busy")
    wait.until(lambda d: banner.is_displayed() and "camera lost" in banner.text)
    assert "Device or resource busy" in banner.text and "camera" in banner.get_attribute("class")
    stats.update(state="running", camera="online", last_error=None)
    wait.until(lambda d: not banner.is_displayed())


def test_overlay_options_are_checked():
    from edgecam.web.overlay import OverlayOptions

    o = OverlayOptions()
    assert o.update({"zones": False, "motion": False}) is None and not o.zones and o.boxes
    assert "true or false" in o.update({"boxes": "no"})
    assert "boxes" in o.update({"nope": True})


def test_labels_of_a_crowd_do_not_overlap():
    rng = np.random.default_rng(1)
    x0 = rng.uniform(0, 500, 30)
    y0 = rng.uniform(0, 300, 30)
    boxes = np.stack((x0, y0, x0 + rng.uniform(40, 120, 30), y0 + rng.uniform(80, 160, 30)), axis=1)
    sizes = np.tile([90.0, 14.0], (30, 1))
    corners = place_labels(boxes, sizes, 640, 480)
    rects = np.concatenate((corners, corners + sizes), axis=1)
    overlaps = sum(
        1 for i in range(30) for j in range(i)
        if rects[i, 0] < rects[j, 2] and rects[j, 0] < rects[i, 2] and rects[i, 1] < rects[j, 3] and rects[j, 1] < rects[i, 3])
    assert overlaps == 0
    assert (rects[:, :2] >= 0).all() and (rects[:, 2] <= 640).all() and (rects[:, 3] <= 480).all()
    # stacked on one box (the piled-up case): every label still gets its own row
    same = place_labels(np.tile([100.0, 100.0, 200.0, 300.0], (5, 1)), np.tile([60.0, 14.0], (5, 1)), 640, 480)
    assert len({tuple(c) for c in same.tolist()}) == 5
