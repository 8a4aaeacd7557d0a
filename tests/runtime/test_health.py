"""Health: progress stamps per pipeline stage."""

from __future__ import annotations

import threading

import pytest

from edgecam.runtime.health import Health


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fresh_stage_is_healthy_then_stalls_without_stamps():
    clock = ManualClock()
    health = Health(clock)
    health.register("capture", 2.0)
    assert health.healthy() and health.stalled() == []
    clock.now += 2.5  # never stamped: measured from registration
    assert health.stalled() == ["capture"]
    assert not health.healthy()
    health.stamp("capture")
    assert health.healthy()
    clock.now += 1.9
    assert health.healthy()
    clock.now += 0.2
    assert health.stalled() == ["capture"]


def test_only_the_stale_stage_is_reported_in_registration_order():
    clock = ManualClock()
    health = Health(clock)
    health.register("capture", 5.0)
    health.register("inference", 5.0)
    health.register("publish", 20.0)
    clock.now += 6
    health.stamp("inference")
    assert health.stalled() == ["capture"]
    clock.now += 5.5
    assert health.stalled() == ["capture", "inference"]
    ages = health.ages()
    assert ages["capture"] is None and ages["inference"] == pytest.approx(5.5) and ages["publish"] is None


def test_idle_ok_stage_is_not_stalled_before_first_stamp_but_is_after():
    clock = ManualClock()
    health = Health(clock)
    health.register("publish", 1.0, idle_ok=True)
    clock.now += 50
    assert health.healthy()
    health.stamp("publish")
    clock.now += 1.5
    assert health.stalled() == ["publish"]


def test_reregister_restarts_clock_and_unregister_forgets():
    clock = ManualClock()
    health = Health(clock)
    health.register("capture", 1.0)
    clock.now += 3
    assert not health.healthy()
    health.register("capture", 10.0)
    assert health.healthy()
    health.unregister("capture")
    health.unregister("nonexistent")
    assert health.stages == ()
    clock.now += 100
    assert health.healthy()


def test_errors_name_the_problem():
    health = Health()
    with pytest.raises(KeyError, match="'capture' is not registered"):
        health.stamp("capture")
    with pytest.raises(ValueError, match="max_age_s of stage 'x' must be > 0"):
        health.register("x", 0)
    with pytest.raises(ValueError, match="must not be empty"):
        health.register("", 1)


def test_concurrent_stamps_with_real_clock():
    health = Health()
    names = [f"s{i}" for i in range(4)]
    for name in names:
        health.register(name, 30.0)
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for _ in range(20000):
                health.stamp(name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        while not stop.is_set():
            health.stalled()
            health.ages()

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stop.set()
    r.join(30)
    assert not errors
    ages = health.ages()
    assert all(a is not None and 0 <= a < 30 for a in ages.values())
    assert health.healthy()
