"""Tracking: IoU tracker, object lifecycle events, zones and masks."""
