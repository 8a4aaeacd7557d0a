"""The page in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
the stream renders, the stats fill in, a zone is drawn by clicking, and its TOML snippet is read back."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow  # drives a real browser (the fixture is in conftest.py)


def test_page_streams_and_draws_a_zone(live_view, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    view = live_view()
    wait = WebDriverWait(browser, 60)
    browser.get(view.url)

    # the MJPEG stream renders
    wait.until(lambda d: d.execute_script("const i = document.getElementById('stream');"
                                          "return i.complete && i.naturalWidth > 0;"))
    assert browser.execute_script("return document.getElementById('stream').naturalWidth") == 640
    wait.until(lambda d: d.find_element(By.ID, "stat-fps").text == "20")
    wait.until(lambda d: "person" in d.find_element(By.ID, "events").text)
    wait.until(lambda d: d.find_element(By.ID, "camera").text == "yard")

    # draw a zone: three clicks on the picture, a name, one label
    canvas = browser.find_element(By.ID, "editor")
    wait.until(lambda d: canvas.size["width"] > 100)
    w, h = canvas.size["width"], canvas.size["height"]
    name = browser.find_element(By.ID, "zone-name")
    name.clear()
    name.send_keys("porch")
    browser.execute_script("const o = [...document.getElementById('labels').options].find(o => o.value === 'horse');"
                           "o.selected = true; o.parentElement.dispatchEvent(new Event('change'));")
    corners = [(0.5, 0.3), (0.95, 0.3), (0.95, 0.95), (0.5, 0.95)]  # around the horse, not the dog or person
    for fx, fy in corners:  # offsets are from the element's centre
        ActionChains(browser).move_to_element_with_offset(canvas, round((fx - 0.5) * w), round((fy - 0.5) * h)) \
            .click().perform()
    wait.until(lambda d: d.find_element(By.ID, "zone-points").text == "4 points")
    wait.until(lambda d: 'name = "porch"' in d.find_element(By.ID, "toml").text
               and len(re.findall(r"\[[0-9.]+, [0-9.]+\]", d.find_element(By.ID, "toml").text)) == 4)
    toml = browser.find_element(By.ID, "toml").text
    assert toml.startswith("[[zones]]") and 'labels = ["horse"]' in toml and 'coordinates = "relative"' in toml
    pairs = [(float(x), float(y)) for x, y in re.findall(r"\[([0-9.]+), ([0-9.]+)\]", toml)]
    assert len(pairs) == 4
    for (x, y), (fx, fy) in zip(pairs, corners):
        assert abs(x - fx) < 0.02 and abs(y - fy) < 0.02
    assert browser.find_element(By.ID, "zone-problem").text == ""
    # tested live against the current tracks: the horse (bottom-centre 0.78, 0.81) is in it
    wait.until(lambda d: d.find_element(By.ID, "zone-counts").text == "horse 1")

    # the same page drives the shared controls
    browser.find_element(By.ID, "detection").click()
    wait.until(lambda d: view.controls.detection_enabled is False)
