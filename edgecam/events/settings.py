"""Settings of the ``[events]`` section: the event history (snapshots, clips, disk budget)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgecam.fields import Bool, Float, Int, settings


@settings
class EventsSettings:
    enabled: Bool = Field(default=True, description="keep every event's evidence (snapshot, thumbnail, clip) on disk")
    keep_days: Float = Field(default=14.0, gt=0.0, le=3650.0, description="delete events older than this many days")
    max_mb: Float = Field(default=1024.0, gt=0.0, le=10_000_000.0,
                          description="the event store's disk budget in MiB; the oldest events are deleted first")
    pre_s: Float = Field(default=5.0, ge=0.0, le=60.0, description="seconds of video kept before an event starts")
    post_s: Float = Field(default=5.0, ge=0.0, le=300.0, description="seconds of video kept after an event ends")
    clips: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="record a clip per event: auto = only where it costs ~nothing (stream copy of an H.264/H.265 "
                    "camera, a Pi 4 camera's hardware H.264 encoder), on = also encode in software for other sources, off = snapshots only",
    )
    clip_width: Int = Field(default=640, ge=64, le=3840, description="software-encoded clips: at most this wide")
    clip_fps: Float = Field(default=5.0, gt=0.0, le=30.0, description="software-encoded clips: at most this frame rate")
    snapshot_quality: Int = Field(default=90, ge=1, le=100, description="JPEG quality of the stored snapshots")
    thumbnail_size: Int = Field(default=240, ge=32, le=1024, description="thumbnail's longer side in pixels")
    queue_size: Int = Field(default=64, ge=4, le=10_000,
                            description="evidence jobs waiting for the writer; more are dropped and counted")


def clip_mode(clips: str, source_has_packets: bool) -> str | None:
    """How clips are made: ``"copy"`` (the source's compressed packets, remuxed), ``"encode"`` (software) or None.

    ``auto`` records only where it costs ~nothing: a source that hands over its compressed packets (a network
    H.264/H.265 camera, or picamera2 where its H.264 encoder is the hardware one: a Pi 4; not a Pi 5)."""
    if clips == "off":
        return None
    if source_has_packets:
        return "copy"
    return "encode" if clips == "on" else None
