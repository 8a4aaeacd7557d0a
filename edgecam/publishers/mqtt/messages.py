"""Payloads of CONTRACT §6, built by pure functions (shared by the MQTT and stdout publishers)."""

from __future__ import annotations

import json
from typing import Any, Mapping

from edgecam.domain import FrameUpdate


def encode(obj: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=json_default).encode()


def json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalar
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def detections_payload(update: FrameUpdate) -> dict[str, Any]:
    """The ``detections`` topic payload for one processed frame."""
    inference = update.inference
    frame = update.frame
    return {
        "v": 1,
        "camera": update.camera,
        "frame": frame.index,
        "timestamp": frame.timestamp,
        "inference_ms": round(float(inference.inference_ms), 2) if inference is not None else None,
        "width": inference.width if inference is not None else frame.width,
        "height": inference.height if inference is not None else frame.height,
        "detections": update.detections.to_dicts(),
    }


class FeedGate:
    """Decides which frames go on the ``detections`` feed: every processed frame with detections,
    and the first one without after frames with them (so subscribers see the objects leave)."""

    def __init__(self) -> None:
        self.active = False

    def wants(self, update: FrameUpdate) -> bool:
        """Would this frame be published? (Does not change state.)"""
        if update.inference is None:  # not processed (detection off / motion gating)
            return False
        return len(update.detections) > 0 or self.active

    def admit(self, update: FrameUpdate) -> bool:
        """``wants`` and record that the frame was published."""
        if not self.wants(update):
            return False
        self.active = len(update.detections) > 0
        return True


def changed_counts(published: Mapping[Any, int], current: Mapping[Any, int]) -> dict[Any, int]:
    """Entries of ``current`` whose value differs from (or is missing in) ``published``."""
    return {k: int(v) for k, v in current.items() if published.get(k) != v}


def stats_payload(stats: Mapping[str, Any], publisher: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``stats`` payload: the pipeline's stats plus the publisher's own under ``mqtt``."""
    out = dict(stats)
    if publisher is not None:
        out["mqtt"] = dict(publisher)
    return out
