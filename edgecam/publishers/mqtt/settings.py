"""Settings of the ``[mqtt]`` and ``[homeassistant]`` config sections (CONTRACT §4).

Contract keys (``enabled``, ``host``, ``port``, ``prefix``; ``discovery``, ``prefix``) must stay.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edgecam.fields import Bool, ConfigPath, CredentialName, Float, Int, Str, is_loopback, settings

_TOPIC_PREFIX = r"^[^/+#\s]+(/[^/+#\s]+)*$"  # topic levels without wildcards or empty levels
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
PASSWORD_KEYS = ("password_file", "password_env", "password_credential")


def host_problem(host: str) -> str | None:
    """Why ``host`` is not a usable broker host name or address, or None."""
    if not host.strip():
        return "is empty; set the broker's host name or address, e.g. host = \"127.0.0.1\""
    try:
        ipaddress.ip_address(host.strip("[]") if host.startswith("[") else host)
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in name.split(".")):
        return f"{host!r} is not a host name or IP address; use e.g. \"broker.local\" or \"192.168.1.10\" (no scheme, no port)"
    return None


@settings
class MqttSettings:
    enabled: Bool = True
    host: Str = Field(default="127.0.0.1", max_length=255, description="broker host name or address")
    port: Int = Field(default=1883, ge=1, le=65535)
    prefix: Str = Field(default="edgecam", pattern=_TOPIC_PREFIX, max_length=512, description="topic prefix")
    protocol: Literal["3.1.1", "5"] = Field(default="3.1.1", description="MQTT protocol version")
    client_id: Str | None = Field(default=None, min_length=1, max_length=128,
                                  description="MQTT client id (default: edgecam-<camera>-<random>, unique per start)")
    keepalive: Int = Field(default=30, ge=5, le=3600, description="keepalive interval, seconds")
    qos_events: Int = Field(default=1, ge=0, le=2, description="QoS of the events topic")
    username: Str | None = Field(default=None, max_length=1024, description="broker user name")
    password_file: ConfigPath | None = Field(default=None, max_length=4096, description="file holding the broker password")
    password_env: Str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=255,
                                     description="environment variable holding the password")
    password_credential: CredentialName | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.@:-]+$", max_length=255,
        description="systemd credential name ($CREDENTIALS_DIRECTORY/<name>) holding the password",
    )
    allow_plaintext_password: Bool = Field(default=False,
                                           description="allow sending the password without TLS to a non-loopback host")
    tls: Bool = Field(default=False, description="connect with TLS")
    ca_file: ConfigPath | None = Field(default=None, max_length=4096,
                                       description="CA bundle to verify the broker (default: system CAs)")
    certfile: ConfigPath | None = Field(default=None, max_length=4096, description="client certificate (PEM) for mutual TLS")
    keyfile: ConfigPath | None = Field(default=None, max_length=4096, description="client private key (PEM) for mutual TLS")
    tls_insecure: Bool = Field(default=False,
                               description="skip the broker host name check (certificate chain is still verified)")
    reconnect_min_s: Float = Field(default=1.0, ge=0.1, le=3600.0, description="first reconnect delay")
    reconnect_max_s: Float = Field(default=30.0, ge=0.1, le=3600.0, description="reconnect delay cap")
    spool_max_messages: Int = Field(default=10000, ge=1, le=10_000_000,
                                    description="events kept on disk while offline (oldest dropped)")
    snapshot_width: Int = Field(default=640, ge=32, le=8192, description="snapshot JPEG max width")
    snapshot_quality: Int = Field(default=80, ge=1, le=100, description="snapshot JPEG quality")
    snapshot_interval_s: Float = Field(default=1.0, ge=0.0, le=3600.0,
                                       description="at most one snapshot per this many seconds")
    queue_size: Int = Field(default=64, ge=1, le=100000, description="frames buffered for the publisher thread")
    close_timeout_s: Float = Field(default=5.0, ge=0.0, le=600.0,
                                   description="how long close() waits for events to be acknowledged")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        problem = host_problem(value)
        if problem:
            raise ValueError(f"host {problem}")
        return value

    @model_validator(mode="after")
    def _combinations(self) -> "MqttSettings":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_min_s ({self.reconnect_min_s}); "
                "raise reconnect_max_s"
            )
        sources = [n for n in PASSWORD_KEYS if getattr(self, n)]
        if len(sources) > 1:
            raise ValueError(f"set only one of {', '.join(sources)}; the password must come from one place")
        if sources and not self.username:
            raise ValueError(f"{sources[0]} is set but username is not; set username too")
        if bool(self.certfile) != bool(self.keyfile):
            raise ValueError("certfile and keyfile go together; set both for client-certificate TLS or neither")
        if not self.tls and (self.ca_file or self.certfile or self.tls_insecure):
            raise ValueError("ca_file/certfile/keyfile/tls_insecure need tls = true; set tls = true or remove them")
        return self


@settings
class HomeAssistantSettings:
    discovery: Bool = True
    prefix: Str = Field(default="homeassistant", pattern=_TOPIC_PREFIX, max_length=512, description="discovery prefix")
    device_name: Str = Field(default="", max_length=255,
                             description="device name shown in Home Assistant (default: edgecam <id>)")
    status_topic: Str = Field(default="", max_length=512, description="Home Assistant birth topic (default: <prefix>/status)")

    @field_validator("status_topic")
    @classmethod
    def _status_topic(cls, value: str) -> str:
        if value and not re.fullmatch(_TOPIC_PREFIX, value):
            raise ValueError(f"status_topic {value!r} is not a topic without wildcards; e.g. \"homeassistant/status\"")
        return value

