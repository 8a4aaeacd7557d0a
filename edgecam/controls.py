"""Live controls that remote commands (MQTT switch/number) change while the daemon runs.

Thread-safe: publishers write from their network thread, the inference thread reads.
"""

from __future__ import annotations

import threading
from typing import Callable

from edgecam.confidence import CONF_DEFAULT, conf_problem


class Controls:
    def __init__(self, detection_enabled: bool = True, conf: float = CONF_DEFAULT) -> None:
        self._lock = threading.Lock()
        self._detection_enabled = bool(detection_enabled)
        self._conf = float(conf)
        self._listeners: list[Callable[[str, object], None]] = []

    @property
    def detection_enabled(self) -> bool:
        return self._detection_enabled

    @property
    def conf(self) -> float:
        return self._conf

    def set_detection_enabled(self, value: bool) -> None:
        with self._lock:
            self._detection_enabled = bool(value)
        self._notify("detection", self._detection_enabled)

    def set_conf(self, value: float) -> None:
        problem = conf_problem(value)
        if problem:
            raise ValueError(f"confidence {problem}")
        value = float(value)
        with self._lock:
            self._conf = value
        self._notify("conf", value)

    def subscribe(self, listener: Callable[[str, object], None]) -> None:
        """``listener(name, value)`` is called after every accepted change."""
        self._listeners.append(listener)

    def _notify(self, name: str, value: object) -> None:
        for listener in list(self._listeners):
            listener(name, value)
