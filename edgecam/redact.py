"""Hiding credentials in text shown to people: ``rtsp://user:pass@cam/`` → ``rtsp://user:***@cam/``.

One function, :func:`redact_url`, used by logs (a filter on the daemon's handler), ``edgecam check``,
the stats (``last_error``) and every message built from a camera URL.  It follows FFmpeg's own URL
split (``av_url_split``): after ``scheme://`` the authority runs to the first ``/``, ``?`` or ``#``
(or the end of the line), and the userinfo is everything up to the *last* ``@`` of the authority, so
a password holding ``@`` or ``:`` (``rtsp://cam:p@ss:w0rd@host/``, which FFmpeg accepts) is hidden
whole.  Text after a URL without a path that holds an ``@`` is over-hidden, never under-hidden.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_AUTHORITY_END = re.compile(r"[/?#\r\n]")
MASK = "***"


def redact_url(text: object) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``.

    Userinfo without a password (``rtsp://TOKEN@cam``) is often a token itself and is hidden whole.
    """
    text = str(text)
    out: list[str] = []
    pos = 0
    while (m := _SCHEME.search(text, pos)) is not None:
        start = m.end()
        end_m = _AUTHORITY_END.search(text, start)
        end = end_m.start() if end_m else len(text)
        at = text.rfind("@", start, end)
        if at < 0:
            out.append(text[pos:start])
            pos = start
            continue
        userinfo = text[start:at]
        user, colon, _ = userinfo.partition(":")
        out.append(text[pos:start])
        out.append(f"{user}:{MASK}@" if colon else f"{MASK}@")
        pos = at + 1  # the rest of the authority is scanned again: it may start another URL
    out.append(text[pos:])
    return "".join(out)
