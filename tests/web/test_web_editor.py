"""The zone/mask editor saves to the config: in a real headless Chromium against the real daemon, a zone
is selected and its corners dragged, saved (the file keeps its comments, a backup is left, ``edgecam
check`` passes it) and the running daemon places the tracks in the moved zone without a restart; a mask
is deleted; a rename is saved and the page says a restart is needed; the daemon stopping shows the
offline banner.  The save itself (validation first, nothing written on a problem) is tested on its own."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from daemonkit import REPO, Daemon, write_config, write_scene
from edgecam.config.loader import check_text
from edgecam.web.editor import RegionEditor, rewritten
from webkit import LiveView, request

HEADER = "# front yard camera — edited by hand and by the live view\n"
REGIONS = """
# the yard: where visitors walk (drawn in the live view)
[[zones]]
name = "yard"   # the name Home Assistant shows
points = [[0.05, 0.05], [0.25, 0.05], [0.25, 0.25], [0.05, 0.25]]
labels = []
coordinates = "relative"

# the neighbour's window
[[masks]]
points = [[0.9, 0.0], [1.0, 0.0], [1.0, 0.1], [0.9, 0.1]]
"""


def _tracks(view) -> dict:
    return {t["label"]: t for t in json.loads(request(view, "GET", "/api/tracks").body)["tracks"]}


@pytest.mark.slow
def test_edit_drag_save_and_the_running_daemon_uses_the_zone(tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    scene = write_scene(tmp_path / "scene", cycles=1, horse=1, cat=0)
    cfg = write_config(tmp_path, scene, None, loop=True, fps=10, stdout=False, hold_s=3600,
                       web="port = 0\nstream_fps = 10\n", extra=REGIONS)
    cfg.write_text(HEADER + cfg.read_text())
    original = cfg.read_text()
    with Daemon(cfg, tmp_path / "run") as daemon:
        daemon.wait_until(lambda: re.search(r"live view: http://127\.0\.0\.1:\d+/", daemon.stderr()), 120,
                          "the live view URL in the log")
        port = int(re.search(r"live view: http://127\.0\.0\.1:(\d+)/", daemon.stderr()).group(1))
        view = LiveView(publisher=None, controls=None, host="127.0.0.1", port=port)  # type: ignore[arg-type]
        daemon.wait_until(lambda: "horse" in _tracks(view), 120, "the horse tracked")
        assert _tracks(view)["horse"]["zones"] == []  # the yard is the top-left corner: nothing in it

        from selenium.common.exceptions import StaleElementReferenceException

        # the region list is re-rendered as the page refreshes: an element found a moment ago may be gone
        wait = WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException, StopIteration))
        browser.get(view.url)
        wait.until(lambda d: d.find_element(By.ID, "camera").text == "yard")
        regions = lambda: browser.find_elements(By.CSS_SELECTOR, "#configured li")  # noqa: E731
        pick = lambda prefix: next(li for li in regions() if li.text.startswith(prefix))  # noqa: E731

        def choose(prefix: str) -> None:  # click the entry, again if the list was re-rendered meanwhile
            wait.until(lambda _d: pick(prefix).click() or True)
        choose("zone yard")
        wait.until(lambda d: d.find_element(By.ID, "zone-points").text == "4 points")
        canvas = browser.find_element(By.ID, "editor")
        wait.until(lambda d: canvas.size["width"] > 100 and d.execute_script(
            "return document.getElementById('stream').naturalWidth") > 0)
        w, h = canvas.size["width"], canvas.size["height"]
        at = lambda fx, fy: (round((fx - 0.5) * w), round((fy - 0.5) * h))  # noqa: E731 - from the centre
        moves = [((0.05, 0.05), (0.5, 0.3)), ((0.25, 0.05), (0.95, 0.3)),
                 ((0.25, 0.25), (0.95, 0.95)), ((0.05, 0.25), (0.5, 0.95))]
        for src, dst in moves:  # drag each corner around the horse (bottom-centre 0.78, 0.81)
            ActionChains(browser).move_to_element_with_offset(canvas, *at(*src)).click_and_hold() \
                .move_to_element_with_offset(canvas, *at(*dst)).release().perform()
        wait.until(lambda d: "unsaved" in pick("zone yard").text or "(unsaved)" in d.execute_script(
            "return getComputedStyle(document.querySelector('#configured li.changed'), '::after').content"))
        assert browser.find_element(By.ID, "zone-points").text == "4 points"  # dragged, none added
        browser.find_element(By.ID, "save").click()
        wait.until(lambda d: "uses them now" in d.find_element(By.ID, "save-result").text)

        # the file: rewritten, comments and layout kept, a backup of the old one, and check passes it
        text = cfg.read_text()
        assert text.startswith(HEADER) and "# the yard: where visitors walk" in text
        assert 'name = "yard"   # the name Home Assistant shows' in text and "# the neighbour's window" in text
        points = json.loads(re.search(r"^points = (\[\[.*\]\])$", text, re.M).group(1))
        for (x, y), (_, (fx, fy)) in zip(points, moves):
            assert abs(x - fx) < 0.02 and abs(y - fy) < 0.02
        assert Path(str(cfg) + ".bak").read_text() == original
        check = subprocess.run([sys.executable, "-m", "edgecam", "check", "--config", str(cfg)],
                               capture_output=True, text=True, timeout=120, cwd=REPO)
        assert check.returncode == 0, check.stderr

        # the running daemon uses the moved zone: the horse is in it now
        daemon.wait_until(lambda: _tracks(view)["horse"]["zones"] == ["yard"], 60, "the horse in the moved yard")

        # delete the mask and save: gone from the file, the rest kept
        choose("mask")
        browser.find_element(By.ID, "delete").click()
        browser.find_element(By.ID, "save").click()
        wait.until(lambda d: "uses them now" in d.find_element(By.ID, "save-result").text
                   and not any(li.text.startswith("mask") for li in regions()))
        text = cfg.read_text()
        assert "[[masks]]" not in text and text.startswith(HEADER) and 'name = "yard"' in text

        # rename: saved, and the page says the daemon needs a restart for a new zone name
        choose("zone yard")
        name = browser.find_element(By.ID, "zone-name")
        name.clear()
        name.send_keys("porch")
        browser.find_element(By.ID, "save").click()
        wait.until(lambda d: "restart" in d.find_element(By.ID, "save-result").text)
        assert 'name = "porch"   # the name Home Assistant shows' in cfg.read_text()

        # the daemon stops: the page says so, in a banner
        banner = browser.find_element(By.ID, "banner")
        assert not banner.is_displayed()
        assert daemon.terminate() == 0
        wait.until(lambda d: banner.is_displayed() and "offline" in banner.text)


def test_a_save_that_would_not_pass_check_writes_nothing(tmp_path):
    cfg = tmp_path / "edgecam.toml"
    cfg.write_text(HEADER + f'[camera]\nsource = "images"\npath = "{tmp_path}"\n' + REGIONS)
    before = cfg.read_text()
    applied = []
    editor = RegionEditor(cfg, lambda z, m: applied.append((z, m)), check_text)
    status, answer = editor.save({"zones": [{"name": "yard", "points": [[0, 0], [1, 0], [1, 1]], "labels": ["hors"]}],
                                  "masks": [{"points": [[0, 0], [1, 0]], "labels": []}]})
    assert status == 400
    problems = answer["problems"]  # both, as check lists them: a label the model lacks, a 2-point mask
    assert any("[[zones]] #1 labels" in p and "'hors'" in p for p in problems), problems
    assert any("[[masks]] #1" in p for p in problems), problems
    assert cfg.read_text() == before and not (tmp_path / "edgecam.toml.bak").exists() and not applied

    status, answer = editor.save({"zones": "nope"})
    assert status == 400 and "list" in answer["error"]


def test_a_valid_save_keeps_comments_backs_up_and_applies(tmp_path):
    cfg = tmp_path / "edgecam.toml"
    cfg.write_text(HEADER + f'[camera]\nsource = "images"\npath = "{tmp_path}"  # photos\n' + REGIONS)
    cfg.chmod(0o640)
    before = cfg.read_text()
    applied = []
    editor = RegionEditor(cfg, lambda z, m: applied.append((z, m)), check_text)
    status, answer = editor.save({"zones": [{"name": "yard", "points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]],
                                             "labels": ["person"]}],
                                  "masks": [{"points": [[0, 0], [0.1, 0], [0.1, 0.1]], "labels": []}]})
    assert status == 200 and answer["applied"] and answer["restart"] is None
    text = cfg.read_text()
    assert text.startswith(HEADER) and "# photos" in text and "# the neighbour's window" in text
    assert "points = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]" in text and 'labels = ["person"]' in text
    assert (tmp_path / "edgecam.toml.bak").read_text() == before
    assert cfg.stat().st_mode & 0o777 == 0o640
    (zones, masks), = applied
    assert [z.name for z in zones] == ["yard"] and len(masks) == 1
    assert zones[0].points[1] == (0.9, 0.1)


def test_rewritten_changes_only_the_regions():
    text = '# top\n[camera]\nid = "x"  # mine\n\n[web]\nport = 1\n'
    out = rewritten(text, [{"kind": "zone", "name": "a", "points": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
                            "labels": []}], [])
    assert out.startswith(text) and "[[zones]]" in out and 'name = "a"' in out
    assert rewritten(out, [], []).strip() == text.strip()
