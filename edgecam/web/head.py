"""Strict checks of an HTTP request head, as pure functions (the server answers 400 when one fails).

* ``Host``: exactly one header of the form ``name[:port]``, ``a.b.c.d[:port]`` or ``[v6][:port]`` —
  nothing before or after the brackets (``[::1]evil.com`` is refused), a port of 1–5 digits.
* The target: origin-form only (``/path?query``); absolute-form (``http://host/…``), authority-form
  and ``*`` are refused.
* ``Content-Length``: exactly one header of ASCII digits (``²`` is a digit to Python, not to HTTP).
"""

from __future__ import annotations

import ipaddress
import re

_HOST = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9.])?))"
                   r"(?::(?P<port>[0-9]{1,5}))?", re.ASCII)
_LENGTH = re.compile(r"[0-9]{1,12}", re.ASCII)
_TARGET_CHARS = re.compile(r"[\x21-\x7e]+", re.ASCII)  # visible ASCII, no spaces or controls


def parse_host(values: list[str]) -> str | None:
    """The host name or address of the request's ``Host`` header(s); None unless exactly one valid one."""
    if len(values) != 1:
        return None
    m = _HOST.fullmatch(values[0].strip(" \t"))
    if m is None or (m["port"] is not None and int(m["port"]) > 65535):
        return None
    if m["v6"] is not None:
        try:
            ipaddress.IPv6Address(m["v6"])
        except ValueError:
            return None
        return m["v6"]
    return m["name"]


def target_path(target: str) -> str | None:
    """The path of an origin-form request target (``/a/b?x`` → ``/a/b``); None for any other form."""
    if not target.startswith("/") or target.startswith("//") or not _TARGET_CHARS.fullmatch(target):
        return None
    return target.partition("?")[0].partition("#")[0]


def content_length(values: list[str]) -> int | None:
    """The body length from the ``Content-Length`` header(s); None unless exactly one of ASCII digits."""
    if len(values) != 1 or not _LENGTH.fullmatch(values[0].strip(" \t")):
        return None
    return int(values[0])
