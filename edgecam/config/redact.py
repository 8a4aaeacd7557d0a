"""Kept for imports from before: the one redaction function lives in :mod:`edgecam.redact`."""

from edgecam.redact import redact_url

__all__ = ["redact_url"]
