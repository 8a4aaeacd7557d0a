"""Per-label detection filters (``[filters]``, ``[filters.<label>]``, and the same inside a ``[[zones]]``).

A detection is dropped before tracking when its score is below ``min_score``, its box covers less than
``min_area`` or more than ``max_area`` of the frame, or its width/height ratio is outside
``min_ratio`` .. ``max_ratio``.  A track is confirmed only once the median of its scores reaches
``threshold``.  Inside a zone the same keys decide whether an object counts *in that zone*.

Each value is looked up as: the label's own table, then the ``[filters]`` defaults, then the built-in
default of that label (:data:`LABEL_DEFAULTS`, measured on COCO128: see ``deploy/dev/tune_filters.py``),
then the neutral default (nothing filtered).  The check is one set of numpy operations per frame:
the values are gathered into an array indexed by class id once per class list.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

import numpy as np
from pydantic import Field, model_validator

from edgecam.fields import Float, Str, settings
from edgecam.names import unique_names

KEYS = ("min_score", "threshold", "min_area", "max_area", "min_ratio", "max_ratio")
NEUTRAL = (0.0, 0.0, 0.0, 1.0, 0.0, float("inf"))
MAX_RATIO = 1000.0

# Built-in min_score / threshold per label, measured by deploy/dev/tune_filters.py on COCO128 with
# yolov5ss at 640 (the README's table): threshold is the lowest score cut at which >= 90 % of confirmed
# tracks are real objects, min_score the lowest at which >= 80 % of detections are.  Only labels with
# >= 40 labelled objects there; the others are not filtered beyond [model] conf.  Both are at or below
# the default conf (0.45): they take effect when conf is lowered (e.g. from Home Assistant).
LABEL_DEFAULTS: dict[str, dict[str, float]] = {
    "person": {"min_score": 0.30, "threshold": 0.45},
    "car": {"min_score": 0.40, "threshold": 0.40},
}


def _score(what: str):
    return Field(default=None, ge=0.0, le=1.0, description=what)


def _area(what: str):
    return Field(default=None, ge=0.0, le=1.0, description=what)


def _ratio(what: str):
    return Field(default=None, gt=0.0, le=MAX_RATIO, description=what)


def _check_ranges(f: Any) -> None:
    for low, high in (("min_area", "max_area"), ("min_ratio", "max_ratio")):
        lo, hi = getattr(f, low), getattr(f, high)
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"{low} ({lo}) is above {high} ({hi}); nothing could pass: lower {low} or raise {high}")


@settings
class LabelFilterSettings:
    """One label's filters (``[filters.person]``); a key left out falls back to ``[filters]``."""

    min_score: Float | None = _score("drop detections scoring below this")
    threshold: Float | None = _score("confirm a track only once its median score reaches this")
    min_area: Float | None = _area("drop boxes smaller than this fraction of the frame")
    max_area: Float | None = _area("drop boxes larger than this fraction of the frame")
    min_ratio: Float | None = _ratio("drop boxes whose width/height is below this")
    max_ratio: Float | None = _ratio("drop boxes whose width/height is above this")

    @model_validator(mode="after")
    def _ranges(self) -> "LabelFilterSettings":
        _check_ranges(self)
        return self


