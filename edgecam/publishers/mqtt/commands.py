"""Strict parsing of remote command payloads (``<base>/set/detection``, ``<base>/set/conf``).

Each parser returns the accepted value or raises ``ValueError`` with a message naming the topic's
expected payload.  Nothing here touches the network or the controls.
"""

from __future__ import annotations

import math
import re

from edgecam.confidence import CONF_MAX, CONF_MIN, conf_problem, normalise_conf

MAX_PAYLOAD = 32  # bytes; anything longer is rejected without decoding
_NUMBER = re.compile(r"^[+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_ON = {"ON", "TRUE", "1"}
_OFF = {"OFF", "FALSE", "0"}


def _text(payload: bytes, what: str) -> str:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"{what}: payload of {len(payload)} bytes is too long (max {MAX_PAYLOAD})")
    try:
        text = payload.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{what}: payload is not ASCII text") from None
    if not text.isprintable():
        raise ValueError(f"{what}: payload has control characters")
    return text


def parse_detection(payload: bytes) -> bool:
    """``ON``/``OFF`` (also ``true``/``false``/``1``/``0``, any case) → bool."""
    text = _text(payload, "set/detection").upper()
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise ValueError(f"set/detection: expected ON or OFF, got {text[:MAX_PAYLOAD]!r}")


def parse_conf(payload: bytes) -> float:
    """A plain decimal number in the confidence range (``confidence.py``; no NaN, inf, hex,
    signs other than +), rounded to the resolution every interface shows."""
    text = _text(payload, "set/conf")
    if not _NUMBER.match(text):
        raise ValueError(f"set/conf: expected a number from {CONF_MIN} to {CONF_MAX}, got {text!r}")
    value = float(text)
    problem = conf_problem(value) if math.isfinite(value) else f"must be a number from {CONF_MIN} to {CONF_MAX}"
    if problem is not None:
        raise ValueError(f"set/conf: {text} {problem}" if "out of range" not in problem
                         else f"set/conf: {problem}")
    return normalise_conf(value)


PARSERS = {"detection": parse_detection, "conf": parse_conf}


def format_state(name: str, value: object) -> bytes:
    """The payload echoed on ``state/<name>`` for an accepted value."""
    if name == "detection":
        return b"ON" if value else b"OFF"
    if name == "conf":
        return repr(normalise_conf(float(value))).encode()
    raise KeyError(name)
