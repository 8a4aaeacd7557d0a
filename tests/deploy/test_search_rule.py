"""The search's selection rule on synthetic candidate scores (pure function, no ncnn)."""

from __future__ import annotations

import pytest

from deploy.search import Candidate, SizeScore, rule_text, select


def cand(label: str, n_layers: int, per_size: dict[int, tuple[float, float]], method: str = "kl") -> Candidate:
    """``per_size``: size → (Δ, lower confidence bound)."""
    sizes = [SizeScore(s, 0.3 + d, 0.5, {"delta": d, "low": lcb, "high": d + 0.01, "lcb": lcb, "level": 0.9,
                                         "samples": 100, "images": 40})
             for s, (d, lcb) in per_size.items()]
    return Candidate(method, label, [f"l{i}" for i in range(n_layers)], sizes, fused=0)


def test_worst_size_bound_and_delta_are_computed_from_the_sizes():
    c = cand("x", 2, {320: (0.004, -0.001), 640: (0.001, -0.003)})
    assert c.worst_lcb == pytest.approx(-0.003) and c.worst_delta == pytest.approx(0.001)


def test_smallest_passing_set_wins_over_more_accurate_larger_sets():
    cs = [cand("none", 0, {320: (0.0, -0.004), 640: (0.001, -0.002)}),  # bound at 320 below -budget: fails
          cand("first", 1, {320: (0.001, -0.0025), 640: (0.0, -0.003)}),  # passes at both sizes
          cand("first+heads", 4, {320: (0.01, 0.005), 640: (0.01, 0.004)})]  # passes, more accurate, but larger
    assert select(cs, 0.003) is cs[1]
    assert [c.meets_budget for c in cs] == [False, True, True]


def test_a_good_mean_with_a_wide_interval_fails():
    """A positive Δ measured on few images is not enough: the bound must hold."""
    cs = [cand("none", 0, {320: (0.006, -0.010), 640: (0.004, -0.008)}),
          cand("first+heads+8", 12, {320: (0.0, -0.002), 640: (0.0005, -0.001)})]
    assert select(cs, 0.003) is cs[1]
    assert not cs[0].meets_budget


def test_every_size_must_pass():
    c = cand("x", 1, {320: (0.0, -0.0031), 640: (0.01, 0.005)})
    small = cand("y", 2, {320: (0.0, -0.003), 640: (0.0, -0.003)})  # exactly at the budget passes
    assert select([c, small], 0.003) is small
    assert (c.meets_budget, small.meets_budget) == (False, True)


def test_ties_on_size_go_to_the_higher_bound_then_the_higher_delta():
    a = cand("heads", 3, {320: (0.002, -0.001)}, "max")
    b = cand("heads", 3, {320: (0.001, 0.0)}, "kl")
    c = cand("heads", 3, {320: (0.003, 0.0)}, "mse")  # same bound as b, higher Δ
    assert select([a, b, c], 0.003) is c


def test_nothing_passes_falls_back_to_the_highest_bound(caplog):
    cs = [cand("none", 0, {320: (-0.02, -0.03)}), cand("first+heads", 4, {320: (-0.002, -0.006)}),
          cand("first", 1, {320: (0.001, -0.01)})]
    with caplog.at_level("WARNING", logger="deploy.search"):
        chosen = select(cs, 0.003)
    assert chosen is cs[1] and not any(c.meets_budget for c in cs)
    assert "no candidate" in caplog.text


def test_empty_and_rule_text():
    assert select([], 0.003) is None
    text = rule_text(0.003, 0.9).replace("−", "-")
    assert "-0.0030" in text and "90%" in text and "every size" in text
