"""Thermal-aware warm-up: run the network until its latency and the SoC temperature have settled.

A cold SoC runs its first inferences fast (then clocks down as it heats) and its caches and
allocators are cold; figures taken then mislead, and a daemon that declares itself ready then
reports a latency it cannot keep.  :func:`warm_up` reads the temperature before the first run and
after every run, and stops once

* at least ``min_runs`` ran, and the last 3 latencies are within ``tolerance`` of each other, and
* the temperature rise per run over the last ``TEMP_WINDOW`` runs is at most ``flat_c_per_run``
  (without a sensor this holds at once),

or at ``max_runs`` runs, or after ``max_s`` seconds.  The :class:`WarmupResult` carries start/end
temperature, runs and duration for the log, the ``stats`` payload and systemd's ``STATUS=``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

LATENCY_WINDOW = 3
TEMP_WINDOW = 5  # runs: the Pi's sensor moves in ~0.5 °C steps, so one step over 5 runs is 0.1 °C/run


@dataclass(frozen=True)
class WarmupResult:
    latencies_ms: tuple[float, ...]
    temperatures_c: tuple[float | None, ...]  # before the first run, then after every run
    duration_s: float
    stopped_by: str  # "settled" | "max_runs" | "max_s"

    @property
    def runs(self) -> int:
        return len(self.latencies_ms)

    @property
    def start_c(self) -> float | None:
        return self.temperatures_c[0] if self.temperatures_c else None

    @property
    def end_c(self) -> float | None:
        return self.temperatures_c[-1] if self.temperatures_c else None

    def stats(self) -> dict:
        """The ``warmup_*`` fields of the ``stats`` payload."""
        r = lambda v: None if v is None else round(v, 1)  # noqa: E731
        return {"warmup_runs": self.runs, "warmup_s": round(self.duration_s, 2), "warmup_start_c": r(self.start_c),
                "warmup_end_c": r(self.end_c), "warmup_settled": self.stopped_by == "settled",
                "warmup_last_ms": round(self.latencies_ms[-1], 2)}

    def summary(self) -> str:
        """One line for the log and ``STATUS=``, e.g. ``warm-up: 12 runs in 3.4 s, 46.2 → 51.8 °C, settled``."""
        temps = ("no temperature sensor" if self.start_c is None
                 else f"{self.start_c:.1f} → {self.end_c:.1f} °C")
        how = {"settled": "settled", "max_runs": "stopped at the run cap", "max_s": "stopped at the time cap"}
        return (f"warm-up: {self.runs} runs in {self.duration_s:.1f} s, {temps}, last {self.latencies_ms[-1]:.1f} ms, "
                f"{how[self.stopped_by]}")


def latency_settled(latencies: list[float], tolerance: float) -> bool:
    last = latencies[-LATENCY_WINDOW:]
    return len(last) == LATENCY_WINDOW and max(last) <= min(last) * (1.0 + tolerance)


def temperature_flat(temps: list[float | None], flat_c_per_run: float) -> bool:
    """True without a sensor; else the rise per run over the last TEMP_WINDOW runs is small enough."""
    if temps[-1] is None:
        return True
    if len(temps) <= TEMP_WINDOW or temps[-1 - TEMP_WINDOW] is None:
        return False
    return (temps[-1] - temps[-1 - TEMP_WINDOW]) / TEMP_WINDOW <= flat_c_per_run


def warm_up(
    infer: Callable[[], float], read_temp: Callable[[], float | None] = lambda: None, *, min_runs: int = 3,
    max_runs: int = 100, tolerance: float = 0.10, max_s: float = 30.0, flat_c_per_run: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
) -> WarmupResult:
    """Call ``infer()`` (returns its latency in ms) until latency and temperature settled, or a cap."""
    if min_runs < 1 or max_runs < min_runs:
        raise ValueError(f"warm-up needs 1 <= min_runs <= max_runs, got {min_runs} and {max_runs}")
    t0 = clock()
    temps = [read_temp()]
    latencies: list[float] = []
    stopped_by = "max_runs"
    while len(latencies) < max_runs:
        latencies.append(float(infer()))
        temps.append(read_temp())
        if (len(latencies) >= min_runs and latency_settled(latencies, tolerance)
                and temperature_flat(temps, flat_c_per_run)):
            stopped_by = "settled"
            break
        if clock() - t0 >= max_s:
            stopped_by = "max_s"
            break
    result = WarmupResult(tuple(latencies), tuple(temps), clock() - t0, stopped_by)
    (log.info if stopped_by == "settled" else log.warning)("%s", result.summary())
    return result
