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


def credential_name(value: str) -> str:
    """A systemd credential name is a plain file name in ``$CREDENTIALS_DIRECTORY``: not ``.``/``..``."""
    if value in (".", ".."):
        raise ValueError(f"{value!r} is not a credential name (it names a directory); use a plain name like "
                         "web_password, as in LoadCredential=web_password:/path/to/file")
    return value


def basic_auth_user(value: str) -> str:
    """A user name HTTP basic auth can carry: no ``:`` (it ends the user name) and no control characters."""
    if ":" in value:
        raise ValueError(f"{value!r} contains ':', which HTTP basic auth cannot carry in a user name; "
                         "pick a name without ':'")
    if not value.isprintable():
        raise ValueError("the user name contains control characters; pick a plain name")
    return value


CredentialName = Annotated[Str, AfterValidator(credential_name)]
BasicAuthUser = Annotated[Str, AfterValidator(basic_auth_user)]


def is_loopback(host: str) -> bool:
    """True for this machine: ``localhost`` names and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
