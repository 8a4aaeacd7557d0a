"""The checks ``run`` needs beyond the file itself, shared by ``check`` and ``run``.

Each check looks at this machine without starting anything: the model resolves and is valid, every
configured label is one the model knows, the broker password is readable and never goes out in
plain text to another host, the TLS files load, the state directory can be written. Problems carry
a key path (so they get the config's line); warnings are valid-but-risky settings.
"""

from __future__ import annotations

import os
import ssl
import stat

from edgecam.config.problems import Problem
from edgecam.config.schema import Settings
from edgecam.errors import ConfigError, ModelError
from edgecam.fields import is_loopback
from edgecam.files import FileProblem, check_regular_file
from edgecam.publishers.mqtt.settings import PASSWORD_KEYS
from edgecam.secrets import resolve_secret


def _model(settings: Settings, problems: list[Problem]) -> None:
    from edgecam.bundles.resolver import resolve, validate

    try:
        bundle = resolve(settings.model.path)
        validate(bundle)
    except (ModelError, FileProblem, OSError) as exc:
        message = str(exc)
        if ";" not in message:
            message += "; give a known name, a bundle directory or a .param file"
        problems.append(Problem(("model", "path"), message))
        return
    known = set(bundle.manifest.classes)
    sample = ", ".join(bundle.manifest.classes[:5])
    named: list[tuple[tuple, tuple[str, ...]]] = [
        (("model", "classes"), settings.model.classes),
        (("tracking", "labels"), settings.tracking.labels),
        *((("zones", i, "labels"), z.labels) for i, z in enumerate(settings.zones)),
        *((("masks", i, "labels"), m.labels) for i, m in enumerate(settings.masks)),
        *((("filters", label), (label,)) for label in settings.filters.labels),
        *((("zones", i, "filters", label), (label,)) for i, z in enumerate(settings.zones) for label in z.filters.labels),
    ]
    for path, labels in named:
        unknown = [label for label in labels if label not in known]
        if unknown:
            problems.append(Problem(path, f"model {bundle.name} has no class {', '.join(map(repr, unknown))}; "
                                          f"use its class names (e.g. {sample}, …)"))
    _entity_ids(settings, bundle.manifest.classes, problems)


def _entity_ids(settings: Settings, classes, problems: list[Problem]) -> None:
    """Labels, zones and zone × label pairs that would share a Home Assistant id (one entity would vanish)."""
    if not (settings.mqtt.enabled and settings.homeassistant.discovery):
        return
    from edgecam.publishers.mqtt.entityids import id_collisions

    labels = tuple(settings.tracking.labels) or tuple(settings.model.classes) or tuple(classes)
    where = ("tracking", "labels") if settings.tracking.labels else ("model", "classes")
    index = {z.name: i for i, z in enumerate(settings.zones)}
    for message, zone in id_collisions(labels, [(z.name, z.labels) for z in settings.zones]):
        problems.append(Problem(("zones", index[zone], "name") if zone is not None else where, message))


def _password(settings: Settings, problems: list[Problem], warnings: list[str]) -> None:
    mqtt = settings.mqtt
    key = next((k for k in PASSWORD_KEYS if getattr(mqtt, k)), None)
    if key is None:
        return
    if not mqtt.tls and not mqtt.allow_plaintext_password and not is_loopback(mqtt.host):
        problems.append(Problem(("mqtt", key), f"refusing to send the password without TLS to {mqtt.host}; "
                                               "set tls = true (recommended) or allow_plaintext_password = true"))
    if key == "password_credential" and not os.environ.get("CREDENTIALS_DIRECTORY"):
        warnings.append(f"warning: [mqtt] password_credential {mqtt.password_credential!r} cannot be checked here: "
                        "$CREDENTIALS_DIRECTORY is unset (systemd sets it when it starts the service)")
        return
    try:
        resolve_secret(mqtt.password_file, mqtt.password_env, mqtt.password_credential, what="mqtt password")
    except ConfigError as exc:
        problems.append(Problem(("mqtt", key), str(exc)))
        return
    if mqtt.password_file:
        mode = os.stat(mqtt.password_file).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(f"warning: [mqtt] password_file {mqtt.password_file} is readable by other users "
                            f"(mode {stat.S_IMODE(mode):04o}); chmod 600 {mqtt.password_file}")


