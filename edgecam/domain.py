"""Domain types shared by every layer: frames, detections, inference results, events.

Only numpy and the standard library here.  Detections are kept as a vectorized batch (arrays),
never one Python object per box on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

PixelFormat = Literal["RGB", "BGR"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image: ``image`` is H×W×3 uint8 in ``pixel_format`` order."""

    image: np.ndarray
    index: int
    timestamp: float  # wall-clock seconds since the epoch, at capture
    pixel_format: PixelFormat = "RGB"
    source: str = ""

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def scaled(self, width: int, height: int) -> np.ndarray:
        """The image resized to ``width``×``height`` (bilinear), in ``pixel_format`` order."""
        import cv2  # noqa: PLC0415 - domain types stay importable without OpenCV

        if (width, height) == (self.width, self.height):
            return self.image
        return cv2.resize(self.image, (width, height), interpolation=cv2.INTER_LINEAR)

    def grey(self, width: int, height: int) -> np.ndarray:
        """A ``width``×``height`` grey (luma) image, area-averaged: what motion detection compares."""
        import cv2  # noqa: PLC0415

        small = cv2.resize(self.image, (width, height), interpolation=cv2.INTER_AREA)
        code = cv2.COLOR_RGB2GRAY if self.pixel_format == "RGB" else cv2.COLOR_BGR2GRAY
        return cv2.cvtColor(small, code)


@dataclass(frozen=True, slots=True)
class Detections:
    """A batch of N detections in pixels of the original image.

    ``boxes`` (N,4) float32 x0,y0,x1,y1; ``scores`` (N,) float32; ``class_ids`` (N,) int32;
    ``class_names`` maps a class id to its label.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...] = ()

    @classmethod
    def empty(cls, class_names: tuple[str, ...] = ()) -> "Detections":
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), class_names
        )

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def label(self, i: int) -> str:
        cid = int(self.class_ids[i])
        return self.class_names[cid] if 0 <= cid < len(self.class_names) else str(cid)

    def select(self, mask: np.ndarray) -> "Detections":
        """A new batch with only the rows where ``mask`` (bool or index array) selects."""
        return Detections(self.boxes[mask], self.scores[mask], self.class_ids[mask], self.class_names)

    def to_dicts(self, ndigits: int = 1) -> list[dict]:
        """JSON-ready list ``[{label, label_id, score, box}]`` (CONTRACT §3 and §6)."""
        boxes = np.round(self.boxes.astype(np.float64), ndigits).tolist()
        scores = np.round(self.scores.astype(np.float64), 4).tolist()
        ids = self.class_ids.tolist()
        names = self.class_names
        return [
            {
                "label": names[c] if 0 <= c < len(names) else str(c),
                "label_id": c,
                "score": s,
                "box": b,
            }
            for c, s, b in zip(ids, scores, boxes)
        ]


@dataclass(frozen=True, slots=True)
class Inference:
    """What a detector returns for one image, with its timings in milliseconds."""

    detections: Detections
    width: int
    height: int
    inference_ms: float  # network forward pass (ncnn extract) only
    preprocess_ms: float = 0.0
    postprocess_ms: float = 0.0  # decode + NMS + unletterbox

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


EventType = Literal["new", "update", "end"]


@dataclass(frozen=True, slots=True)
class Event:
    """A tracked object's lifecycle event (CONTRACT §6 ``events`` topic)."""

    type: EventType
    id: str
    label: str
    score: float  # median score over the track's life so far
    top_score: float
    box: tuple[float, float, float, float]
    start_time: float
    end_time: float | None = None
    zones: tuple[str, ...] = ()
    reason: str | None = None  # only on an ``end`` not seen by the tracker, e.g. "restart"
    stationary: bool = False  # its box has not moved for ``[tracking] stationary_s``
    entered_zones: tuple[str, ...] = ()  # zones it counts in since its previous event (``new``: all it is in)
    exited_zones: tuple[str, ...] = ()  # zones it no longer counts in since its previous event (``end``: all)
    snapshot: str | None = None  # an ``end``'s evidence: live-view URLs (event history), None when none
    clip: str | None = None

    def to_payload(self) -> dict:
        payload = {
            "v": 1,
            "type": self.type,
            "id": self.id,
            "label": self.label,
            "score": round(float(self.score), 4),
            "top_score": round(float(self.top_score), 4),
            "box": [round(float(v), 1) for v in self.box],
            "start_time": self.start_time,
            "end_time": self.end_time,
            "zones": list(self.zones),
            "stationary": bool(self.stationary),
        }
        if self.entered_zones:
            payload["entered_zones"] = list(self.entered_zones)
        if self.exited_zones:
            payload["exited_zones"] = list(self.exited_zones)
        if self.type == "end":
            payload["snapshot"] = self.snapshot
            payload["clip"] = self.clip
        if self.reason is not None:
            payload["reason"] = self.reason
        return payload


@dataclass(frozen=True, slots=True)
class TrackView:
    """A read-only view of one confirmed track, for counts and snapshots.

    ``missed``: frames since it was last seen (0: seen in this frame; more: *coasting*, kept at its
    last box until it is seen again or ends)."""

    id: str
    label: str
    box: tuple[float, float, float, float]
    score: float
    zones: tuple[str, ...] = ()
    stationary: bool = False
    missed: int = 0
    top_score: float = 0.0  # the best detection score so far: it rises in the frame that showed the object best


@dataclass(frozen=True, slots=True)
class FrameUpdate:
    """Everything the pipeline hands the publishers after one processed frame.

    ``inference`` is None when detection was skipped (motion gating, detection switched off).
    ``counts`` holds the current number of confirmed tracks per label (every label seen so far,
    including zeros); ``zone_counts`` the same per ``(zone, label)``.
    """

    camera: str
    frame: Frame
    inference: Inference | None
    detections: Detections
    events: tuple[Event, ...] = ()
    tracks: tuple[TrackView, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    zone_counts: dict[tuple[str, str], int] = field(default_factory=dict)
