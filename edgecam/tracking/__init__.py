"""Tracking: IoU tracker, object lifecycle events, zones and masks.

``from edgecam.tracking import IouTracker, TrackerOutput`` (imported lazily: ``import edgecam``
stays cheap).
"""

from __future__ import annotations

__all__ = ["IouTracker", "TrackerOutput"]


def __getattr__(name: str):
    if name in __all__:
        from edgecam.tracking import tracker

        return getattr(tracker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
