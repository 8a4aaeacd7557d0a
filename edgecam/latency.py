"""Latency from a frame's capture time to the publish of its results: a window of recent samples."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

WINDOW = 512  # samples kept (about a minute at 10 fps)


class LatencyWindow:
    """The last :data:`WINDOW` latencies in milliseconds; ``percentiles()`` renders stats'
    ``latency_ms`` ``{"p50", "p95"}`` (None before the first sample).  Thread-safe."""

    def __init__(self, size: int = WINDOW) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.count = 0

    def record(self, capture_time: float, published_at: float) -> None:
        """One frame captured at ``capture_time`` (epoch s) and published at ``published_at``."""
        with self._lock:
            self._samples.append((published_at - capture_time) * 1e3)
            self.count += 1

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()

    def percentiles(self) -> dict[str, float | None]:
        with self._lock:
            samples = np.fromiter(self._samples, np.float64, len(self._samples))
        if not samples.size:
            return {"p50": None, "p95": None}
        p50, p95 = np.percentile(samples, (50, 95))
        return {"p50": round(float(p50), 1), "p95": round(float(p95), 1)}
