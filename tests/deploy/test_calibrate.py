"""Calibration maths against plainly written references (no ncnn needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deploy.calibrate import (BlobStats, QuantLayer, activation_scale, aciq_clip, kl_threshold_bin, mse_threshold_bin,
                              weight_scales)
from deploy.int8 import quantize_to_int8


def _kl_reference(hist: np.ndarray) -> int:
    """ncnn2table's threshold search, written loop by loop in float64 (slow, obviously correct)."""
    p = hist / hist.sum()
    best_t, best = 128, math.inf
    for t in range(128, 2048):
        c = [1e-4 + p[i] for i in range(t)]
        c[t - 1] += sum(p[t:])
        r = t / 128
        q = []
        for j in range(128):
            start, end = j * r, (j + 1) * r
            lu, rl = math.ceil(start), math.floor(end)
            ls, rs = lu - start, end - rl
            s = sum(p[lu:rl]) + (ls * p[lu - 1] if ls > 0 else 0) + (rs * p[rl] if rs > 0 else 0)
            q.append((s, lu, rl, ls, rs, s / (rl - lu + ls + rs)))
        e = [1e-4] * t
        for _, lu, rl, ls, rs, v in q:
            for k in range(lu, rl):
                e[k] += v
            if ls > 0:
                e[lu - 1] += ls * v
            if rs > 0:
                e[rl] += rs * v
        kl = sum(ci * math.log(ci / ei) for ci, ei in zip(c, e))
        if kl < best:
            best, best_t = kl, t
    return best_t


@pytest.mark.slow  # long reference computations
@pytest.mark.parametrize("kind", ["laplace", "spike_tail", "uniform_low"])
def test_kl_matches_reference(kind):
    rng = np.random.default_rng(0)
    if kind == "laplace":
        x = np.abs(rng.laplace(0, 1, 200_000))
    elif kind == "spike_tail":
        x = np.concatenate([np.abs(rng.normal(0, 0.2, 100_000)), rng.uniform(0, 10, 300)])
    else:
        x = rng.uniform(0, 1, 100_000) * 0.3
        x = np.append(x, 1.0)
    hist = np.bincount(np.minimum((x / x.max() * 2048).astype(int), 2047), minlength=2048)
    fast = kl_threshold_bin(hist)
    ref = _kl_reference(hist.astype(np.float64))
    assert abs(fast - ref) <= 1, (fast, ref)


def test_kl_clips_long_tails_and_max_does_not():
    rng = np.random.default_rng(1)
    x = np.concatenate([np.abs(rng.normal(0, 1, 100_000)), [50.0]])
    s = BlobStats(absmax=float(x.max()), hist=np.bincount(np.minimum((x / x.max() * 2048).astype(int), 2047), minlength=2048),
                  elements=x.size)
    assert activation_scale(s, "max") == pytest.approx(127 / 50.0)
    assert 127 / activation_scale(s, "kl") < 10  # threshold well inside the tail
    assert activation_scale(BlobStats(), "kl") == 1.0  # an all-zero blob gets a finite scale


def test_aciq_formula():
    g = 0.175 * (1 + math.sqrt(math.pi * math.log(4)))
    assert aciq_clip(2.0, 10_000, 8) == pytest.approx(3.92403714 * 2.0 * 2 * g / math.sqrt(2 * math.log(10_000)), rel=1e-6)
    assert aciq_clip(1.0, 9, 8) > 1.0  # small N clips above absmax, as ncnn2table does


def test_weight_scales_per_channel_and_winograd_6bit():
    w = np.array([[0.5, -1.0, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0], [2.0, 1.0, -0.5, 0.1]], np.float32)
    q = QuantLayer("c", "Convolution", "b", w.ravel(), 3, winograd=False)
    np.testing.assert_allclose(weight_scales(q, "max"), [127.0, 0.0, 63.5])
    q6 = QuantLayer("c", "Convolution", "b", w.ravel(), 3, winograd=True)
    np.testing.assert_allclose(weight_scales(q6, "kl"), [31.0, 0.0, 15.5])


def test_float2int8_rounding_is_half_away_from_zero_and_saturates():
    w = np.array([[0.5, -0.5, 1.5, -2.5, 200.0, -200.0, 0.49]], np.float32)
    got = quantize_to_int8(w, np.array([1.0], np.float32))
    assert got.tolist() == [[1, -1, 2, -3, 127, -127, 0]]


def _mse_reference(hist: np.ndarray) -> int:
    """Expected squared int8 error for each clip bin T, written as a plain loop (bin centres)."""
    best_t, best = 0, math.inf
    for t in range(16, 2049):
        step = t / 127.0
        err = 0.0
        for i, n in enumerate(hist):
            if n == 0:
                continue
            x = i + 0.5
            err += n * ((x - t) ** 2 if i >= t else step * step / 12.0)
        if err < best:
            best, best_t = err, t
    return best_t


@pytest.mark.slow  # long reference computations
@pytest.mark.parametrize("kind", ["laplace", "spike_tail", "uniform"])
def test_mse_threshold_matches_reference(kind):
    rng = np.random.default_rng(2)
    if kind == "laplace":
        x = np.abs(rng.laplace(0, 1, 50_000))
    elif kind == "spike_tail":
        x = np.concatenate([np.abs(rng.normal(0, 0.2, 50_000)), rng.uniform(0, 10, 30)])
    else:
        x = rng.uniform(0, 1, 50_000)
    hist = np.bincount(np.minimum((x / x.max() * 2048).astype(int), 2047), minlength=2048)
    assert mse_threshold_bin(hist) == _mse_reference(hist)


def test_mse_weighs_the_outlier_between_kl_and_max_and_keeps_a_uniform_range():
    rng = np.random.default_rng(4)
    x = np.concatenate([np.abs(rng.normal(0, 1, 100_000)), [50.0]])
    s = BlobStats(absmax=float(x.max()), hist=np.bincount(np.minimum((x / x.max() * 2048).astype(int), 2047),
                                                          minlength=2048), elements=x.size)
    thr = {m: 127 / activation_scale(s, m) for m in ("kl", "mse", "max")}
    # KL ignores one value in 100k; MSE pays its squared clip error, so it clips less, but still below absmax
    assert thr["kl"] < 10 < thr["mse"] < 0.9 * thr["max"], thr
    u = rng.uniform(0, 1, 100_000)
    su = BlobStats(absmax=float(u.max()), hist=np.bincount(np.minimum((u * 2048).astype(int), 2047), minlength=2048))
    assert 127 / activation_scale(su, "mse") > 0.97 * u.max()  # nothing to gain by clipping a flat range
    assert activation_scale(BlobStats(), "mse") == 1.0
