"""The filter-tuning script's matching and cut rule (deploy/dev/tune_filters.py), on hand-made cases."""

from __future__ import annotations

import numpy as np

from deploy.dev.tune_filters import CUTS, choose, curve, lowest_cut, match


def test_greedy_matching_by_score_counts_a_duplicate_as_a_false_positive():
    gt = np.array([[0, 0, 10, 10], [100, 100, 120, 130]], float)
    det = np.array([[1, 1, 10, 10], [0, 0, 10, 11], [50, 50, 60, 60], [100, 100, 120, 128]], float)
    scores = np.array([0.6, 0.9, 0.8, 0.5])
    assert match(det, scores, gt).tolist() == [False, True, False, True]  # the 0.9 box takes the first object
    assert match(det, scores, gt[:0]).tolist() == [False] * 4


def test_cuts_give_precision_and_recall_and_the_rule_picks_the_lowest_safe_cut():
    scores = np.array([0.3, 0.3, 0.42, 0.5, 0.7, 0.9])
    hits = np.array([False, True, False, True, True, True])
    points = dict((c, (p, r)) for c, p, r in curve(scores, hits, objects=5))
    assert points[0.25] == (4 / 6, 4 / 5) and points[0.45] == (1.0, 3 / 5)
    pts = curve(scores, hits, 5)
    assert lowest_cut(pts, 0.9) == 0.45  # 0.40 still keeps the 0.42 false positive: 3/4
    assert lowest_cut(pts, 0.7) == 0.35
    assert choose(pts) == (0.45, 0.45)  # min_score (80 %): also 0.45 here, 0.35 keeps 3/4
    assert CUTS[0] == 0.25
