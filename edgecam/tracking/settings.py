"""Settings of the ``[tracking]`` section and the ``[[zones]]`` / ``[[masks]]`` tables."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrackerSettings:
    min_hits: int = field(default=2, metadata={"min": 1, "max": 100, "help": "frames before a track is confirmed"})
    max_missed: int = field(default=5, metadata={"min": 0, "max": 1000, "help": "missed frames before a track ends"})
    iou: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0, "help": "minimum IoU to match a detection to a track"})
