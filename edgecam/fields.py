"""The building blocks every settings model uses: one pydantic config and strict value types.

Settings are pydantic v2 dataclasses (``dataclasses.replace`` and ``dataclasses.fields`` keep working and
re-validate): unknown keys are errors, values are frozen, NaN/inf are refused, and scalar values are
strict — TOML ``"640"`` is not an integer and ``1`` is not ``true`` (an integer is accepted for a float).
Relative paths resolve against the config file's directory, passed as the validation context
``{"base_dir": ...}`` by the loader (settings built in code keep their paths as given).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Strict, ValidationInfo
from pydantic.dataclasses import dataclass

SETTINGS_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=False)

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"  # ids and names used as one MQTT topic level


def _revalidate(self: Any) -> None:
    """Validate again (raises ``ValueError``); construction already validates, callers from before pydantic call this."""
    dataclasses.replace(self)


def settings(cls: type) -> type:
    """Decorator: a frozen pydantic dataclass with :data:`SETTINGS_CONFIG` (and ``validate()``)."""
    cls.validate = _revalidate  # type: ignore[attr-defined]
    return dataclass(frozen=True, config=SETTINGS_CONFIG)(cls)


def base_dir(info: ValidationInfo | None) -> str | None:
    """The config file's directory during loading, else None."""
    context: Any = info.context if info is not None else None
    return context.get("base_dir") if isinstance(context, dict) else None


def resolve_path(value: str, info: ValidationInfo) -> str:
    """``~`` expanded and a relative path joined to the config directory (when loading a file)."""
    if "\x00" in value:
        raise ValueError("the path contains a NUL byte; fix the path")
    base = base_dir(info)
    if not value or base is None:
        return value
    p = os.path.expanduser(value)
    return p if os.path.isabs(p) else os.path.join(base, p)


ConfigPath = Annotated[Str, AfterValidator(resolve_path)]


def is_loopback(host: str) -> bool:
    """True for this machine: ``localhost`` names and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
