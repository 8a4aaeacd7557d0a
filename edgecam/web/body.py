"""A request's JSON body: its length, type and origin checked, read within a deadline, parsed with
bounds on nesting and number sizes (``edgecam/jsonlimits.py``).  Every problem is answered with a 4xx."""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from edgecam.jsonlimits import JsonLimitError, loads_bounded
from edgecam.web.deadline import DeadlineReader
from edgecam.web.head import content_length
from edgecam.web.settings import WebSettings

MAX_BODY = 16 * 1024  # bytes of a JSON request body
MAX_BODY_DEPTH = 8  # nesting of a JSON body (a zone draft needs 3)
MAX_BODY_DIGITS = 20  # digits of an integer in a JSON body


def read_json_body(handler: Any, reader: DeadlineReader, settings: WebSettings) -> Any:
    """The parsed body of ``handler``'s request, or ValueError after the error was sent."""
    if handler.headers.get("Transfer-Encoding"):
        handler.close_connection = True
        handler.send_error_json(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not chunked")
        raise ValueError
    lengths = handler.headers.get_all("Content-Length")
    if not lengths:
        handler.close_connection = True
        handler.send_error_json(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
        raise ValueError
    length = content_length(lengths)
    if length is None:
        handler.close_connection = True
        handler.send_error_json(HTTPStatus.BAD_REQUEST, "send one Content-Length of ASCII digits")
        raise ValueError
    if length > MAX_BODY:
        handler.close_connection = True
        handler.send_error_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY} bytes")
        raise ValueError
    ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        handler.close_connection = True
        handler.send_error_json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json")
        raise ValueError
    origin = handler.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != handler.headers.get("Host"):
        handler.close_connection = True
        handler.send_error_json(HTTPStatus.FORBIDDEN, "cross-origin request refused")
        raise ValueError
    reader.deadline = time.monotonic() + settings.head_timeout_s  # the body, bounded alike
    try:
        raw = handler.rfile.read(length)
    finally:
        reader.deadline = None
        handler.connection.settimeout(settings.client_timeout_s)
    handler.body_read = True
    if len(raw) < length:
        handler.close_connection = True
        raise ValueError  # the client closed before sending its body: nobody to answer
    try:
        return loads_bounded(raw, max_depth=MAX_BODY_DEPTH, max_digits=MAX_BODY_DIGITS)
    except JsonLimitError as exc:
        handler.send_error_json(HTTPStatus.BAD_REQUEST, f"body is not usable JSON: {exc}")
        raise ValueError from None