@settings
class FilterSettings:
    """``[filters]``: defaults for every label, and ``[filters.<label>]`` tables (kept in ``labels``)."""

    __flattened__ = "labels"  # config errors name [filters.person], not [filters] labels.person

    min_score: Float | None = _score("drop detections scoring below this (every label)")
    threshold: Float | None = _score("confirm a track only once its median score reaches this (every label)")
    min_area: Float | None = _area("drop boxes smaller than this fraction of the frame (every label)")
    max_area: Float | None = _area("drop boxes larger than this fraction of the frame (every label)")
    min_ratio: Float | None = _ratio("drop boxes whose width/height is below this (every label)")
    max_ratio: Float | None = _ratio("drop boxes whose width/height is above this (every label)")
    labels: dict[Str, LabelFilterSettings] = Field(default_factory=dict, max_length=1000,
                                                   description="per-label tables, written [filters.<label>]")

    @model_validator(mode="before")
    @classmethod
    def _label_tables(cls, data: Any) -> Any:
        """``[filters.person]`` arrives as the key ``person`` holding a table: move it under ``labels``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        tables = data.get("labels", {})
        tables = dict(tables) if isinstance(tables, dict) else tables
        for key in [k for k in data if k not in KEYS and k != "labels"]:
            value = data.pop(key)
            if not isinstance(value, dict):
                close = difflib.get_close_matches(str(key), KEYS, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(KEYS)
                raise ValueError(f"unknown key {key} = {value!r}; {hint} (a label's own filters are a "
                                 f"table: [filters.{key}])")
            if isinstance(tables, dict):
                tables[key] = value
        data["labels"] = tables
        return data

    @model_validator(mode="after")
    def _ranges(self) -> "FilterSettings":
        unique_names(self.labels, "filter label")
        _check_ranges(self)
        return self

    @property
    def empty(self) -> bool:
        return not self.labels and all(getattr(self, k) is None for k in KEYS)


def _resolve(label: str, filters: FilterSettings, builtin: Mapping[str, Mapping[str, float]]) -> list[float]:
    own = filters.labels.get(label)
    out = []
    for k, neutral in zip(KEYS, NEUTRAL):
        value = getattr(own, k) if own is not None else None
        if value is None:
            value = getattr(filters, k)
        if value is None:
            value = builtin.get(label, {}).get(k, neutral)
        out.append(float(value))
    return out


class LabelFilters:
    """The filters of ``[filters]`` (or of one zone) resolved per class; ``keep`` tests a batch at once."""

    def __init__(self, filters: FilterSettings | None = None,
                 builtin: Mapping[str, Mapping[str, float]] = LABEL_DEFAULTS) -> None:
        self.settings = filters or FilterSettings()
        self._builtin = builtin
        self._names: tuple[str, ...] | None = None
        self._table = np.zeros((1, len(KEYS)))
        self._thresholds: dict[str, float] = {}
        self.dropped: dict[str, int] = {k: 0 for k in KEYS if k != "threshold"}

    @property
    def active(self) -> bool:
        """False when nothing can be filtered (no settings, no built-in defaults)."""
        return not (self.settings.empty and not self._builtin)

    def table(self, names: Sequence[str]) -> np.ndarray:
        """(C+1, 6) values per class id; the last row is for ids outside ``names``."""
        names = tuple(names)
        if names != self._names:
            rows = [_resolve(n, self.settings, self._builtin) for n in names]
            rows.append(_resolve("", self.settings, {}))
            self._table, self._names = np.asarray(rows, np.float64), names
        return self._table

    def threshold(self, label: str) -> float:
        """The median score a track of ``label`` needs to be confirmed (or to count in a zone)."""
        value = self._thresholds.get(label)
        if value is None:
            value = self._thresholds[label] = _resolve(label, self.settings, self._builtin)[1]
        return value

    def reasons(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, names: Sequence[str],
                width: int | None, height: int | None) -> np.ndarray:
        """(N,) int8: 0 passes, else 1 + the index in :data:`KEYS` of the first filter that drops it."""
        n = scores.shape[0]
        out = np.zeros(n, np.int8)
        if n == 0:
            return out
        table = self.table(names)
        ids = np.asarray(class_ids, np.int64)
        ids = np.where((ids >= 0) & (ids < len(table) - 1), ids, len(table) - 1)
        p = table[ids]
        b = np.asarray(boxes, np.float64)
        w, h = np.maximum(b[:, 2] - b[:, 0], 0.0), np.maximum(b[:, 3] - b[:, 1], 0.0)
        fails = [scores < p[:, 0]]
        needs_area = bool((p[:, 2] > 0.0).any() or (p[:, 3] < 1.0).any())
        if needs_area:
            if not width or not height:
                raise ValueError("area filters need the frame size: pass width= and height= to update()")
            area = w * h / (float(width) * float(height))
            fails += [area < p[:, 2], area > p[:, 3]]
        else:
            fails += [np.zeros(n, bool)] * 2
        if (p[:, 4] > 0.0).any() or np.isfinite(p[:, 5]).any():
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(h > 0.0, w / np.where(h > 0.0, h, 1.0), np.inf)
            fails += [ratio < p[:, 4], ratio > p[:, 5]]
        else:
            fails += [np.zeros(n, bool)] * 2
        for code, fail in zip((1, 3, 4, 5, 6), fails):  # threshold (2) is not a per-detection filter
            out[(out == 0) & fail] = code
        return out

    def keep(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, names: Sequence[str],
             width: int | None, height: int | None, count: bool = True) -> np.ndarray:
        """(N,) bool: the detections that pass; ``count`` adds the dropped ones to :attr:`dropped`."""
        reasons = self.reasons(boxes, scores, class_ids, names, width, height)
        if count and reasons.any():
            counts = np.bincount(reasons, minlength=len(KEYS) + 1)
            for code, key in enumerate(KEYS, start=1):
                if key in self.dropped:
                    self.dropped[key] += int(counts[code])
        return reasons == 0
