"""Hiding secrets in text shown to people: ``rtsp://user:pass@cam/`` → ``rtsp://user:***@cam/``."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*)(?P<password>:[^/@\s]*)?@")


def redact_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``.

    Userinfo without a password (``rtsp://TOKEN@cam``) is often a token itself and is hidden whole.
    """
    return _USERINFO.sub(
        lambda m: f"{m['scheme']}{m['user']}:***@" if m["password"] else f"{m['scheme']}***@", str(text)
    )
