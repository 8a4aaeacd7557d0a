"""ImageFolderSource on the real sample photos and on files written in a temp dir."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.errors import SourceError
from edgecam.sources.base import FrameSource, create_source, load_source_class
from edgecam.sources.images import ImageFolderSource, list_images
from edgecam.sources.settings import ImagesSettings
from sharedkit import HORSE, IMAGES as SHARED_IMAGES

needs_shared = pytest.mark.skipif(not SHARED_IMAGES.is_dir(), reason="../shared/images not present")


def settings(path, **kw) -> ImagesSettings:
    return ImagesSettings(path=str(path), **kw)


def colour_dir(tmp_path: Path, n: int = 3) -> list[Path]:
    files = []
    for i in range(n):
        img = np.full((24, 32, 3), (i * 40, 100, 200 - i * 40), np.uint8)
        path = tmp_path / f"img{i:02d}.png"  # png: lossless, so pixels can be compared exactly
        cv2.imwrite(str(path), img)
        files.append(path)
    return files


@needs_shared
def test_directory_of_real_photos_sorted_bgr():
    src = ImageFolderSource(settings(SHARED_IMAGES, loop=False))
    assert isinstance(src, FrameSource) and src.live is False
    src.open()
    frames = []
    with pytest.raises(EOFError):
        while True:
            frames.append(src.read(1.0))
    src.close()
    names = [Path(f.source).name for f in frames]
    assert names == sorted(p.name for p in SHARED_IMAGES.iterdir() if p.suffix == ".jpg")
    horse = frames[names.index("horse.jpg")]
    assert horse.pixel_format == "BGR" and horse.image.dtype == np.uint8 and horse.image.ndim == 3
    assert np.array_equal(horse.image, cv2.imread(str(HORSE)))
    assert [f.index for f in frames] == list(range(len(frames)))


def test_loop_replays_in_order(tmp_path):
    files = colour_dir(tmp_path)
    src = ImageFolderSource(settings(tmp_path, loop=True, hold_s=0))  # one frame per file
    src.open()
    got = [Path(src.read(1.0).source).name for _ in range(7)]
    assert got == [files[i % 3].name for i in range(7)]


def test_glob_and_single_file_and_relative_base_dir(tmp_path):
    files = colour_dir(tmp_path, 4)
    (tmp_path / "notes.txt").write_text("not an image")
    assert list_images(str(tmp_path / "img0[13].png")) == [str(files[1]), str(files[3])]
    assert list_images(str(tmp_path)) == [str(f) for f in files]  # .txt ignored in a directory
    assert list_images(files[2].name, base_dir=tmp_path) == [str(files[2])]
    src = ImageFolderSource(settings("img02.png", loop=False), base_dir=tmp_path)
    src.open()
    frame = src.read(1.0)
    assert np.array_equal(frame.image, cv2.imread(str(files[2])))
    with pytest.raises(EOFError):
        src.read(1.0)


def test_missing_path_names_it(tmp_path):
    src = ImageFolderSource(settings(tmp_path / "nothing-here"))
    with pytest.raises(SourceError, match=r"nothing-here.* names no image files.*fix \[camera\] path"):
        src.open()


def test_undecodable_file_is_skipped_all_bad_is_an_error(tmp_path, caplog):
    colour_dir(tmp_path, 2)
    (tmp_path / "img01.png").write_bytes(b"garbage")
    src = ImageFolderSource(settings(tmp_path, loop=True, hold_s=0))  # one frame per file
    src.open()
    got = [Path(src.read(1.0).source).name for _ in range(3)]
    assert got == ["img00.png"] * 3
    assert sum("img01.png" in r.message and "skipping" in r.message for r in caplog.records) == 1  # warned once
    (tmp_path / "img00.png").write_bytes(b"garbage too")
    with pytest.raises(SourceError, match="readable image"):
        src.read(1.0)


def test_registry_creates_the_configured_source(tmp_path):
    assert load_source_class("images") is ImageFolderSource
    src = create_source(settings(tmp_path), base_dir=tmp_path)
    assert isinstance(src, ImageFolderSource)
    with pytest.raises(KeyError, match="unknown source 'nope'"):
        load_source_class("nope")


def test_image_above_the_pixel_budget_is_skipped_with_one_warning(tmp_path, caplog):
    colour_dir(tmp_path, 1)  # 32×24 = 768 pixels
    big = np.zeros((40, 50, 3), np.uint8)  # 2000 pixels
    cv2.imwrite(str(tmp_path / "img01.png"), big)
    src = ImageFolderSource(settings(tmp_path, loop=True, max_pixels=1000, hold_s=0))
    src.open()
    got = [Path(src.read(1.0).source).name for _ in range(3)]
    assert got == ["img00.png"] * 3
    warnings = [r.message for r in caplog.records if "img01.png" in r.message]
    assert len(warnings) == 1 and "50×40" in warnings[0] and "max_pixels" in warnings[0]
