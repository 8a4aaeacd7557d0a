import numpy as np
from hypothesis import given, settings, strategies as st

from edgecam.detectors.preprocess import letterbox, to_letterbox, unletterbox


def test_four_three_frame_at_320_runs_as_320x256():
    lb = letterbox(640, 480, 320)
    assert (lb.input_w, lb.input_h) == (320, 256)
    assert (lb.resized_w, lb.resized_h) == (320, 240)
    assert (lb.pad_top, lb.pad_bottom) == (8, 8)


def test_square_image_needs_no_padding():
    lb = letterbox(1000, 1000, 640)
    assert (lb.input_w, lb.input_h, lb.pad_left, lb.pad_top) == (640, 640, 0, 0)


@settings(max_examples=300, deadline=None)
@given(
    w=st.integers(1, 4000),
    h=st.integers(1, 4000),
    size=st.sampled_from([32, 160, 320, 416, 640, 1280]),
    seed=st.integers(0, 2**31 - 1),
)
def test_letterbox_round_trip(w, h, size, seed):
    lb = letterbox(w, h, size)
    assert lb.input_w % 32 == 0 and lb.input_h % 32 == 0
    assert max(lb.input_w, lb.input_h) == size
    assert lb.input_w - lb.resized_w < 32 and lb.input_h - lb.resized_h < 32
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (16, 4)) * [w, h, w, h]
    boxes = np.concatenate([np.minimum(pts[:, :2], pts[:, 2:]), np.maximum(pts[:, :2], pts[:, 2:])], 1).astype(np.float32)
    net = to_letterbox(boxes, lb)
    # inside the letterboxed content area
    assert np.all(net[:, 0::2] >= lb.pad_left - 1e-3) and np.all(net[:, 0::2] <= lb.pad_left + lb.resized_w + 1e-3)
    back = unletterbox(net, lb)
    np.testing.assert_allclose(back, boxes, rtol=1e-5, atol=1e-3 * max(w, h))


def test_unletterbox_clips_to_image():
    lb = letterbox(640, 480, 320)
    out = unletterbox(np.array([[-50, -50, 400, 400]], np.float32), lb)
    assert out.min() >= 0 and out[0, 2] <= 640 and out[0, 3] <= 480
