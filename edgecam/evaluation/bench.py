"""Raw inference benchmarks, benchncnn-style: ``NAME  min = X  max = Y  avg = Z`` (milliseconds)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    name: str
    samples_ms: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.samples_ms)

    @property
    def max(self) -> float:
        return max(self.samples_ms)

    @property
    def avg(self) -> float:
        return sum(self.samples_ms) / len(self.samples_ms)

    def line(self) -> str:
        return f"{self.name:>28}  min = {self.min:7.2f}  max = {self.max:7.2f}  avg = {self.avg:7.2f}"

    def to_json(self) -> dict:
        return {"name": self.name, "min_ms": self.min, "max_ms": self.max, "avg_ms": self.avg,
                "p50_ms": float(np.percentile(self.samples_ms, 50)), "n": len(self.samples_ms)}


def time_calls(name: str, fn: Callable[[], object], loops: int, warmup: int) -> Timing:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(loops):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return Timing(name, tuple(samples))


def cool_down(sysfs_root: str | Path, target_c: float | None, timeout_s: float, poll_s: float = 1.0,
              sleep: Callable[[float], None] = time.sleep, say: Callable[[str], None] | None = None) -> float | None:
    """Wait until the SoC temperature is back at or below ``target_c`` (or ``timeout_s``); returns it.

    ``say`` hears one line when waiting starts. Without a temperature sensor this returns None at once."""
    from edgecam.runtime.thermal import ThermalReader

    reader = ThermalReader(sysfs_root)
    temp = reader.read().temperature_c
    if temp is None or target_c is None:
        return temp
    if temp > target_c and say is not None:
        say(f"cool-down: waiting for {temp:.1f} °C to fall to {target_c:.1f} °C (up to {timeout_s:.0f} s)")
    deadline = time.monotonic() + timeout_s
    while temp is not None and temp > target_c and time.monotonic() < deadline:
        sleep(poll_s)
        temp = reader.read().temperature_c
    if temp is not None and temp > target_c:
        log.warning("cool-down timed out after %.0f s at %.1f °C (target %.1f °C)", timeout_s, temp, target_c)
    return temp


def bench_detector(detector, image_bgr: np.ndarray, loops: int, warmup: int) -> list[Timing]:
    """Time the forward pass alone, then preprocessing and decode+NMS on their own lines."""
    mat, lb = detector.preprocess(image_bgr, "BGR")
    outputs = detector.forward(mat)
    name = detector.name
    conf = detector.settings.conf
    forward = time_calls(name, lambda: detector.forward(mat), loops, warmup)
    pre = time_calls(f"{name}.preprocess", lambda: detector.preprocess(image_bgr, "BGR"), loops, warmup)
    post = time_calls(f"{name}.decode+nms", lambda: detector.postprocess(outputs, lb, conf), loops, warmup)
    return [forward, pre, post]
