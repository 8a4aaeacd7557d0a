"""A dependency-free progress bar on stderr (a redrawn bar on a terminal, sparse lines otherwise)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, stream=None, width: int = 30) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.t0 = time.monotonic()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_pct = -1

    def update(self, n: int = 1) -> None:
        self.done += n
        pct = int(100 * self.done / self.total)
        if self._tty:
            fill = int(self.width * self.done / self.total)
            rate = self.done / max(time.monotonic() - self.t0, 1e-9)
            self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total} {rate:.1f}/s")
            self.stream.flush()
        elif pct // 10 != self._last_pct // 10 or self.done == self.total:
            self.stream.write(f"{self.label}: {self.done}/{self.total} ({pct}%)\n")
            self.stream.flush()
        self._last_pct = pct

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
