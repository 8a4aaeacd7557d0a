"""The event history in the live view: the review page and its API (CONTRACT §8).

``GET /events`` (the page, a static file of the server's table) · ``GET /api/events?label=&zone=&after=&before=&limit=`` (newest first) ·
``GET /api/events/<id>/snapshot.jpg`` (clean), ``boxed.jpg``, ``thumbnail.jpg``, ``clip.mp4`` (Range
requests) · ``DELETE /api/events/<id>``.  The server's checks (authentication, target length, Host)
have run before :func:`handle` is called; a DELETE from another web site's page is refused like a POST.
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edgecam.events.recorder import evidence_path
from edgecam.events.store import EventRecord, EventStore, valid_id
from edgecam.web.server import SECURITY_HEADERS

FILES = {"snapshot.jpg": "image/jpeg", "boxed.jpg": "image/jpeg", "thumbnail.jpg": "image/jpeg",
         "clip.mp4": "video/mp4"}
_EVIDENCE = re.compile(r"^/api/events/([^/]+)/([a-z]+\.(?:jpg|mp4))$")
_EVENT = re.compile(r"^/api/events/([^/]+)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_LIMIT = 1000
CHUNK = 64 * 1024


class QueryError(ValueError):
    pass


def item(record: EventRecord) -> dict[str, Any]:
    """One event of ``/api/events``: its metadata and the URL paths of its evidence (None when none)."""
    return {
        "id": record.id, "label": record.label, "zones": list(record.zones),
        "start_time": record.start_time, "end_time": record.end_time, "top_score": round(record.top_score, 4),
        "stationary": record.stationary,
        "snapshot": evidence_path(record.id, "snapshot.jpg") if record.snapshot else None,
        "boxed": evidence_path(record.id, "boxed.jpg") if record.snapshot else None,
        "thumbnail": evidence_path(record.id, "thumbnail.jpg") if record.snapshot else None,
        "clip": evidence_path(record.id, "clip.mp4") if record.clip else None,
        "clip_start": record.clip_start if record.clip else None,  # wall times of the clip's first/last frame
        "clip_end": record.clip_end if record.clip else None,
    }


def _time(name: str, text: str) -> float:
    """Epoch seconds, or an ISO 8601 date/time (local time unless it names its zone)."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = datetime.fromisoformat(text).timestamp()
        except ValueError:
            raise QueryError(f"{name} must be epoch seconds or an ISO date/time like 2026-12-07T03:00") from None
    if not math.isfinite(value):
        raise QueryError(f"{name} must be a finite number")
    return value


def parse_query(query: str) -> dict[str, Any]:
    """``label``, ``zone``, ``after``, ``before``, ``limit`` from a query string (QueryError names the bad one)."""
    args = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(args) - {"label", "zone", "after", "before", "limit"}
    if unknown:
        raise QueryError(f"unknown parameter {sorted(unknown)[0]!r}; use label, zone, after, before, limit")
    out: dict[str, Any] = {"label": args.get("label") or None, "zone": args.get("zone") or None}
    for key in ("after", "before"):
        out[key] = _time(key, args[key]) if args.get(key) else None
    limit = args.get("limit") or "100"
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise QueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    out["limit"] = int(limit)
    return out


def handle(handler: Any, store: EventStore | None, path: str) -> bool:
    """Answer ``path`` if it belongs to the review page or its API; False if it does not."""
    if not path.startswith("/api/events") or store is None:
        return False
    if path == "/api/events" and handler.command in ("GET", "HEAD"):
        try:
            query = parse_query(urlsplit(handler.path).query)
        except QueryError as exc:
            handler.send_error_json(HTTPStatus.BAD_REQUEST, str(exc))
            return True
        handler.send_json([item(r) for r in store.query(**query)])
        return True
    if (m := _EVIDENCE.match(path)) and handler.command in ("GET", "HEAD"):
        event_id, kind = m.groups()
        record = store.get(event_id) if valid_id(event_id) and kind in FILES else None
        if record is None or not (record.clip if kind == "clip.mp4" else record.snapshot):
            handler.send_error_json(HTTPStatus.NOT_FOUND, "no such event evidence; see /api/events")
            return True
        send_file(handler, store.path(event_id, kind), FILES[kind])
        return True
    if (m := _EVENT.match(path)) and handler.command == "DELETE":
        origin = handler.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != handler.headers.get("Host"):
            handler.send_error_json(HTTPStatus.FORBIDDEN, "cross-origin request refused")
            return True
        event_id = m.group(1)
        if not valid_id(event_id) or not store.delete(event_id):
            handler.send_error_json(HTTPStatus.NOT_FOUND, "no such event; see /api/events")
        else:
            handler.send_json({"deleted": event_id})
        return True
    return False


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``Range: bytes=`` header; None for the whole file; ValueError if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # not a single byte range: RFC 9110 lets a server answer with the whole file
    first, last = m.groups()
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise ValueError
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError
    return start, end


def send_file(handler: Any, path: os.PathLike, ctype: str) -> None:
    try:
        f = open(path, "rb")
    except FileNotFoundError:  # deleted since the index was read
        handler.send_error_json(HTTPStatus.NOT_FOUND, "no such event evidence; see /api/events")
        return
    with f:
        size = os.fstat(f.fileno()).st_size
        try:
            span = byte_range(handler.headers.get("Range"), size)
        except ValueError:
            handler.send_error_json(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, f"the file has {size} bytes",
                                    {"Content-Range": f"bytes */{size}"})
            return
        first, last = span if span is not None else (0, size - 1)
        handler.send_response(206 if span is not None else 200)
        for k, v in SECURITY_HEADERS.items():
            handler.send_header(k, v)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(last - first + 1))
        if span is not None:
            handler.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        handler.end_headers()
        if handler.command == "HEAD":
            return
        f.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                break
            handler.wfile.write(chunk)
            left -= len(chunk)
