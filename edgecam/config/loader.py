"""Load and check ``edgecam.toml``: TOML → validated :class:`Settings`, or one clear error per problem.

Every problem is reported as ``FILE:LINE: [section] key: problem; fix``. Relative paths in the
config resolve against the config file's directory. :func:`load_config` also runs the environment
checks of :mod:`edgecam.config.preflight`, so ``check`` and ``run`` validate exactly the same way.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from edgecam.config.locate import KeyPath, key_lines, line_of
from edgecam.config.plugins import CAMERA_SETTINGS
from edgecam.config.problems import Problem, problems_from
from edgecam.config.schema import Settings
from edgecam.errors import ConfigError, one_line
from edgecam.files import FileProblem, read_regular_file

log = logging.getLogger(__name__)

EXAMPLE_CONFIG = Path(__file__).with_name("example.toml")
MAX_CONFIG_BYTES = 1024 * 1024
_ADAPTER: TypeAdapter | None = None
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_path(path: KeyPath) -> str:
    """``("model", "size")`` → ``[model] size``; ``("zones", 1, "name")`` → ``[[zones]] #2 name``."""
    if not path:
        return "(top level)"
    head, rest = path[0], list(path[1:])
    if not _BARE_KEY.fullmatch(str(head)):
        head = json.dumps(str(head))
    is_array = typing.get_origin(typing.get_type_hints(Settings).get(str(head))) is tuple
    if not rest and is_array:
        return f"[[{head}]]"
    if rest and isinstance(rest[0], int):
        text = f"[[{head}]] #{rest.pop(0) + 1}"
    else:
        text = f"[{head}]"
    key = ""
    for part in rest:
        if isinstance(part, str) and not _BARE_KEY.fullmatch(part):
            part = json.dumps(part)  # a quoted TOML key, control characters escaped
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return f"{text} {key}" if key else text


def config_error(filename: str, text: str, problems: list[Problem]) -> ConfigError:
    """One :class:`ConfigError` for all ``problems``: its message is the first by line, ``.problems`` all."""
    lines = key_lines(text)
    located = []
    for p in problems:
        line = line_of(lines, p.path)
        where = f"{filename}:{line}" if line else filename
        located.append((line or 0, one_line(f"{where}: {format_path(p.path)}: {p.message}")))
    messages = [m for _, m in sorted(located, key=lambda t: t[0])]
    more = len(messages) - 1
    suffix = f" (+{more} more problem{'s' if more > 1 else ''}; edgecam check --config {filename} lists all)" if more else ""
    err = ConfigError(messages[0] + suffix)
    err.problems = messages  # type: ignore[attr-defined]
    return err


def _toml_error(filename: str, exc: tomllib.TOMLDecodeError) -> str:
    msg = str(exc)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    where = f"{filename}:{m.group(1)}:{m.group(2)}" if m else filename
    if m:
        msg = msg[: m.start()]
    msg = re.sub(r"\s*\(at end of document\)$", " at the end of the file", msg)
    return f"{where}: invalid TOML: {msg}; fix the syntax (text values need quotes, tables are written [name])"


def _problems_of(raw: dict[str, Any], base_dir: Path) -> tuple[Settings | None, list[Problem]]:
    """``raw`` validated: (settings, []) or (None, every schema problem)."""
    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(Settings)
    try:
        return _ADAPTER.validate_python(raw, context={"base_dir": str(base_dir)}), []
    except ValidationError as exc:
        return None, problems_from(exc, Settings, raw, CAMERA_SETTINGS)


def _validate(raw: dict[str, Any], filename: str, text: str, base_dir: Path) -> Settings:
    settings, problems = _problems_of(raw, base_dir)
    if settings is None:
        raise config_error(filename, text, problems)
    return settings


def _load_toml(text: str, filename: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(filename, exc)) from None
    except RecursionError:
        raise ConfigError(f"{filename}: invalid TOML: arrays or tables nested too deeply; flatten the value") from None


def parse_config(text: str, *, filename: str = "<config>", base_dir: str | os.PathLike | None = None) -> Settings:
    """Validate TOML ``text`` into :class:`Settings` (no environment checks); paths resolve against ``base_dir``."""
    return _validate(_load_toml(text, filename), filename, text, Path(base_dir) if base_dir is not None else Path.cwd())


_LABEL_KEYS = ("labels", "classes")


def preflight_beside(raw: dict[str, Any], base_dir: Path, schema: list[Problem]) -> list[Problem]:
    """The preflight problems of the sections that passed the schema, so one ``check`` lists both kinds.

    The failed sections are left out (their defaults stand in and their findings are dropped); with a
    broken ``[model]`` the label checks are dropped too (they need the model's classes)."""
    from edgecam.config.preflight import run_preflight

    failed = {p.path[0] for p in schema if p.path}
    if not all(p.path for p in schema):
        return []  # a problem of the file as a whole: nothing to check beside it
    settings, _ = _problems_of({k: v for k, v in raw.items() if k not in failed}, base_dir)
    if settings is None:  # a cross-section rule still fails: report the schema problems alone
        return []
    problems, _ = run_preflight(settings)
    return [p for p in problems
            if p.path[0] not in failed and not ("model" in failed and p.path[-1] in _LABEL_KEYS)]


def read_config_text(path: str | os.PathLike) -> str:
    """The config file's text; a missing, special, oversized or non-UTF-8 file is one ConfigError."""
    hint = f"copy the commented example {EXAMPLE_CONFIG} and check it with: edgecam check --config FILE"
    try:
        data = read_regular_file(path, "config file", MAX_CONFIG_BYTES)
    except FileProblem as exc:
        text = str(exc)
        if "no such file" in text:
            raise ConfigError(f"config file {os.fspath(path)} not found; {hint}") from None
        raise ConfigError(text) from None
    try:
        return data.decode("utf-8-sig")  # a UTF-8 byte order mark (Windows editors) is accepted
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{os.fspath(path)}:{line}: config file is not UTF-8 text; save it as UTF-8") from None


def load_config(path: str | os.PathLike, *, preflight: bool = True) -> Settings:
    """Read, validate and (``preflight``) check the config at ``path`` against this machine.

    Raises :class:`ConfigError` listing every problem; logs the warnings.
    """
    settings, warnings = load_checked(path, preflight=preflight)
    for line in warnings:
        log.warning("%s", line)
    return settings


def check_text(text: str, filename: str, base_dir: Path) -> tuple[Settings, list[str]]:
    """Validate ``text`` as if it were the config ``filename`` (schema and preflight, as ``check``):
    (settings, warnings), or ConfigError listing every problem."""
    from edgecam.config.preflight import run_preflight

    raw = _load_toml(text, filename)
    settings, problems = _problems_of(raw, base_dir)
    if settings is None:
        raise config_error(filename, text, problems + preflight_beside(raw, base_dir, problems))
    problems, warnings = run_preflight(settings)
    if problems:
        raise config_error(filename, text, problems)
    return settings, warnings


def load_checked(path: str | os.PathLike, *, preflight: bool = True) -> tuple[Settings, list[str]]:
    """:func:`load_config` returning the warnings instead of logging them.

    Every problem in one pass: schema problems and the preflight problems of the sections that are
    valid are raised together."""
    filename = os.fspath(path)
    text = read_config_text(path)
    base_dir = Path(filename).resolve().parent
    if preflight:
        return check_text(text, filename, base_dir)
    return _validate(_load_toml(text, filename), filename, text, base_dir), []