def _tls(settings: Settings, problems: list[Problem], warnings: list[str]) -> None:
    mqtt = settings.mqtt
    if not mqtt.tls:
        return
    if mqtt.tls_insecure:
        warnings.append("warning: [mqtt] tls_insecure = true: the broker's host name is not checked, so anyone "
                        "with a certificate from the same CA can pose as the broker; set it to false")
    for key in ("ca_file", "certfile", "keyfile"):
        path = getattr(mqtt, key)
        if path:
            try:
                check_regular_file(path, key)
            except FileProblem as exc:
                problems.append(Problem(("mqtt", key), str(exc)))
                return
    try:
        ctx = ssl.create_default_context(cafile=mqtt.ca_file) if mqtt.ca_file else ssl.create_default_context()
    except (ssl.SSLError, OSError, ValueError) as exc:
        problems.append(Problem(("mqtt", "ca_file"), f"{mqtt.ca_file} is not a usable PEM CA certificate ({exc}); "
                                                     "point it at the broker's CA certificate"))
        return
    if mqtt.certfile:
        try:
            ctx.load_cert_chain(mqtt.certfile, mqtt.keyfile)
        except (ssl.SSLError, OSError, ValueError) as exc:
            problems.append(Problem(("mqtt", "certfile"), f"{mqtt.certfile} / {mqtt.keyfile} cannot be loaded ({exc}); "
                                                          "they must be a matching PEM certificate and key"))


def _state_dir(settings: Settings, problems: list[Problem]) -> None:
    path = os.path.abspath(os.path.expanduser(settings.output.state_dir))
    where = ("output", "state_dir")
    probe = path
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    try:
        st = os.stat(probe)
    except OSError as exc:
        problems.append(Problem(where, f"{path}: {exc.strerror or exc}; use a directory this user can write"))
        return
    if not stat.S_ISDIR(st.st_mode):
        what = "is not a directory" if probe == path else f"cannot be created: {probe} is not a directory"
        problems.append(Problem(where, f"{path} {what}; point state_dir at a writable directory"))
    elif not os.access(probe, os.W_OK | os.X_OK):
        what = "is not writable" if probe == path else f"cannot be created: {probe} is not writable"
        problems.append(Problem(where, f"{path} {what} by this user; fix its owner/mode or choose another state_dir"))


def _camera(settings: Settings, problems: list[Problem], warnings: list[str]) -> None:
    cam = settings.camera
    if cam.source == "picamera2":  # what this Pi's camera stack would refuse, or round (nothing off a Pi)
        from edgecam.sources.pi_platform import configuration_notes, configuration_problems

        problems.extend(Problem(("camera", "format"), text) for text in configuration_problems(cam))
        warnings.extend(f"warning: {text}" for text in configuration_notes(cam))
    if cam.source == "images":
        from edgecam.sources.images import hold_problem, list_images

        if not list_images(cam.path):
            warnings.append(f"warning: [camera] path: {cam.path} matches no image files yet; "
                            "the daemon will retry until it does")
        held = hold_problem(cam, settings.tracking.min_hits)
        if held:
            warnings.append(f"warning: {held}")
    if cam.source == "opencv" and cam.path.startswith("/dev/") and not os.path.exists(cam.path):
        warnings.append(f"warning: [camera] path: {cam.path} does not exist yet; the daemon will retry until it does")


def run_preflight(settings: Settings) -> tuple[list[Problem], list[str]]:
    """Every problem ``run`` would hit before opening the camera or the broker, and the warnings."""
    problems: list[Problem] = []
    warnings: list[str] = []
    _model(settings, problems)
    if settings.mqtt.enabled:
        _password(settings, problems, warnings)
        _tls(settings, problems, warnings)
    _state_dir(settings, problems)
    _camera(settings, problems, warnings)
    return problems, warnings
