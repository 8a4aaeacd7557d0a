"""The remote commands (``<base>/set/detection``, ``<base>/set/conf``): one table, :data:`COMMANDS`.

Each command has a strict payload parser (the accepted value, or ``ValueError`` with a message naming
the topic's expected payload), the live control it sets, and the payload echoed on ``state/<name>``.
Nothing here touches the network.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from edgecam.confidence import CONF_MAX, CONF_MIN, conf_problem, normalise_conf
from edgecam.controls import Controls

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


@dataclass(frozen=True)
class Command:
    parse: Callable[[bytes], Any]  # payload → value, or ValueError
    apply: Callable[[Controls, Any], None]  # sets the live control (which echoes it through the publisher)
    state: Callable[[Any], bytes]  # the payload echoed on ``state/<name>``


COMMANDS: dict[str, Command] = {
    "detection": Command(parse_detection, Controls.set_detection_enabled, lambda value: b"ON" if value else b"OFF"),
    "conf": Command(parse_conf, Controls.set_conf, lambda value: repr(normalise_conf(float(value))).encode()),
}


def format_state(name: str, value: object) -> bytes:
    """The payload echoed on ``state/<name>`` for an accepted value (KeyError for an unknown command)."""
    return COMMANDS[name].state(value)
