"""The README's pictures of the live view are made by this test, in the suite's headless Chromium, so they
show the page as it is.  Each run renders them; ``make screenshots`` (``EDGECAM_WRITE_SCREENSHOTS=1``)
writes them to ``tests/data/screenshots/`` with the hash of the page's files they show, and the suite fails
when the page changed since (so a stale picture cannot stay in the README)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from test_web_live_view import without

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "tests" / "data" / "screenshots"
STATIC = REPO / "edgecam" / "web" / "static"
STAMP = SHOTS / "page.sha256"


def page_hash() -> str:
    h = hashlib.sha256()
    for name in sorted(p.name for p in STATIC.iterdir()):
        h.update(name.encode() + b"\0" + (STATIC / name).read_bytes())
    return h.hexdigest()


def test_the_committed_screenshots_show_the_current_page():
    assert STAMP.is_file() and (SHOTS / "live-view.jpg").is_file() and (SHOTS / "zone-editor.jpg").is_file()
    assert STAMP.read_text().strip() == page_hash(), (
        "the live view's page changed since the README's screenshots were made: run `make screenshots` and commit")


@pytest.mark.slow
def test_screenshots_of_the_live_view(live_view, browser, tmp_path):
    import cv2
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from edgecam.config.loader import check_text

    view = live_view(fps=10, script=without("dog", 10), tracking={"max_missed_s": 100.0})
    config = tmp_path / "edgecam.toml"  # the editor saves here (as the daemon attaches its config)
    config.write_text(f'[camera]\nid = "yard"\nsource = "images"\npath = "{tmp_path}"\n')
    view.publisher.attach_editor(config, lambda zones, masks: None, check_text)
    wait = WebDriverWait(browser, 60)
    browser.set_window_size(1280, 1150)
    browser.get(view.url)
    wait.until(lambda d: d.find_element(By.ID, "camera").text == "yard")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tracks li.coasting"))  # a lost dog, dashed
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#events li"))
    wait.until(lambda d: d.find_element(By.ID, "stat-fps").text == "10")
    wait.until(lambda d: d.execute_script("return document.getElementById('stream').naturalWidth") > 0)
    out = SHOTS if os.environ.get("EDGECAM_WRITE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(tmp_path / "live-view.png"))

    # the editor: the configured zone selected (its corners shown on the picture), its labels and TOML
    next(li for li in browser.find_elements(By.CSS_SELECTOR, "#configured li") if li.text.startswith("zone left")).click()
    wait.until(lambda d: d.find_element(By.ID, "zone-points").text == "4 points")
    wait.until(lambda d: d.find_element(By.ID, "toml").text.startswith("[[zones]]"))
    browser.find_element(By.ID, "regions-editor").screenshot(str(tmp_path / "zone-editor.png"))

    for name in ("live-view", "zone-editor"):
        image = cv2.imread(str(tmp_path / f"{name}.png"))
        assert image is not None and image.shape[1] >= 300 and float(np.std(image)) > 10  # a picture, not blank
        assert cv2.imwrite(str(out / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if out == SHOTS:
        STAMP.write_text(page_hash() + "\n")
