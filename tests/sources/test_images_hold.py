"""A folder of single photos is a camera: each photo is held for ``[camera] hold_s``, so the objects of
every photo confirm and produce events (one frame per photo could never confirm with min_hits = 2)."""

from __future__ import annotations

import shutil

import pytest

from daemonkit import SHARED, Daemon, write_config
from edgecam.sources.images import ImageFolderSource, hold_problem
from edgecam.sources.settings import ImagesSettings


def test_a_held_photo_is_repeated_for_hold_s_then_the_next_comes(tmp_path):
    for name in ("cat.jpg", "horse.jpg"):
        shutil.copy(SHARED / "images" / name, tmp_path / name)
    source = ImageFolderSource(ImagesSettings(path=str(tmp_path), hold_s=0.3, loop=True))
    source.open()
    first = source.read(1.0)
    assert first.source.endswith("cat.jpg")
    seen = [first]
    while not seen[-1].source.endswith("horse.jpg"):  # the positive signal: the next photo comes
        seen.append(source.read(1.0))
    assert len(seen) > 2 and all(f.source.endswith("cat.jpg") for f in seen[:-1])
    assert [f.index for f in seen] == list(range(len(seen)))  # new frames, not the same one
    assert seen[-1].timestamp - first.timestamp >= 0.3


def test_default_hold_when_looping_and_the_one_line_warning():
    looping = ImagesSettings(path="x.jpg")
    assert looping.hold_seconds == 2.0 and hold_problem(looping, 2) is None
    once = ImagesSettings(path="x.jpg", loop=False)
    assert once.hold_seconds == 0.0 and hold_problem(once, 2) is None  # a sequence of frames
    short = ImagesSettings(path="x.jpg", hold_s=0.1, fps=5)
    problem = hold_problem(short, 2)
    assert problem is not None and "\n" not in problem
    assert "hold_s >= 0.4" in problem and "min_hits = 2" in problem


@pytest.mark.slow
def test_a_folder_of_single_photos_gives_events_for_the_objects_in_each(tmp_path):
    scene = tmp_path / "photos"
    scene.mkdir()
    shutil.copy(SHARED / "images" / "horse.jpg", scene / "1-horse.jpg")
    shutil.copy(SHARED / "images" / "cat.jpg", scene / "2-cat.jpg")
    cfg = write_config(tmp_path, scene, None, loop=False, fps=10, hold_s=1.0)
    with Daemon(cfg, tmp_path) as daemon:
        assert daemon.wait(180) == 0, daemon.stderr()[-3000:]
    new = {e["label"] for e in daemon.events() if e["type"] == "new"}
    assert {"horse", "person", "dog"} <= new  # the first photo's objects
    assert "cat" in new  # and the second's
    ends = {e["label"] for e in daemon.events() if e["type"] == "end"}
    assert {"horse", "person", "dog"} <= ends
