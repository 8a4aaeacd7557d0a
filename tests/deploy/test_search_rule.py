"""The search's selection rule on synthetic candidate scores (pure function, no ncnn)."""

from __future__ import annotations

import pytest

from deploy.search import Candidate, FoldScore, rule_text, select


def cand(label: str, n_layers: int, deltas: tuple[float, ...], method: str = "kl") -> Candidate:
    folds = [FoldScore(f"F{i}", 0.3 + d, 0.5, d) for i, d in enumerate(deltas)]
    return Candidate(method, label, [f"l{i}" for i in range(n_layers)], folds, fused=0)


def test_mean_and_worst_fold_are_computed_from_the_folds():
    c = cand("x", 2, (0.004, -0.003))
    assert c.mean_delta == pytest.approx(0.0005) and c.worst_delta == pytest.approx(-0.003)


def test_smallest_passing_set_wins_over_more_accurate_larger_sets():
    cs = [cand("none", 0, (-0.004, -0.002)),  # mean -0.003 < -budget: fails
          cand("first", 1, (0.001, -0.0035)),  # mean -0.00125, worst -0.0035 ≥ -0.004: passes
          cand("first+heads", 4, (0.01, 0.01))]  # passes, more accurate, but larger
    chosen = select(cs, 0.002)
    assert chosen is cs[1]
    assert [c.meets_budget for c in cs] == [False, True, True]


def test_a_good_mean_with_one_bad_fold_fails():
    """The noisy-split trap: +0.6 on one fold, -0.5 on the other averages fine but is not robust."""
    cs = [cand("none", 0, (0.006, -0.005)), cand("first+heads+8", 12, (0.001, -0.001))]
    assert cs[0].mean_delta > 0
    assert select(cs, 0.002) is cs[1]
    assert not cs[0].meets_budget


@pytest.mark.parametrize("deltas, passes", [
    ((-0.002, -0.002), True),  # mean exactly -budget
    ((0.0, -0.004), True),  # worst exactly -2*budget, mean -budget
    ((0.001, -0.0041), False),  # worst just beyond -2*budget although the mean passes
    ((-0.0021, -0.0021), False),  # mean just beyond -budget
])
def test_boundaries(deltas, passes):
    c = cand("x", 3, deltas)
    chosen = select([c], 0.002)
    assert c.meets_budget is passes
    assert chosen is c  # a lone candidate is always returned (the fallback when nothing passes)


def test_ties_on_size_go_to_the_higher_mean_then_the_better_worst_fold():
    a = cand("heads", 3, (0.001, 0.001), "max")
    b = cand("heads", 3, (0.004, -0.001), "kl")  # mean 0.0015 > 0.001
    c = cand("heads", 3, (0.0025, 0.0005), "aciq")  # same mean as b, better worst fold
    assert select([a, b, c], 0.002) is c


def test_nothing_passes_falls_back_to_the_highest_mean(caplog):
    cs = [cand("none", 0, (-0.02, -0.01)), cand("first+heads", 4, (-0.003, -0.006)), cand("first", 1, (-0.01, 0.0))]
    with caplog.at_level("WARNING", logger="deploy.search"):
        chosen = select(cs, 0.002)
    assert chosen is cs[1] and not any(c.meets_budget for c in cs)
    assert "no candidate met the budget" in caplog.text


def test_single_fold_search_uses_that_fold_for_mean_and_worst():
    c1, c2 = cand("none", 0, (-0.003,)), cand("first", 1, (-0.001,))
    assert select([c1, c2], 0.002) is c2


def test_empty_and_rule_text():
    assert select([], 0.002) is None
    assert "-0.0020" in rule_text(0.002).replace("−", "-") and "-0.0040" in rule_text(0.002).replace("−", "-")
