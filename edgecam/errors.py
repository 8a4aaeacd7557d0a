"""Exceptions a user can cause, each carrying the exit code of CONTRACT §3.

Every message names the thing that is wrong and the fix, in one line.
"""


class EdgecamError(Exception):
    """A failure the CLI reports as one line; exit code 1 (a runtime failure)."""

    exit_code = 1


class UsageError(EdgecamError):
    """Bad command-line usage, config or model; exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration file is missing, malformed or has an invalid value."""


class ModelError(UsageError):
    """A model reference cannot be resolved, or its files are missing, corrupt or unsupported."""


class SourceError(EdgecamError):
    """A frame source cannot be opened or stopped delivering frames."""


def one_line(text: object) -> str:
    """``text`` with control characters (newlines from a hostile key or path) escaped: one line, always."""
    import re

    return re.sub(r"[\x00-\x1f\x7f\x85\u2028\u2029]", lambda m: repr(m.group())[1:-1], str(text))
