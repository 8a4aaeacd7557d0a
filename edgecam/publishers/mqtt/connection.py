"""Building the paho-mqtt client from settings: protocol, client id, last will, TLS, credentials.

Everything a user can get wrong here raises :class:`ConfigError` with one line naming the setting.
The password is never logged.
"""

from __future__ import annotations

import logging
import secrets
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgecam.errors import ConfigError
from edgecam.fields import is_loopback
from edgecam.publishers.mqtt.settings import MqttSettings
from edgecam.publishers.mqtt.topics import topic_level
from edgecam.secrets import resolve_secret

log = logging.getLogger(__name__)


class _QuietShutdown(logging.Filter):
    """paho 2.x logs "Client is not connected" at ERROR when its loop races a clean disconnect."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


_PAHO_LOG = logging.getLogger("edgecam.publishers.mqtt.paho")
_PAHO_FILTER = _QuietShutdown()


def default_client_id(camera_id: str) -> str:
    """A client id unique per start (two daemons must never share one: the broker would kick one)."""
    return f"edgecam-{topic_level(camera_id)}-{secrets.token_hex(4)}"



def resolve_password(settings: MqttSettings) -> str | None:
    """The broker password from ``password_file`` / ``password_env`` / ``password_credential`` (or None)."""
    password = resolve_secret(
        settings.password_file, settings.password_env, settings.password_credential, what="mqtt password"
    )
    if password is not None and not settings.username:
        raise ConfigError("mqtt: a password source is set but mqtt.username is not; set mqtt.username")
    if password is not None and not settings.tls and not settings.allow_plaintext_password and not is_loopback(settings.host):
        raise ConfigError(
            f"mqtt: refusing to send the password without TLS to {settings.host}; set mqtt.tls = true "
            "(recommended) or mqtt.allow_plaintext_password = true"
        )
    return password


def _tls_context(settings: MqttSettings) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else ssl.create_default_context()
    except FileNotFoundError:
        raise ConfigError(f"mqtt.ca_file {settings.ca_file} does not exist; point it at the broker's CA certificate") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"mqtt.ca_file {settings.ca_file} is not a usable PEM CA certificate ({exc}); fix the file") from None
    if settings.certfile:
        try:
            ctx.load_cert_chain(settings.certfile, settings.keyfile)
        except FileNotFoundError:
            raise ConfigError(
                f"mqtt.certfile {settings.certfile} or mqtt.keyfile {settings.keyfile} does not exist; fix the paths"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"mqtt.certfile/keyfile cannot be loaded ({exc}); they must be a matching PEM certificate and key"
            ) from None
    if settings.tls_insecure:
        ctx.check_hostname = False  # the chain is still verified
    return ctx


def build_client(
    settings: MqttSettings, client_id: str, will_topic: str, password: str | None
) -> mqtt.Client:
    """A configured, not yet connected paho client (callback API version 2)."""
    v5 = settings.protocol == "5"
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else True,
    )
    if _PAHO_FILTER not in _PAHO_LOG.filters:
        _PAHO_LOG.addFilter(_PAHO_FILTER)
    client.enable_logger(_PAHO_LOG)
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
    client.will_set(will_topic, b"offline", qos=1, retain=True)
    if settings.tls:
        client.tls_set_context(_tls_context(settings))
        if settings.tls_insecure:
            client.tls_insecure_set(True)
    if settings.username:
        client.username_pw_set(settings.username, password)
    return client


MAX_PACKET = 64 * 1024  # bytes: the largest packet an MQTT 5 broker may send us (commands are tiny)


def connect_async(client: mqtt.Client, settings: MqttSettings) -> None:
    """Start connecting in paho's network thread; it keeps retrying with capped backoff."""
    v5 = settings.protocol == "5"
    kwargs: dict = {}
    if v5:  # the broker must not send us anything larger (MQTT 5 CONNECT "Maximum Packet Size")
        props = Properties(PacketTypes.CONNECT)
        props.MaximumPacketSize = MAX_PACKET
        kwargs = {"clean_start": True, "properties": props}
    client.connect_async(settings.host, settings.port, settings.keepalive, **kwargs)
    client.loop_start()
