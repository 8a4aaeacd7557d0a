"""Settings of the ``[tracking]`` section and the ``[[zones]]`` / ``[[masks]]`` tables."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edgecam.fields import NAME_PATTERN, Bool, Float, Int, Str, settings
from edgecam.names import unique_names
from edgecam.tracking.filters import FilterSettings

Coordinates = Literal["pixels", "relative"]
Point = tuple[Float, ...]  # [x, y]: the length is checked with the polygon (one message for both)
MAX_POINTS = 1000


@settings
class TrackerSettings:
    min_hits: Int = Field(default=2, ge=1, le=100, description="frames before a track is confirmed")
    max_missed_s: Float = Field(default=2.0, ge=0.0, le=3600.0,
                                description="seconds a confirmed track survives unseen before it ends")
    iou: Float = Field(default=0.3, ge=0.0, le=1.0, description="minimum IoU to match a detection to a track")
    tentative_max_missed: Int = Field(default=1, ge=0, le=1000,
                                      description="missed frames an unconfirmed track survives (flickering detections)")
    score_history: Int = Field(default=50, ge=1, le=10000, description="scores kept per track for the median score")
    update_min_interval_s: Float = Field(default=1.0, ge=0.0, le=3600.0,
                                         description="no 'update' event sooner than this after the last event")
    update_interval_s: Float = Field(default=5.0, ge=0.0, le=86400.0,
                                     description="seconds between 'update's for box movement or median drift")
    update_score_delta: Float = Field(default=0.05, ge=0.0, le=1.0, description="score change that counts as notable")
    update_box_iou: Float = Field(default=0.8, ge=0.0, le=1.0,
                                  description="box moved: IoU with the last event's box below this")
    publish_detections: Literal["all", "confirmed"] = Field(
        default="confirmed", description="detections to publish per frame: only those of confirmed tracks, or all (after masks/zones)"
    )
    stationary_s: Float = Field(default=10.0, gt=0.0, le=86400.0,
                                description="an object whose box has not moved for this long is stationary")
    stationary_iou: Float = Field(default=0.8, gt=0.0, le=1.0,
                                  description="not moved: IoU of its box with its box stationary_s ago at least this")
    stationary_hold_s: Float = Field(default=60.0, ge=0.0, le=86400.0,
                                     description="seconds a stationary object's track survives unseen (kept counted)")
    only_in_zones: Bool = Field(default=False, description="drop detections whose bottom-centre is in no zone (needs zones)")
    labels: tuple[Str, ...] = Field(default=(), max_length=1000, description="track only these labels (empty: all)")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return unique_names(value, "label")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        keys = data if isinstance(data, dict) else (getattr(data, "kwargs", None) or {})
        if "max_missed" in keys:
            raise ValueError("max_missed (frames) is now max_missed_s (seconds, frame-rate independent); "
                             "replace it with max_missed_s = <frames / fps>, e.g. max_missed_s = 2.0")
        return data

    @model_validator(mode="after")
    def _intervals(self) -> "TrackerSettings":
        if self.update_interval_s < self.update_min_interval_s:
            raise ValueError(
                f"update_interval_s ({self.update_interval_s}) must be >= update_min_interval_s "
                f"({self.update_min_interval_s}); raise update_interval_s or lower update_min_interval_s"
            )
        return self


def _check_points(kind: str, points: tuple) -> tuple:
    if len(points) < 3:
        raise ValueError(f"{kind} needs at least 3 points, got {len(points)}; list them as [[x, y], ...]")
    for p in points:
        if len(p) != 2:
            raise ValueError(f"{kind} point {list(p)} must be [x, y]")
    return points


def _check_range(kind: str, points: tuple, coordinates: str) -> None:
    for x, y in points:
        if coordinates == "relative" and not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                f"{kind} point [{x}, {y}] is outside 0..1; relative points are fractions of the frame "
                f"(use coordinates = \"pixels\" for pixel points)"
            )
        if coordinates == "pixels" and (x < 0 or y < 0):
            raise ValueError(f"{kind} point [{x}, {y}] is negative; pixel points start at 0")
        if coordinates == "pixels" and (x > 100_000 or y > 100_000):
            raise ValueError(f"{kind} point [{x}, {y}] is beyond 100000 pixels; use pixel coordinates of the frame")


@settings
class ZoneSettings:
    """A named polygon; a track is in the zone when its box's bottom-centre point is inside."""

    name: Str = Field(default="", max_length=64, description="zone name (used in topics)")
    points: tuple[Point, ...] = Field(default=(), max_length=MAX_POINTS, description="polygon corners [[x, y], ...], at least 3")
    labels: tuple[Str, ...] = Field(default=(), max_length=1000, description="labels counted in this zone (empty: all)")
    coordinates: Coordinates = Field(default="relative", description="relative: fractions of the frame size; pixels: pixels")
    min_s: Float = Field(default=0.0, ge=0.0, le=86400.0,
                         description="an object counts in the zone only after being in it this many seconds")
    filters: FilterSettings = Field(default_factory=FilterSettings,
                                    description="[zones.filters] / [zones.filters.<label>]: what counts in this zone")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value and not re.fullmatch(NAME_PATTERN, value):
            raise ValueError(f"'{value}' does not match the pattern {NAME_PATTERN}; use letters, digits, _ and -")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return unique_names(value, "label")

    @field_validator("points")
    @classmethod
    def _points(cls, value: tuple, info: ValidationInfo) -> tuple:
        return _check_points(f"zone {info.data.get('name', '')!r}", value)

    @model_validator(mode="after")
    def _polygon(self) -> "ZoneSettings":
        if not self.name:
            raise ValueError("zone needs a name, e.g. name = \"driveway\"")
        _check_points(f"zone {self.name!r}", self.points)  # also when points is not given
        _check_range(f"zone {self.name!r}", self.points, self.coordinates)
        return self


@settings
class MaskSettings:
    """A polygon where detections are ignored (their box's bottom-centre point is inside)."""

    points: tuple[Point, ...] = Field(default=(), max_length=MAX_POINTS, description="polygon corners [[x, y], ...], at least 3")
    coordinates: Coordinates = Field(default="relative", description="relative: fractions of the frame size; pixels: pixels")
    labels: tuple[Str, ...] = Field(default=(), max_length=1000, description="labels dropped in this mask (empty: all)")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return unique_names(value, "label")

    @field_validator("points")
    @classmethod
    def _points(cls, value: tuple) -> tuple:
        return _check_points("mask", value)

    @model_validator(mode="after")
    def _polygon(self) -> "MaskSettings":
        _check_points("mask", self.points)  # also when points is not given
        _check_range("mask", self.points, self.coordinates)
        return self
