"""Settings of the ``[tracking]`` section and the ``[[zones]]`` / ``[[masks]]`` tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Coordinates = Literal["pixels", "relative"]


@dataclass(frozen=True)
class TrackerSettings:
    min_hits: int = field(default=2, metadata={"min": 1, "max": 100, "help": "frames before a track is confirmed"})
    max_missed: int = field(default=5, metadata={"min": 0, "max": 1000, "help": "missed frames before a track ends"})
    iou: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0, "help": "minimum IoU to match a detection to a track"})
    tentative_max_missed: int = field(
        default=1,
        metadata={"min": 0, "max": 1000, "help": "missed frames an unconfirmed track survives (flickering detections)"},
    )
    score_history: int = field(
        default=50, metadata={"min": 1, "max": 10000, "help": "scores kept per track for the median score"}
    )
    update_min_interval_s: float = field(
        default=1.0,
        metadata={"min": 0.0, "max": 3600.0, "help": "no 'update' event sooner than this after the last event"},
    )
    update_interval_s: float = field(
        default=5.0,
        metadata={"min": 0.0, "max": 86400.0, "help": "seconds between 'update's for box movement or median drift"},
    )
    update_score_delta: float = field(
        default=0.05, metadata={"min": 0.0, "max": 1.0, "help": "score change that counts as notable"}
    )
    update_box_iou: float = field(
        default=0.8,
        metadata={"min": 0.0, "max": 1.0, "help": "box moved: IoU with the last event's box below this"},
    )
    publish_detections: Literal["all", "confirmed"] = field(
        default="confirmed",
        metadata={"help": "detections to publish per frame: only those of confirmed tracks, or all (after masks/zones)"},
    )
    only_in_zones: bool = field(
        default=False, metadata={"help": "drop detections whose bottom-centre is in no zone (needs zones)"}
    )
    labels: tuple[str, ...] = field(default=(), metadata={"help": "track only these labels (empty: all)"})

    def validate(self) -> None:
        if self.update_interval_s < self.update_min_interval_s:
            raise ValueError(
                f"update_interval_s ({self.update_interval_s}) must be >= update_min_interval_s "
                f"({self.update_min_interval_s}); raise update_interval_s or lower update_min_interval_s"
            )


def _validate_polygon(kind: str, points: tuple, coordinates: str) -> None:
    if len(points) < 3:
        raise ValueError(f"{kind} needs at least 3 points, got {len(points)}; list them as [[x, y], ...]")
    for p in points:
        if len(p) != 2:
            raise ValueError(f"{kind} point {list(p)} must be [x, y]")
        x, y = float(p[0]), float(p[1])
        if coordinates == "relative" and not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                f"{kind} point [{x}, {y}] is outside 0..1; relative points are fractions of the frame "
                f"(use coordinates = \"pixels\" for pixel points)"
            )
        if coordinates == "pixels" and (x < 0 or y < 0):
            raise ValueError(f"{kind} point [{x}, {y}] is negative; pixel points start at 0")


@dataclass(frozen=True)
class ZoneSettings:
    """A named polygon; a track is in the zone when its box's bottom-centre point is inside."""

    name: str = field(default="", metadata={"help": "zone name (used in topics)", "pattern": r"^[A-Za-z0-9_-]+$"})
    points: tuple[tuple[float, float], ...] = field(
        default=(), metadata={"help": "polygon corners [[x, y], ...], at least 3"}
    )
    labels: tuple[str, ...] = field(default=(), metadata={"help": "labels counted in this zone (empty: all)"})
    coordinates: Coordinates = field(
        default="relative", metadata={"help": "relative: fractions of the frame size; pixels: pixels"}
    )

    def validate(self) -> None:
        if not self.name:
            raise ValueError("zone needs a name, e.g. name = \"driveway\"")
        _validate_polygon(f"zone {self.name!r}", self.points, self.coordinates)


@dataclass(frozen=True)
class MaskSettings:
    """A polygon where detections are ignored (their box's bottom-centre point is inside)."""

    points: tuple[tuple[float, float], ...] = field(
        default=(), metadata={"help": "polygon corners [[x, y], ...], at least 3"}
    )
    coordinates: Coordinates = field(
        default="relative", metadata={"help": "relative: fractions of the frame size; pixels: pixels"}
    )
    labels: tuple[str, ...] = field(default=(), metadata={"help": "labels dropped in this mask (empty: all)"})

    def validate(self) -> None:
        _validate_polygon("mask", self.points, self.coordinates)
