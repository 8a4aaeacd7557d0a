"""Load and check ``edgecam.toml``: TOML → typed, validated :class:`Settings`, or one clear error.

Every problem is reported as ``FILE:LINE: [section] key: problem; fix``. Relative paths in the
config resolve against the config file's directory.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from edgecam.config.locate import KeyPath, key_lines, line_of
from edgecam.config.schema import Settings
from edgecam.config.secrets import resolve_secret
from edgecam.config.validate import Builder, Problem, type_hints
from edgecam.errors import ConfigError

log = logging.getLogger(__name__)

EXAMPLE_CONFIG = Path(__file__).with_name("example.toml")

# (section, key) of plain file paths resolved against the config directory.
FILE_KEYS: frozenset[tuple[str, str]] = frozenset(
    {
        ("mqtt", "password_file"),
        ("mqtt", "ca_file"),
        ("mqtt", "certfile"),
        ("mqtt", "keyfile"),
        ("output", "state_dir"),
    }
)
_PASSWORD_KEYS = ("password_file", "password_env", "password_credential")


def format_path(path: KeyPath) -> str:
    """``("model", "size")`` → ``[model] size``; ``("zones", 1, "name")`` → ``[[zones]] #2 name``."""
    if not path:
        return "(top level)"
    head, rest = path[0], list(path[1:])
    if not rest and typing.get_origin(type_hints(Settings).get(str(head))) is tuple:
        return f"[[{head}]]"
    if rest and isinstance(rest[0], int):
        text = f"[[{head}]] #{rest.pop(0) + 1}"
    else:
        text = f"[{head}]"
    key = ""
    for part in rest:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return f"{text} {key}" if key else text


def _format(filename: str, lines: dict[KeyPath, int], problem: Problem) -> tuple[int, str]:
    line = line_of(lines, problem.path)
    where = f"{filename}:{line}" if line else filename
    return (line or 0), f"{where}: {format_path(problem.path)}: {problem.message}"


def _raise(filename: str, text: str, problems: list[Problem]) -> None:
    lines = key_lines(text)
    formatted = sorted((_format(filename, lines, p) for p in problems), key=lambda t: t[0])
    messages = [m for _, m in formatted]
    more = len(messages) - 1
    suffix = f" (+{more} more problem{'s' if more > 1 else ''}; edgecam check --config {filename} lists all)" if more else ""
    err = ConfigError(messages[0] + suffix)
    err.problems = messages  # type: ignore[attr-defined]
    raise err


# -- relative paths --------------------------------------------------------------------------
def _resolve(base: Path, value: str) -> str:
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else base / p)


def _camera_path_is_file(source: Any, value: str) -> bool:
    if source == "picamera2":
        return False  # a camera number, not a path
    if source == "opencv":
        return not (value.strip().isdigit() or "://" in value)
    return True


def _model_ref_is_path(base: Path, value: str) -> bool:
    return "/" in value or value.endswith(".param") or (base / os.path.expanduser(value)).exists()


def resolve_relative_paths(raw: dict[str, Any], base: Path) -> None:
    """Rewrite relative path values in the raw TOML data (in place) against ``base``."""
    camera = raw.get("camera")
    if isinstance(camera, dict):
        value = camera.get("path")
        source = camera.get("source", "picamera2")
        if isinstance(value, str) and value and _camera_path_is_file(source, value):
            camera["path"] = _resolve(base, value)
    model = raw.get("model")
    if isinstance(model, dict):
        value = model.get("path")
        if isinstance(value, str) and value and _model_ref_is_path(base, value):
            model["path"] = _resolve(base, value)
    for section_name, section in raw.items():
        if not isinstance(section, dict):
            continue
        for key, value in section.items():
            if isinstance(value, str) and value and _is_file_key(section_name, key):
                section[key] = _resolve(base, value)


def _is_file_key(section: str, key: str) -> bool:
    if (section, key) in FILE_KEYS:
        return True
    cls = _section_class(section)
    if cls is None:
        return False
    for f in dataclasses.fields(cls):
        if f.name == key:
            return f.metadata.get("path") == "file"
    return False


def _section_class(section: str) -> type | None:
    tp = type_hints(Settings).get(section)
    return tp if tp is not None and dataclasses.is_dataclass(tp) else None


