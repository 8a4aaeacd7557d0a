"""Zones and masks: polygons tested against boxes' bottom-centre points, vectorized."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgecam.tracking.settings import MaskSettings, ZoneSettings


def bottom_centres(boxes: np.ndarray) -> np.ndarray:
    """(N,4) x0,y0,x1,y1 → (N,2) bottom-centre points (where an object touches the ground)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack(((boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3]), axis=1)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule for (N,2) points against one (V,2) polygon → (N,) bool, as one (N,V) array op."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    if points.shape[0] == 0 or poly.shape[0] < 3:
        return np.zeros(points.shape[0], bool)
    xi, yi = poly[:, 0], poly[:, 1]
    xj, yj = np.concatenate((xi[-1:], xi[:-1])), np.concatenate((yi[-1:], yi[:-1]))  # previous vertex
    px, py = points[:, 0:1], points[:, 1:2]
    straddles = (yi > py) != (yj > py)
    dy = np.where(yj == yi, 1.0, yj - yi)  # rows where yj == yi never straddle
    x_cross = (xj - xi) * (py - yi) / dy + xi
    crossings = straddles & (px < x_cross)
    return (np.count_nonzero(crossings, axis=1) % 2).astype(bool)


class _Polygon:
    def __init__(self, points: Sequence[Sequence[float]], coordinates: str, labels: Sequence[str]) -> None:
        self.points = np.asarray(points, np.float64).reshape(-1, 2)
        self.relative = coordinates == "relative"
        self.labels = tuple(labels)

    def scaled(self, width: int | None, height: int | None) -> np.ndarray:
        if not self.relative:
            return self.points
        if not width or not height:
            raise ValueError("relative zones/masks need the frame size: pass width= and height= to update()")
        return self.points * np.array([float(width), float(height)])

    def contains(self, points: np.ndarray, labels: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
        inside = points_in_polygon(points, self.scaled(width, height))
        if self.labels and inside.size:
            inside &= np.isin(labels, np.asarray(self.labels, dtype=object))
        return inside


class Regions:
    """The configured zones (named, counted) and masks (detections dropped)."""

    def __init__(self, zones: Sequence[ZoneSettings] = (), masks: Sequence[MaskSettings] = ()) -> None:
        for region in (*zones, *masks):
            region.validate()
        names = [z.name for z in zones]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"zone names must be unique; rename the duplicates: {', '.join(duplicates)}")
        self.zone_names: tuple[str, ...] = tuple(names)
        self.zone_labels: tuple[tuple[str, ...], ...] = tuple(tuple(z.labels) for z in zones)
        self._zones = [_Polygon(z.points, z.coordinates, z.labels) for z in zones]
        self._masks = [_Polygon(m.points, m.coordinates, m.labels) for m in masks]

    @property
    def has_masks(self) -> bool:
        return bool(self._masks)

    def masked(self, points: np.ndarray, labels: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
        """(N,) bool: the point lies in any mask that applies to its label."""
        out = np.zeros(len(points), bool)
        for mask in self._masks:
            out |= mask.contains(points, labels, width, height)
        return out

    def membership(self, points: np.ndarray, labels: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
        """(N, Z) bool: point n is in zone z and zone z counts its label."""
        out = np.zeros((len(points), len(self._zones)), bool)
        for z, zone in enumerate(self._zones):
            out[:, z] = zone.contains(points, labels, width, height)
        return out
