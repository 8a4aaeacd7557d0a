"""Build settings dataclasses from parsed TOML, generically, by walking their type hints.

Supported field types (the settings convention): bool, int, float, str, ``Literal[...]``,
``tuple[T, ...]`` and fixed ``tuple[A, B]``, ``X | None``, nested settings dataclasses and tuples of
them. Field metadata may carry ``min``, ``max``, ``exclusive_min``, ``exclusive_max``, ``pattern``.
A dataclass's optional ``validate()`` runs after its fields are valid; its ValueError becomes a
problem at the table (or at the field its message starts with).

Every problem is collected (not only the first) as a :class:`Problem` with its key path.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Union

from edgecam.config.locate import KeyPath

_INVALID = object()  # marker: the value had a problem, already recorded


@dataclass(frozen=True)
class Problem:
    path: KeyPath
    message: str


@lru_cache(maxsize=None)
def type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "an array"
    if dataclasses.is_dataclass(tp):
        return "a table"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string ("{shown}")'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _quote_hint(tp: Any, value: Any) -> str:
    """A fix hint for the common mistake of quoting a number or boolean."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if tp is bool and text.lower() in ("true", "false"):
        return f"; write {text.lower()} without quotes"
    if tp in (int, float):
        try:
            float(text) if tp is float else int(text)
        except ValueError:
            return ""
        return f"; write {text} without quotes"
    return ""


class Builder:
    """Converts plain TOML data into settings dataclasses, collecting problems."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: KeyPath, message: str) -> object:
        self.problems.append(Problem(path, message))
        return _INVALID

    # -- dataclasses ---------------------------------------------------------------------------
    def build(self, cls: type, data: Any, path: KeyPath) -> Any:
        if not isinstance(data, dict):
            return self.fail(path, f"expected a table, got {_describe(data)}")
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        ok = True
        for key in data:
            if key not in fields:
                ok = False
                close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(fields)
                self.fail(path + (key,), f"unknown key '{key}'; {hint}")
        hints = type_hints(cls)
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            if name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    ok = False
                    self.fail(path + (name,), f"missing required key '{name}'")
                continue
            value = self.convert(hints[name], data[name], path + (name,), f.metadata)
            if value is _INVALID:
                ok = False
            else:
                kwargs[name] = value
        if not ok:
            return _INVALID
        try:
            obj = cls(**kwargs)
            validate = getattr(obj, "validate", None)
            if callable(validate):
                validate()
        except ValueError as exc:
            return self.fail(self._blame(path, str(exc), data), str(exc))
        return obj

    @staticmethod
    def _blame(path: KeyPath, message: str, data: dict) -> KeyPath:
        """Point a validate() error at the first key of the table its message names, if any."""
        for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", message):
            if m.group(0) in data:
                return path + (m.group(0),)
        return path

    # -- values --------------------------------------------------------------------------------
    def convert(self, tp: Any, value: Any, path: KeyPath, meta: typing.Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if origin in (Union, types.UnionType):
            return self._union(tp, value, path, meta)
        if origin is Literal:
            return self._literal(tp, value, path)
        if origin is tuple:
            return self._tuple(tp, value, path, meta)
        if dataclasses.is_dataclass(tp):
            return self.build(tp, value, path)
        if tp is bool:
            if not isinstance(value, bool):
                return self.fail(path, f"expected true or false, got {_describe(value)}{_quote_hint(tp, value)}")
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                hint = _quote_hint(tp, value)
                if isinstance(value, float) and value.is_integer():
                    hint = f"; write {int(value)}"
                return self.fail(path, f"expected an integer, got {_describe(value)}{hint}")
            return self._range(value, path, meta)
        if tp is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self.fail(path, f"expected a number, got {_describe(value)}{_quote_hint(tp, value)}")
            if not math.isfinite(value):
                return self.fail(path, f"must be a finite number, got {value}")
            return self._range(float(value), path, meta)
        if tp is str:
            if not isinstance(value, str):
                hint = f'; put it in quotes: "{_example(value)}"' if isinstance(value, (int, float)) else ""
                return self.fail(path, f"expected a string, got {_describe(value)}{hint}")
            pattern = meta.get("pattern")
            if pattern and not re.fullmatch(pattern, value):
                return self.fail(path, f"'{value}' does not match the pattern {pattern}")
            return value
        raise TypeError(f"settings field {'.'.join(map(str, path))} has unsupported type {tp!r}")

    def _union(self, tp: Any, value: Any, path: KeyPath, meta: typing.Mapping[str, Any]) -> Any:
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(arms) == 1:
            return self.convert(arms[0], value, path, meta)
        for arm in arms:
            trial = Builder()
            result = trial.convert(arm, value, path, meta)
            if result is not _INVALID:
                return result
        return self.fail(path, f"expected {_type_name(tp)}, got {_describe(value)}")

    def _literal(self, tp: Any, value: Any, path: KeyPath) -> Any:
        choices = typing.get_args(tp)
        for choice in choices:
            if type(choice) is type(value) and choice == value:
                return value
        listed = ", ".join(repr(c) for c in choices)
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)], n=1)
            if close:
                hint = f"; did you mean '{close[0]}'?"
        return self.fail(path, f"must be one of {listed}, got {_describe(value)}{hint}")

    def _tuple(self, tp: Any, value: Any, path: KeyPath, meta: typing.Mapping[str, Any]) -> Any:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            return self.fail(path, f"expected an array, got {_describe(value)}; write [{_example(value)}]")
        if len(args) == 2 and args[1] is Ellipsis:
            item_types = [args[0]] * len(value)
        else:
            if len(value) != len(args):
                return self.fail(path, f"expected an array of {len(args)} items, got {len(value)}")
            item_types = list(args)
        items = [self.convert(t, v, path + (i,), meta) for i, (t, v) in enumerate(zip(item_types, value))]
        if any(item is _INVALID for item in items):
            return _INVALID
        return tuple(items)

    def _range(self, value: int | float, path: KeyPath, meta: typing.Mapping[str, Any]) -> Any:
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None:
            if meta.get("exclusive_min") and not value > lo:
                return self.fail(path, f"must be > {lo}, got {value}")
            if value < lo:
                return self.fail(path, f"must be ≥ {lo}, got {value}")
        if hi is not None:
            if meta.get("exclusive_max") and not value < hi:
                return self.fail(path, f"must be < {hi}, got {value}")
            if value > hi:
                return self.fail(path, f"must be ≤ {hi}, got {value}")
        return value


def _example(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def supported(cls: type, _seen: frozenset = frozenset()) -> list[str]:
    """Names of fields in ``cls`` (recursively) whose types the builder cannot handle."""
    bad: list[str] = []

    def check(tp: Any, where: str) -> None:
        origin = typing.get_origin(tp)
        if tp in (bool, int, float, str) or origin is Literal:
            return
        if origin in (Union, types.UnionType) or origin is tuple:
            for arg in typing.get_args(tp):
                if arg is not type(None) and arg is not Ellipsis:
                    check(arg, where)
            return
        if dataclasses.is_dataclass(tp):
            if tp not in _seen:
                bad.extend(supported(tp, _seen | {tp}))
            return
        bad.append(f"{where}: {tp!r}")

    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        check(hints[f.name], f"{cls.__name__}.{f.name}")
    return bad
