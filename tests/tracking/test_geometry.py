"""IoU, greedy matching and point-in-polygon against straightforward references."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgecam.tracking.matching import greedy_match, iou_matrix, iou_pairs
from edgecam.tracking.regions import bottom_centres, points_in_polygon

coords = st.floats(0, 500, allow_nan=False, width=32)


def boxes_strategy(max_n=8):
    def build(raw):
        xy = raw[:, :2]
        wh = raw[:, 2:] * 0.5 + 1.0
        return np.concatenate((xy, xy + wh), axis=1)

    return st.integers(0, max_n).flatmap(lambda n: arrays(np.float64, (n, 4), elements=coords)).map(build)


def iou_reference(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@settings(max_examples=60, deadline=None)
@given(boxes_strategy(), boxes_strategy())
def test_iou_matrix_matches_scalar_reference(a, b):
    m = iou_matrix(a, b)
    assert m.shape == (len(a), len(b))
    for i in range(len(a)):
        for j in range(len(b)):
            assert abs(m[i, j] - iou_reference(a[i], b[j])) < 1e-9
    if len(a):
        assert np.allclose(np.diag(iou_matrix(a, a)), 1.0)
        assert np.allclose(iou_pairs(a, a[::-1]), [iou_reference(x, y) for x, y in zip(a, a[::-1])])


def test_iou_known_values():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    assert np.allclose(iou_matrix(a, b), [[50 / 150, 0.0, 1.0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


@settings(max_examples=80, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(0, 6), st.integers(0, 6)), elements=st.floats(0, 1, width=32)),
       st.floats(0, 1))
def test_greedy_match_is_one_to_one_above_threshold_and_maximal(scores, threshold):
    rows, cols = greedy_match(scores, threshold)
    assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
    assert np.all(scores[rows, cols] >= threshold) and np.all(scores[rows, cols] > 0)
    # Maximal: no unmatched row/col pair is still eligible.
    free_r = np.setdiff1d(np.arange(scores.shape[0]), rows)
    free_c = np.setdiff1d(np.arange(scores.shape[1]), cols)
    left = scores[np.ix_(free_r, free_c)]
    assert not np.any((left >= threshold) & (left > 0))


def test_greedy_match_prefers_the_best_pair():
    scores = np.array([[0.9, 0.5], [0.6, 0.0]])
    rows, cols = greedy_match(scores, 0.05)
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 0}  # best pair first, even if fewer pairs
    rows, cols = greedy_match(np.array([[0.9, 0.8], [0.85, 0.1]]), 0.05)
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 0, 1: 1}
    assert len(greedy_match(scores, 0.95)[0]) == 0


CONCAVE = np.array([[0, 0], [100, 0], [100, 100], [50, 40], [0, 100]], float)  # a "V" cut from the top


def test_points_in_concave_polygon():
    pts = np.array([[10, 10], [50, 60], [50, 30], [95, 90], [90, 90], [150, 50], [-1, 5]], float)
    assert points_in_polygon(pts, CONCAVE).tolist() == [True, False, True, True, False, False, False]


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (50, 2), elements=st.floats(-20, 120, width=32)))
def test_points_in_polygon_agrees_with_opencv(pts):
    contour = CONCAVE.astype(np.float32).reshape(-1, 1, 2)
    ref = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in pts])
    got = points_in_polygon(pts, CONCAVE)
    clear = np.abs(ref) > 1e-3  # on-edge points may go either way
    assert np.array_equal(got[clear], ref[clear] > 0)


def test_bottom_centres():
    assert bottom_centres(np.array([[10, 20, 30, 60]], np.float32)).tolist() == [[20.0, 60.0]]
