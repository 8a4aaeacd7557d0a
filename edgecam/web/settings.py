"""Settings of the ``[web]`` section: the live view's server, its password and its cost bounds.

A bind to anything but loopback needs a password (from a file, an environment variable or a systemd
credential, never the config file itself) or an explicit ``allow_unauthenticated = true``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from edgecam.errors import ConfigError

_PASSWORD_KEYS = ("password_file", "password_env", "password_credential")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); any other name is not."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebSettings:
    enabled: bool = field(default=True, metadata={"help": "serve the live view"})
    host: str = field(
        default="127.0.0.1",
        metadata={"help": "address to listen on (0.0.0.0 or :: for every interface: needs a password)"},
    )
    port: int = field(default=8080, metadata={"min": 0, "max": 65535, "help": "TCP port (0: any free port, logged)"})
    username: str = field(default="edgecam", metadata={"help": "user name asked for with the password (HTTP basic auth)"})
    password_file: str | None = field(default=None, metadata={"path": "file", "help": "file holding the password"})
    password_env: str | None = field(default=None, metadata={"help": "environment variable holding the password"})
    password_credential: str | None = field(
        default=None, metadata={"help": "systemd credential name ($CREDENTIALS_DIRECTORY/<name>) holding the password"}
    )
    allow_unauthenticated: bool = field(
        default=False, metadata={"help": "serve a non-loopback address without a password"}
    )
    stream_fps: float = field(
        default=5.0, metadata={"min": 0.1, "max": 30.0, "help": "at most this many JPEG frames per second (all viewers)"}
    )
    stream_width: int = field(default=640, metadata={"min": 32, "max": 4096, "help": "stream JPEG max width"})
    jpeg_quality: int = field(default=75, metadata={"min": 1, "max": 100, "help": "stream JPEG quality"})
    max_streams: int = field(default=3, metadata={"min": 1, "max": 16, "help": "concurrent live streams"})
    max_connections: int = field(
        default=16, metadata={"min": 2, "max": 256, "help": "concurrent HTTP connections (more are refused)"}
    )
    client_timeout_s: float = field(
        default=10.0,
        metadata={"min": 1.0, "max": 300.0, "help": "a client that sends or reads nothing for this long is dropped"},
    )
    events_kept: int = field(default=50, metadata={"min": 1, "max": 1000, "help": "recent events shown"})

    @property
    def password_source(self) -> str | None:
        return next((k for k in _PASSWORD_KEYS if getattr(self, k)), None)

    def password(self) -> str | None:
        """The password from its source, or None when none is set (ConfigError if it is unavailable)."""
        from edgecam.config.secrets import resolve_secret  # here: edgecam.config imports this module

        return resolve_secret(self.password_file, self.password_env, self.password_credential, what="the live view password")

    def validate(self) -> None:
        if not self.enabled:
            return
        sources = [k for k in _PASSWORD_KEYS if getattr(self, k)]
        if len(sources) > 1:
            raise ValueError(f"set only one of {', '.join(sources)}; the password must come from one place")
        if sources and self.allow_unauthenticated:
            raise ValueError(f"allow_unauthenticated = true contradicts {sources[0]}; remove one of them")
        if not sources and not self.allow_unauthenticated and not is_loopback(self.host):
            raise ValueError(
                f'host "{self.host}" is not loopback, so the live view needs a password: set password_file, '
                "password_env or password_credential, or allow_unauthenticated = true"
            )
        if sources[:1] == ["password_credential"] and not os.environ.get("CREDENTIALS_DIRECTORY"):
            return  # only systemd provides it; `check` outside the service cannot read it
        if sources:
            try:
                self.password()
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
