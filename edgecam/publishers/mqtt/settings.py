"""Settings of the ``[mqtt]`` and ``[homeassistant]`` config sections (CONTRACT §4).

Contract keys (``enabled``, ``host``, ``port``, ``prefix``; ``discovery``, ``prefix``) must stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

_TOPIC_PREFIX = r"^[^/+#\s]+(/[^/+#\s]+)*$"  # topic levels without wildcards or empty levels


@dataclass(frozen=True)
class MqttSettings:
    enabled: bool = True
    host: str = field(default="127.0.0.1", metadata={"help": "broker host name or address"})
    port: int = field(default=1883, metadata={"min": 1, "max": 65535})
    prefix: str = field(default="edgecam", metadata={"help": "topic prefix", "pattern": _TOPIC_PREFIX})
    protocol: Literal["3.1.1", "5"] = field(default="3.1.1", metadata={"help": "MQTT protocol version"})
    client_id: str | None = field(
        default=None, metadata={"help": "MQTT client id (default: edgecam-<camera>-<random>, unique per start)"}
    )
    keepalive: int = field(default=30, metadata={"min": 5, "max": 3600, "help": "keepalive interval, seconds"})
    qos_events: int = field(default=1, metadata={"min": 0, "max": 2, "help": "QoS of the events topic"})
    username: str | None = field(default=None, metadata={"help": "broker user name"})
    password_file: str | None = field(default=None, metadata={"help": "file holding the broker password"})
    password_env: str | None = field(default=None, metadata={"help": "environment variable holding the password"})
    password_credential: str | None = field(
        default=None, metadata={"help": "systemd credential name ($CREDENTIALS_DIRECTORY/<name>) holding the password"}
    )
    allow_plaintext_password: bool = field(
        default=False, metadata={"help": "allow sending the password without TLS to a non-loopback host"}
    )
    tls: bool = field(default=False, metadata={"help": "connect with TLS"})
    ca_file: str | None = field(default=None, metadata={"help": "CA bundle to verify the broker (default: system CAs)"})
    certfile: str | None = field(default=None, metadata={"help": "client certificate (PEM) for mutual TLS"})
    keyfile: str | None = field(default=None, metadata={"help": "client private key (PEM) for mutual TLS"})
    tls_insecure: bool = field(
        default=False, metadata={"help": "skip the broker host name check (certificate chain is still verified)"}
    )
    reconnect_min_s: float = field(default=1.0, metadata={"min": 0.1, "max": 3600.0, "help": "first reconnect delay"})
    reconnect_max_s: float = field(default=30.0, metadata={"min": 0.1, "max": 3600.0, "help": "reconnect delay cap"})
    spool_max_messages: int = field(
        default=10000, metadata={"min": 1, "max": 10_000_000, "help": "events kept on disk while offline (oldest dropped)"}
    )
    snapshot_width: int = field(default=640, metadata={"min": 32, "max": 8192, "help": "snapshot JPEG max width"})
    snapshot_quality: int = field(default=80, metadata={"min": 1, "max": 100, "help": "snapshot JPEG quality"})
    snapshot_interval_s: float = field(
        default=1.0, metadata={"min": 0.0, "max": 3600.0, "help": "at most one snapshot per this many seconds"}
    )
    queue_size: int = field(
        default=64, metadata={"min": 1, "max": 100000, "help": "frames buffered for the publisher thread"}
    )
    close_timeout_s: float = field(
        default=5.0, metadata={"min": 0.0, "max": 600.0, "help": "how long close() waits for events to be acknowledged"}
    )

    def validate(self) -> None:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_min_s ({self.reconnect_min_s}); "
                "raise reconnect_max_s"
            )
        sources = [n for n in ("password_file", "password_env", "password_credential") if getattr(self, n)]
        if len(sources) > 1:
            raise ValueError(f"set only one of {', '.join(sources)}; the password must come from one place")
        if sources and not self.username:
            raise ValueError(f"{sources[0]} is set but username is not; set username too")
        if bool(self.certfile) != bool(self.keyfile):
            raise ValueError("certfile and keyfile go together; set both for client-certificate TLS or neither")
        if not self.tls and (self.ca_file or self.certfile or self.tls_insecure):
            raise ValueError("ca_file/certfile/keyfile/tls_insecure need tls = true; set tls = true or remove them")


@dataclass(frozen=True)
class HomeAssistantSettings:
    discovery: bool = True
    prefix: str = field(default="homeassistant", metadata={"help": "discovery prefix", "pattern": _TOPIC_PREFIX})
    device_name: str = field(default="", metadata={"help": "device name shown in Home Assistant (default: edgecam <id>)"})
    status_topic: str = field(
        default="", metadata={"help": "Home Assistant birth topic (default: <prefix>/status)"}
    )
