"""Settings of the ``[web]`` section: the live view's server, its password and its cost bounds.

A bind to anything but loopback needs a password (from a file, an environment variable or a systemd
credential, never the config file itself) or an explicit ``allow_unauthenticated = true``.
"""

from __future__ import annotations

import os

from pydantic import Field, model_validator

from edgecam.errors import ConfigError
from edgecam.fields import BasicAuthUser, Bool, ConfigPath, CredentialName, Float, Int, Str, is_loopback, settings
from edgecam.secrets import resolve_secret

_PASSWORD_KEYS = ("password_file", "password_env", "password_credential")



@settings
class WebSettings:
    enabled: Bool = Field(default=True, description="serve the live view")
    host: Str = Field(default="127.0.0.1", min_length=1, max_length=255,
                      description="address to listen on (0.0.0.0 or :: for every interface: needs a password)")
    port: Int = Field(default=8080, ge=0, le=65535, description="TCP port (0: any free port, logged)")
    username: BasicAuthUser = Field(default="edgecam", min_length=1, max_length=255,
                          description="user name asked for with the password (HTTP basic auth)")
    password_file: ConfigPath | None = Field(default=None, max_length=4096, description="file holding the password")
    password_env: Str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=255,
                                     description="environment variable holding the password")
    password_credential: CredentialName | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.@:-]+$", max_length=255,
        description="systemd credential name ($CREDENTIALS_DIRECTORY/<name>) holding the password",
    )
    allow_unauthenticated: Bool = Field(default=False, description="serve a non-loopback address without a password")
    stream_fps: Float = Field(default=5.0, ge=0.1, le=30.0, description="at most this many JPEG frames per second (all viewers)")
    stream_width: Int = Field(default=640, ge=32, le=4096, description="stream JPEG max width")
    jpeg_quality: Int = Field(default=75, ge=1, le=100, description="stream JPEG quality")
    max_streams: Int = Field(default=3, ge=1, le=16, description="concurrent live streams")
    max_connections: Int = Field(default=16, ge=2, le=256, description="concurrent HTTP connections (more are refused)")
    max_connections_per_address: Int = Field(
        default=8, ge=1, le=256, description="concurrent HTTP connections from one client address (more are refused)")
    head_timeout_s: Float = Field(default=5.0, ge=0.5, le=60.0,
                                  description="a request's line and headers must arrive within this time")
    client_timeout_s: Float = Field(default=10.0, ge=1.0, le=300.0,
                                    description="a client that sends or reads nothing for this long is dropped")
    public_url: Str | None = Field(
        default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=2048,
        description="the live view's address as others reach it (https://cam.example/edgecam): MQTT events name "
                    "their snapshot and clip with absolute URLs under it",
    )
    events_kept: Int = Field(default=50, ge=1, le=1000, description="recent events shown")

    @property
    def password_source(self) -> str | None:
        return next((k for k in _PASSWORD_KEYS if getattr(self, k)), None)

    def password(self) -> str | None:
        """The password from its source, or None when none is set (ConfigError if it is unavailable)."""
        return resolve_secret(self.password_file, self.password_env, self.password_credential, what="the live view password")

    @model_validator(mode="after")
    def _auth(self) -> "WebSettings":
        if not self.enabled:
            return self
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
            return self  # only systemd provides it; `check` outside the service cannot read it
        if sources:
            try:
                self.password()
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self
