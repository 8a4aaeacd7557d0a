"""Motion gating on a real photo: a still (noisy) scene is mostly skipped, motion resumes inference."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from edgecam.domain import Frame
from edgecam.runtime.motion import MotionGate
from edgecam.runtime.settings import MotionSettings

FPS = 5.0


@pytest.fixture(scope="module")
def scene(horse) -> np.ndarray:
    return horse


_NOISE: dict[tuple, list[np.ndarray]] = {}


def noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 6.0) -> np.ndarray:
    """The image plus sensor-like Gaussian noise (one of 16 pre-drawn fields, for speed)."""
    key = (image.shape, sigma)
    if key not in _NOISE:
        _NOISE[key] = [np.random.default_rng(k).normal(0.0, sigma, image.shape).astype(np.int16) for k in range(16)]
    pool = _NOISE[key]
    return np.clip(image + pool[rng.integers(len(pool))], 0, 255).astype(np.uint8)


def with_patch(image: np.ndarray, x: int, y: int, size: int = 60) -> np.ndarray:
    out = image.copy()
    stripes = (np.arange(size) // 15 % 2 * 255).astype(np.uint8)  # black/white stripes: contrast anywhere
    out[y:y + size, x:x + size] = stripes[:, None, None]
    return out


def frames_of(images, t0: float = 0.0):
    return [Frame(img, i, t0 + i / FPS, "BGR") for i, img in enumerate(images)]


def decide(gate: MotionGate, frames, live_tracks: bool = False) -> list[bool]:
    return [gate.should_infer(f, live_tracks, f.timestamp) for f in frames]


def test_static_scene_runs_at_most_a_tenth_of_the_inferences(scene):
    rng = np.random.default_rng(1)
    static = frames_of([noisy(scene, rng) for _ in range(300)])  # 60 s at 5 fps
    ungated = MotionGate(MotionSettings(enabled=False))
    gated = MotionGate(MotionSettings(recheck_s=10.0))
    assert sum(decide(ungated, static)) == 300 == ungated.inferred
    runs = decide(gated, static)
    assert gated.inferred == sum(runs) and gated.skipped == 300 - sum(runs)
    assert sum(runs) <= 0.10 * ungated.inferred
    # ...but not zero: the first frame and a re-check every recheck_s (0, 10, 20, ... 50 s).
    run_times = [f.timestamp for f, r in zip(static, runs) if r]
    assert run_times == pytest.approx([0.0, 10.0, 20.0, 30.0, 40.0, 50.0])
    assert gated.stats() == {"active": False, "area": round(gated.motion_area, 4), "inferred": 6, "skipped": 294}
    assert gated.motion_area < gated.settings.min_area


def test_motion_resumes_inference_and_stillness_stops_it_again(scene):
    rng = np.random.default_rng(2)
    gate = MotionGate(MotionSettings(recheck_s=1000.0))
    still = decide(gate, frames_of([noisy(scene, rng) for _ in range(20)]))
    assert still == [True] + [False] * 19
    moving = [noisy(with_patch(scene, 40 + 25 * i, 100 + 5 * i), rng) for i in range(20)]
    assert decide(gate, frames_of(moving, t0=10.0)) == [True] * 20
    assert gate.motion_area > gate.settings.min_area
    # The object stops where it is: the background absorbs it and inference stops.
    parked = decide(gate, frames_of([noisy(moving[-1], rng) for _ in range(150)], t0=20.0))
    assert parked[0] is True and parked[-30:] == [False] * 30


def test_live_tracks_keep_inference_running(scene):
    rng = np.random.default_rng(3)
    gate = MotionGate(MotionSettings())
    assert all(decide(gate, frames_of([noisy(scene, rng) for _ in range(30)]), live_tracks=True))
    assert gate.skipped == 0


def test_changes_below_min_area_or_threshold_are_not_motion(scene):
    rng = np.random.default_rng(4)
    gate = MotionGate(MotionSettings(recheck_s=1000.0))
    decide(gate, frames_of([noisy(scene, rng)]))
    tiny = [with_patch(noisy(scene, rng), 300 + 10 * i, 200, size=4) for i in range(10)]  # a 4x4 px speck
    assert decide(gate, frames_of(tiny, t0=1.0)) == [False] * 10
    dimmer = [np.clip(scene.astype(np.int16) - 8, 0, 255).astype(np.uint8)] * 3  # slight exposure change
    assert decide(gate, frames_of(dimmer, t0=5.0)) == [False] * 3


def test_rgb_frames_and_size_changes(scene):
    gate = MotionGate(MotionSettings(recheck_s=1000.0, width=64))
    rgb = scene[:, :, ::-1].copy()
    assert decide(gate, [Frame(rgb, 0, 0.0, "RGB"), Frame(rgb, 1, 0.2, "RGB")]) == [True, False]
    small = cv2.resize(scene, (320, 212))
    assert gate.should_infer(Frame(small, 2, 0.4, "BGR"), False, 0.4) is True  # new size: new background
    assert gate.should_infer(Frame(small, 3, 0.6, "BGR"), False, 0.6) is False
