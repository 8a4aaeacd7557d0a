"""Progress stamps: is every pipeline stage still making progress?

The contract for pipeline code: **every stage stamps each time it makes a decision**, not only when
it produces output.  The capture stage is the capture *supervisor*: it stamps while it watches a
session or waits to reopen the camera, so a camera outage (reported as the camera's own state) is not
a stall, and it stops stamping only while an abandoned read does not return (a hung driver or
stream) or when its thread died.  The inference thread stamps per frame it handles, including frames it
*decides to skip* (motion gating, detection switched off, thermal throttling), so an idle-but-alive
detector stays fresh.  The daemon registers exactly these two stages, ``capture`` and ``inference``;
publishing happens in the inference stage, and the MQTT link's own thread is not watched (it
reconnects by itself and spools events while the broker is away).

A stage registered with ``idle_ok=True`` is never reported stalled before its first stamp (e.g. a
publisher that has had nothing to send yet); once it has stamped it is held to ``max_age_s`` like
every other stage.  Stages without ``idle_ok`` are measured from registration, so a camera that
never delivers a first frame is caught too.

``stamp()`` is called per frame from several threads: it is one dict store under the GIL plus a
monotonic clock read, with no lock on the hot path.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

Clock = Callable[[], float]


@dataclass(frozen=True)
class _Stage:
    max_age_s: float
    idle_ok: bool
    registered_at: float


class Health:
    """Named pipeline stages with a maximum age between progress stamps. Thread-safe."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stages: dict[str, _Stage] = {}
        # Written by stamp() without the lock: a single dict item assignment is atomic in CPython.
        self._last: dict[str, float] = {}

    def register(self, stage: str, max_age_s: float, *, idle_ok: bool = False) -> None:
        """Declare ``stage``; it is stalled when not stamped for more than ``max_age_s`` seconds.

        Registering again replaces the limit and restarts the stage's clock.
        """
        if not stage:
            raise ValueError("stage name must not be empty")
        if not max_age_s > 0:
            raise ValueError(f"max_age_s of stage {stage!r} must be > 0, got {max_age_s}")
        with self._lock:
            self._stages[stage] = _Stage(float(max_age_s), bool(idle_ok), self._clock())
            self._last.pop(stage, None)

    def unregister(self, stage: str) -> None:
        """Forget ``stage`` (e.g. a publisher that was shut down). Unknown names are ignored."""
        with self._lock:
            self._stages.pop(stage, None)
            self._last.pop(stage, None)

    def stamp(self, stage: str) -> None:
        """Record progress of ``stage`` now. Cheap; stamping an unregistered stage raises KeyError."""
        if stage not in self._stages:
            raise KeyError(f"health stage {stage!r} is not registered; call Health.register() first")
        self._last[stage] = self._clock()

    @property
    def stages(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._stages)

    def ages(self) -> dict[str, float | None]:
        """Seconds since each stage's last stamp (None: never stamped)."""
        now = self._clock()
        with self._lock:
            return {
                name: (None if (t := self._last.get(name)) is None else now - t)
                for name in self._stages
            }

    def stalled(self) -> list[str]:
        """Names of the stages whose last stamp is older than their ``max_age_s``, in registration order."""
        now = self._clock()
        out: list[str] = []
        with self._lock:
            for name, stage in self._stages.items():
                last = self._last.get(name)
                if last is None:
                    if stage.idle_ok:
                        continue
                    last = stage.registered_at
                if now - last > stage.max_age_s:
                    out.append(name)
        return out

    def healthy(self) -> bool:
        """True when no stage is stalled (also when no stage is registered)."""
        return not self.stalled()
