"""JSON from untrusted bytes (HTTP bodies, state records, spooled payloads) with bounds checked first.

``json.loads`` alone recurses once per nesting level (``[`` × 8000 → ``RecursionError``) and turns
any digit string into an ``int`` (4000 digits → ``ValueError`` past Python's digit limit, or an
``OverflowError`` later when the value becomes a float).  :func:`loads_bounded` scans the text for
its nesting depth *before* parsing, refuses integers longer than ``max_digits`` while parsing
(``parse_int``), and turns every decoding problem into one :class:`JsonLimitError` (a ValueError),
so a caller catches exactly one exception type.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
MAX_DIGITS = 40  # an int of 40 digits is beyond any timestamp, count or coordinate edgecam stores

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonLimitError(ValueError):
    """The text is not JSON, or exceeds a bound (depth, number size)."""


def nesting_depth(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting of ``raw`` outside strings (a bounded scan, no recursion)."""
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for b in brackets:
        depth += 1 if b in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def loads_bounded(raw: bytes | str, max_depth: int = MAX_DEPTH, max_digits: int = MAX_DIGITS) -> Any:
    """Parse ``raw`` as JSON; :class:`JsonLimitError` naming the problem when it is not usable JSON."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise JsonLimitError(f"nested {depth} levels deep (at most {max_depth})")

    def parse_int(text: str) -> int:
        if len(text.lstrip("-")) > max_digits:
            raise JsonLimitError(f"an integer of {len(text)} digits (at most {max_digits})")
        return int(text)

    def parse_float(text: str) -> float:
        if len(text) > 2 * max_digits:
            raise JsonLimitError(f"a number of {len(text)} characters (at most {2 * max_digits})")
        return float(text)

    def parse_constant(text: str) -> float:
        raise JsonLimitError(f"{text} is not a JSON number")

    try:
        return json.loads(raw.decode("utf-8"), parse_int=parse_int, parse_float=parse_float,
                          parse_constant=parse_constant)
    except JsonLimitError:
        raise
    except (ValueError, RecursionError, OverflowError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        raise JsonLimitError(f"not JSON: {exc}") from None
