"""yuv420_to_rgb against the reference formulas of BT.601 / BT.709 (tests/sources/yuv_reference.py)."""

from __future__ import annotations


import numpy as np
import pytest

from edgecam.sources.yuv import yuv420_to_rgb
from sharedkit import HORSE
try:
    from tests.sources.yuv_reference import colour_bars, pack_i420, rgb_to_yuv444, yuv444_to_rgb
except ModuleNotFoundError:  # against an installed package (make pi-check: python -P, no checkout on the path)
    from yuv_reference import colour_bars, pack_i420, rgb_to_yuv444, yuv444_to_rgb

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


# -- YuvFrame: what the camera path hands the pipeline ---------------------------------------------
def horse_i420(width=W, height=H, stride=STRIDE):
    import cv2

    from edgecam.evaluation.yuv_replay import i420_buffer
    return i420_buffer(cv2.imread(str(HORSE)), width, height, stride)


@pytest.mark.parametrize("matrix, full_range", CASES)
@pytest.mark.parametrize("size", [(320, 180), (416, 234), (321, 181), (160, 90)])
def test_scaled_frame_matches_converting_first_then_resizing(matrix, full_range, size):
    """Scaling the planes before the conversion (what the detector gets) against the full-size conversion
    resized with the same filter: the conversion is affine, so they differ only by rounding and clipping."""
    import cv2

    from edgecam.sources.yuv import YuvFrame

    frame = YuvFrame(horse_i420(), W, 3, 1.0, "cam", matrix, full_range)
    got = frame.scaled(*size)
    want = cv2.resize(yuv420_to_rgb(frame.buffer, W, matrix, full_range), size, interpolation=cv2.INTER_LINEAR)
    assert got.shape == (size[1], size[0], 3) and got.dtype == np.uint8 and got.flags.c_contiguous
    diff = np.abs(got.astype(int) - want.astype(int))
    # chroma is resampled once at half resolution instead of upsampled then resampled: colour edges differ
    # a little (more the smaller the target); luma is scaled on the same grid, so brightness agrees closely
    assert diff.mean() < 2.5 and np.percentile(diff, 99) <= 24
    grey = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(int) for x in (got, want)]
    assert np.abs(grey[0] - grey[1]).mean() < 1.0
    assert frame._image is None  # the full-size image was never made


def test_frame_image_is_converted_once_and_matches_the_decoder():
    from edgecam.sources.yuv import YuvFrame

    buf = horse_i420()
    frame = YuvFrame(buf, W, 0, 1.0)
    assert (frame.width, frame.height, frame.pixel_format) == (W, H, "RGB")
    first = frame.image
    assert frame.image is first and np.array_equal(first, yuv420_to_rgb(buf, W))
    assert frame.scaled(W, H) is first


@pytest.mark.parametrize("full_range", [False, True])
def test_grey_is_the_luma_plane_on_the_rgb_grey_scale(full_range):
    """Motion compares grey levels; from the Y plane directly they match RGB→grey of the decoded image."""
    import cv2

    from edgecam.domain import Frame
    from edgecam.sources.yuv import YuvFrame

    yuv_frame = YuvFrame(horse_i420(), W, 0, 1.0, matrix="bt601", full_range=full_range)
    rgb_frame = Frame(yuv_frame.image, 0, 1.0, "RGB")
    got, want = yuv_frame.grey(64, 36), rgb_frame.grey(64, 36)
    assert got.shape == want.shape == (36, 64) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 3
    assert want.dtype == np.uint8 and not np.array_equal(want, cv2.resize(yuv_frame.buffer[:H, :W], (64, 36)))


def test_yuv_frame_refuses_a_buffer_that_is_not_i420():
    from edgecam.sources.yuv import YuvFrame

    for shape, width in (((100, 64), 64), ((90, 64), 66), ((90, 64), 63)):
        with pytest.raises(ValueError, match="I420"):
            YuvFrame(np.zeros(shape, np.uint8), width, 0, 0.0)
