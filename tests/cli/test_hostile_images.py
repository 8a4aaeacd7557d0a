"""Hostile image paths on the real CLI: bombs, FIFOs, devices, directories, mutated files — exit 2, one line.

A 30000×30000 PNG (under 1 MB on disk, 900 MB decoded as grey, 2.7 GB as BGR) used to kill ``detect``
with SIGSEGV inside ncnn; a FIFO as an image hung it.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from clikit import HORSE, assert_clean_exit, assert_usage_error, run_edgecam

pytestmark = pytest.mark.slow  # runs the edgecam CLI in subprocesses

BOMB_SIDE = 30000


def write_bomb(path: Path, side: int = BOMB_SIDE) -> Path:
    """A valid greyscale PNG of side×side zero pixels whose IDAT is real zlib (~1 MB)."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    comp = zlib.compressobj(9)
    rows = bytes(side + 1) * 1000  # filter byte + pixels, 1000 rows at a time
    idat = b"".join(comp.compress(rows) for _ in range(side // 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    path = write_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png")
    assert path.stat().st_size < 2_000_000
    return path


def test_decompression_bomb_exits_2_with_the_budget_and_the_fix(bomb):
    line = assert_usage_error(run_edgecam("detect", bomb), "bomb.png", "30000×30000", "--max-pixels")
    assert "pixel budget of 50.0 MP" in line


def test_a_raised_budget_still_stops_at_the_hard_limit(bomb):
    assert_usage_error(run_edgecam("detect", "--max-pixels", "536870911", bomb), "bomb.png", "above the pixel budget")


def test_max_pixels_lets_a_small_budget_refuse_a_normal_photo():
    assert_usage_error(run_edgecam("detect", "--max-pixels", "100000", HORSE), "640×424", "0.1 MP")
    ok = run_edgecam("detect", "--max-pixels", str(640 * 424), HORSE)
    assert ok.returncode == 0, ok.stderr


def test_bomb_in_an_eval_dataset_exits_2_naming_it(bomb, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    shutil.copy(bomb, tmp_path / "images" / "a.png")
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert_usage_error(run_edgecam("eval", "--size", "320", tmp_path), "a.png", "pixel budget")


def test_bomb_as_the_bench_image_exits_2(bomb):
    assert_usage_error(run_edgecam("bench", "--image", bomb, "--loops", "1"), "bomb.png", "pixel budget")


def test_fifo_image_exits_2_without_blocking(tmp_path):
    fifo = tmp_path / "cam.jpg"
    os.mkfifo(fifo)
    assert_usage_error(run_edgecam("detect", fifo, timeout=60), "cam.jpg", "FIFO", "regular file")
    assert_usage_error(run_edgecam("bench", "--image", fifo, "--loops", "1", timeout=60), "cam.jpg", "FIFO")


@pytest.mark.parametrize("kind", ["device", "directory", "symlink-loop", "missing"])
def test_paths_that_are_not_image_files_exit_2(tmp_path, kind):
    path = {"device": Path("/dev/zero"), "directory": tmp_path, "missing": tmp_path / "none.jpg",
            "symlink-loop": tmp_path / "loop.jpg"}[kind]
    if kind == "symlink-loop":
        path.symlink_to(path)
    needle = {"device": "device", "directory": "directory", "symlink-loop": "loop", "missing": "no such file"}[kind]
    assert_usage_error(run_edgecam("detect", path, timeout=60), str(path), needle)


def test_annotate_into_an_existing_file_exits_2(tmp_path):
    target = tmp_path / "out.jpg"
    target.write_bytes(b"x")
    assert_usage_error(run_edgecam("detect", "--annotate", target, HORSE), "--annotate", "not a directory")


def test_one_bad_image_among_good_ones_is_one_line_and_the_rest_is_detected(bomb):
    proc = run_edgecam("detect", HORSE, bomb, HORSE)
    assert proc.returncode == 1, proc.stderr  # CONTRACT §3: some but not all images failed
    assert proc.stdout.count('"image"') == 2
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == [
        ln for ln in proc.stderr.splitlines() if "bomb.png" in ln and "pixel budget" in ln]


def _corpus(tmp_path: Path, count: int) -> list[Path]:
    """Mutated real images (seeded): header bytes overwritten, truncated, sizes set to extremes."""
    rng = random.Random(11)
    small = cv2.resize(cv2.imread(str(HORSE)), (64, 48))
    seeds = [cv2.imencode(ext, small)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm")]
    out = []
    for i in range(count):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(min(len(data), 64))
            op = rng.choice(["byte", "ff", "cut", "zero"])
            if op == "byte":
                data[pos] = rng.randrange(256)
            elif op == "ff":
                data[pos:pos + 4] = b"\xff\xff\xff\x7f"
            elif op == "cut":
                del data[rng.randrange(16, len(data)):]
            else:
                data[pos:pos + 2] = b"\x00\x00"
        path = tmp_path / f"m{i:02d}.img"
        path.write_bytes(bytes(data))
        out.append(path)
    return out


def test_mutated_images_never_crash_the_cli(tmp_path):
    """Each run in its own process: exit 0 or 2 and no traceback; a native crash would be a signal."""
    for path in _corpus(tmp_path, 16):
        proc = run_edgecam("detect", "--size", "128", "--threads", "1", path, timeout=120)
        assert_clean_exit(proc, path.name)
        if proc.returncode == 2:
            assert len([ln for ln in proc.stderr.splitlines() if path.name in ln]) == 1, proc.stderr


def test_images_of_every_supported_format_are_detected(tmp_path):
    image = cv2.imread(str(HORSE))
    paths = []
    for ext in (".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm"):
        path = tmp_path / f"horse{ext}"
        assert cv2.imwrite(str(path), image)
        paths.append(path)
    proc = run_edgecam("detect", "--size", "320", *paths)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count('"width": 640, "height": 424') == len(paths)
    assert np.all(cv2.imread(str(paths[0])) == image)


def test_unusable_dataset_paths_are_one_line(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert_usage_error(run_edgecam("eval", loop, timeout=60), "loop", "fix the dataset path")
    line = assert_usage_error(run_edgecam("eval", "d" * 5000, timeout=60), "too long")
    assert len(line) < 400
