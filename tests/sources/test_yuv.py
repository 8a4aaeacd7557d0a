"""yuv420_to_rgb against the reference formulas of BT.601 / BT.709 (tests/sources/yuv_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edgecam.sources.yuv import yuv420_to_rgb
from tests.sources.yuv_reference import colour_bars, pack_i420, rgb_to_yuv444, yuv444_to_rgb

W, H, STRIDE = 640, 360, 704
CASES = [("bt601", False), ("bt709", False), ("bt601", True), ("bt709", True)]


def max_error(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


@pytest.mark.parametrize("matrix, full_range", CASES)
def test_decodes_like_the_reference_formulas_on_every_code_value(matrix, full_range):
    # random Y'CbCr, chroma constant per 2x2 block, out-of-gamut values included (clipped in both);
    # luma from 16 up: below is footroom, see test_footroom_is_black
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 256, (H // 2, W // 2, 3), dtype=np.uint8)
    yuv444 = blocks.repeat(2, axis=0).repeat(2, axis=1)
    yuv444[..., 0] = rng.integers(16, 256, (H, W), dtype=np.uint8)  # luma varies per pixel
    got = yuv420_to_rgb(pack_i420(yuv444, STRIDE), W, matrix, full_range)
    assert got.shape == (H, W, 3) and got.dtype == np.uint8 and got.flags.c_contiguous
    assert max_error(got, yuv444_to_rgb(yuv444, matrix, full_range)) <= 2


@pytest.mark.parametrize("matrix, full_range", CASES)
def test_colour_bars_survive_encode_and_decode(matrix, full_range):
    bars = colour_bars(W, H)
    got = yuv420_to_rgb(pack_i420(rgb_to_yuv444(bars, matrix, full_range), STRIDE), W, matrix, full_range)
    assert max_error(got, bars) <= 2


def test_wrong_matrix_is_visible_on_saturated_red():
    """What the camera path did before: Rec.709 buffers decoded as BT.601."""
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    buffer = pack_i420(rgb_to_yuv444(red, "bt709", False), 4)
    assert max_error(yuv420_to_rgb(buffer, 4, "bt709"), red) <= 2
    assert max_error(yuv420_to_rgb(buffer, 4, "bt601"), red) > 15


def test_odd_height_in_chroma_rows_and_stride_padding():
    """362 rows → 181 chroma rows: the U/V planes do not start on a row of the 2-D array."""
    w, h, stride = 642, 362, 704
    bars = colour_bars(w, h)
    for matrix, full_range in CASES:
        buffer = pack_i420(rgb_to_yuv444(bars, matrix, full_range), stride)
        assert max_error(yuv420_to_rgb(buffer, w, matrix, full_range), bars) <= 2


def test_footroom_is_black():
    """Luma below 16 (limited-range footroom, sensor noise under black) decodes as black on the
    BT.601 path (OpenCV clamps it); the other paths follow the formula, which clips to 0 as well."""
    grey = np.zeros((4, 4, 3), np.uint8)
    grey[..., 0], grey[..., 1:] = 4, 128
    for matrix in ("bt601", "bt709"):
        assert yuv420_to_rgb(pack_i420(grey, 4), 4, matrix).max() == 0