def camera_warnings(settings: Settings) -> list[str]:
    """Things that are valid but probably wrong (the daemon would keep retrying the source)."""
    cam = settings.camera
    if cam.source == "images":
        from edgecam.sources.images import list_images

        if not list_images(cam.path):
            return [f"warning: [camera] path: {cam.path} matches no image files yet; the daemon will retry until it does"]
    if cam.source == "opencv" and cam.path.startswith("/dev/") and not os.path.exists(cam.path):
        return [f"warning: [camera] path: {cam.path} does not exist yet; the daemon will retry until it does"]
    return []


# -- secrets ---------------------------------------------------------------------------------
def _check_secrets(settings: Settings, problems: list[Problem]) -> None:
    mqtt = settings.mqtt
    if not getattr(mqtt, "enabled", True):
        return
    values = {k: getattr(mqtt, k, None) for k in _PASSWORD_KEYS}
    key = next((k for k, v in values.items() if v), None)
    if key is None:
        return
    if key == "password_credential" and not os.environ.get("CREDENTIALS_DIRECTORY"):
        log.warning(
            "mqtt.password_credential %r cannot be checked here: $CREDENTIALS_DIRECTORY is unset "
            "(it is set when systemd starts the service)",
            values[key],
        )
        return
    try:
        resolve_secret(values["password_file"], values["password_env"], values["password_credential"], what="mqtt password")
    except ConfigError as exc:
        problems.append(Problem(("mqtt", key), str(exc)))


# -- entry points ----------------------------------------------------------------------------
def parse_config(text: str, *, filename: str = "<config>", base_dir: str | os.PathLike | None = None) -> Settings:
    """Validate TOML ``text`` into :class:`Settings`; relative paths resolve against ``base_dir``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(filename, exc)) from None
    resolve_relative_paths(raw, Path(base_dir) if base_dir is not None else Path.cwd())
    builder = Builder()
    settings = builder.build(Settings, raw, ())
    problems = list(builder.problems)
    if not problems:
        _check_secrets(settings, problems)
    if problems:
        _raise(filename, text, problems)
    return settings


def _toml_error(filename: str, exc: tomllib.TOMLDecodeError) -> str:
    msg = str(exc)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    where = f"{filename}:{m.group(1)}:{m.group(2)}" if m else filename
    if m:
        msg = msg[: m.start()]
    msg = re.sub(r"\s*\(at end of document\)$", " at the end of the file", msg)
    return f"{where}: invalid TOML: {msg}; fix the syntax (text values need quotes, tables are written [name])"


def read_config_text(path: str | os.PathLike) -> str:
    p = Path(path)
    hint = f"copy the commented example {EXAMPLE_CONFIG} and check it with: edgecam check --config FILE"
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; {hint}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; pass the .toml file itself ({hint})") from None
    except PermissionError:
        raise ConfigError(f"config file {path} is not readable by this user; fix its permissions") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: config file is not UTF-8 text; save it as UTF-8") from None


def load_config(path: str | os.PathLike) -> Settings:
    """Read, parse and validate the config at ``path``; raise :class:`ConfigError` on any problem."""
    text = read_config_text(path)
    return parse_config(text, filename=str(path), base_dir=Path(path).resolve().parent)


def check_config(path: str | os.PathLike) -> list[str]:
    """Validate ``path`` and return human-readable summary lines (raises ConfigError if invalid)."""
    settings = load_config(path)
    return [f"{path}: OK"] + summarize(settings) + camera_warnings(settings)


_ALWAYS_SHOWN = {
    "camera": ("id", "source", "path", "fps"),
    "model": ("path", "size", "threads", "conf"),
    "mqtt": ("enabled", "host", "port", "prefix"),
    "homeassistant": ("discovery", "prefix"),
    "output": ("stdout", "state_dir"),
}


def summarize(settings: Settings) -> list[str]:
    """One line per section: the contract keys plus every value that differs from its default."""
    out: list[str] = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, tuple):
            names = [getattr(v, "name", "") for v in value]
            listed = f" ({', '.join(n for n in names if n)})" if any(names) else ""
            out.append(f"[[{f.name}]] {len(value)} defined{listed}")
            continue
        shown = []
        defaults = type(value)()
        for sub in dataclasses.fields(value):
            v = getattr(value, sub.name)
            if sub.name in _ALWAYS_SHOWN.get(f.name, ()) or v != getattr(defaults, sub.name):
                text = "***" if sub.metadata.get("secret") else repr(v)
                shown.append(f"{sub.name}={text}")
        out.append(f"[{f.name}] " + (" ".join(shown) if shown else "(defaults)"))
    return out
