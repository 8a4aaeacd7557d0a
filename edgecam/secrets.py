"""Secrets (the MQTT password) from a file, an environment variable or a systemd credential.

Never put a password in the config file itself: point at a file (mode 0600), an environment
variable, or a systemd credential (``LoadCredential=``/``SetCredential=``, read from
``$CREDENTIALS_DIRECTORY/<name>``).
"""

from __future__ import annotations

import os
import re

from edgecam.errors import ConfigError
from edgecam.files import FileProblem, read_text_file

MAX_SECRET_BYTES = 64 * 1024
_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_.@:-]+$")


def _read_file(path: str, what: str, origin: str) -> str:
    try:
        text = read_text_file(path, f"{what} {origin}", MAX_SECRET_BYTES)
    except FileProblem as exc:
        problem = str(exc)
        if "no such file" in problem:
            problem = f"{what} {origin} {path} does not exist; create it (one line, mode 0600) or fix the setting"
        elif "permission denied" in problem:
            problem = (f"{what} {origin} {path} is not readable by this user; "
                       "fix its owner/mode (e.g. chmod 0600, chown edgecam)")
        elif "is a directory" in problem:
            problem = f"{what} {origin} {path} is a directory; point it at the file holding the secret"
        raise ConfigError(problem) from None
    value = text.rstrip("\r\n")
    if not value:
        raise ConfigError(f"{what} {origin} {path} is empty; write the secret into it")
    return value


def resolve_secret(
    value_file: str | None,
    env: str | None,
    credential: str | None,
    *,
    what: str = "secret",
) -> str | None:
    """Return the secret from the first source that is set, or None if none is set.

    Sources, in order: ``value_file`` (a path; its trailing newline is stripped), ``env`` (the name
    of an environment variable), ``credential`` (a systemd credential name, read from
    ``$CREDENTIALS_DIRECTORY/<credential>``). A source that is set but unavailable (missing file,
    unset variable, no credentials directory) raises :class:`ConfigError` naming it and the fix.
    ``what`` names the secret in messages, e.g. ``"mqtt password"``.
    """
    if value_file:
        return _read_file(os.path.expanduser(value_file), what, "file")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{what}: environment variable {env} is not set; export it or use a password file instead")
        if not value:
            raise ConfigError(f"{what}: environment variable {env} is empty; set it to the secret")
        return value
    if credential:
        if not _CREDENTIAL_NAME.match(credential) or credential in (".", ".."):
            raise ConfigError(f"{what}: credential name {credential!r} is invalid; use a plain name like mqtt_password")
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ConfigError(
                f"{what}: credential {credential!r} needs $CREDENTIALS_DIRECTORY, which is unset; run under systemd "
                f"with LoadCredential={credential}:/path/to/file, or use a password file instead"
            )
        return _read_file(os.path.join(directory, credential), what, "credential file")
    return None
