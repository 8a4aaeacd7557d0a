"""Logging set-up: journald with structured fields under systemd, plain stderr otherwise.

Under systemd (``JOURNAL_STREAM`` names our stderr, or ``INVOCATION_ID`` is set) and with
systemd-python importable, records go straight to the journal through ``JournalHandler`` with
``SYSLOG_IDENTIFIER=edgecam``, the logger name, thread, code location and any constant fields
(``CAMERA=frontdoor``).  Callers add per-record fields with ``extra={"TRACK_ID": 7}`` (upper-case
names).  Read them with ``journalctl -u edgecam -o verbose`` or filter: ``journalctl CAMERA=frontdoor``.

Under systemd without systemd-python, stderr is still captured by journald: lines then carry a
``<N>`` syslog priority prefix (journald's SyslogLevelPrefix=) and no timestamp (journald adds one).
Everywhere else: ``%(asctime)s %(levelname)s %(name)s: %(message)s`` on stderr.

Every record passes :class:`RedactingFilter` first: credentials in URLs (``rtsp://user:pass@cam``)
are hidden in the message and in a traceback, whatever module logged them (``edgecam.redact``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, Callable, TextIO

from edgecam.redact import redact_url

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SYSLOG_IDENTIFIER = "edgecam"

# Handlers installed by setup_logging, so calling it again replaces rather than duplicates them.
_OWN_HANDLER_ATTR = "_edgecam_handler"


def under_systemd(env: Mapping[str, str] | None = None, stderr: TextIO | None = None) -> bool:
    """True when this process was started by systemd with its output going to the journal."""
    environ = os.environ if env is None else env
    stream = environ.get("JOURNAL_STREAM")
    if stream:
        try:
            dev, ino = (int(x) for x in stream.split(":", 1))
            st = os.fstat((stderr or sys.stderr).fileno())
            if (st.st_dev, st.st_ino) == (dev, ino):
                return True
        except (ValueError, OSError, AttributeError):
            pass
    return bool(environ.get("INVOCATION_ID"))


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(str(level).upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return value


class RedactingFilter(logging.Filter):
    """Hides URL credentials in the record's message and traceback (the record is rewritten once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the formatter's to report
            return True
        hidden = redact_url(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_url(record.exc_text)
        return True


class _SyslogPrefixFormatter(logging.Formatter):
    """``<N>name: message`` for journald's stderr capture (N = syslog priority)."""

    _PRIORITIES = ((logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3),
                   (logging.CRITICAL, 2))

    def format(self, record: logging.LogRecord) -> str:
        pri = 1
        for threshold, value in self._PRIORITIES:
            if record.levelno <= threshold:
                pri = value
                break
        text = super().format(record)
        # Every line of a multi-line record (tracebacks) keeps the priority.
        return "\n".join(f"<{pri}>{line}" for line in text.split("\n"))


def setup_logging(
    level: int | str = logging.INFO,
    journald: bool | None = None,
    *,
    fields: Mapping[str, Any] | None = None,
    stream: TextIO | None = None,
    journal_sender: Callable[..., Any] | None = None,
) -> logging.Handler:
    """Configure the root logger once for the process and return the installed handler.

    ``journald``: None = auto-detect (systemd + systemd-python importable), True = require the journal
    (falls back to stderr with a warning when systemd-python is missing), False = plain stderr.
    ``fields``: constant journal fields added to every record, e.g. ``{"CAMERA": "frontdoor"}``.
    ``journal_sender`` replaces ``systemd.journal.send`` (tests).
    """
    lvl = _level(level)
    systemd_here = under_systemd(stderr=stream)
    want_journal = systemd_here if journald is None else journald
    handler: logging.Handler | None = None
    problem = None
    if want_journal:
        try:
            from systemd import journal  # systemd-python
        except ImportError:
            problem = "systemd-python is not installed (pip install systemd-python); logging to stderr"
        else:
            extra = {"SYSLOG_IDENTIFIER": SYSLOG_IDENTIFIER}
            extra.update({str(k).upper(): str(v) for k, v in (fields or {}).items()})
            kwargs: dict[str, Any] = {}
            if journal_sender is not None:
                kwargs["sender_function"] = journal_sender
            handler = journal.JournalHandler(**kwargs, **extra)
            handler.setFormatter(logging.Formatter("%(message)s"))
    if handler is None:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        if systemd_here and journald is not False:
            handler.setFormatter(_SyslogPrefixFormatter("%(name)s: %(message)s"))
        else:
            handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    setattr(handler, _OWN_HANDLER_ATTR, True)
    handler.addFilter(RedactingFilter())

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OWN_HANDLER_ATTR, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(lvl)
    if problem:
        logging.getLogger(__name__).warning(problem)
    return handler
