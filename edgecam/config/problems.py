"""pydantic's validation errors → :class:`Problem` (a TOML key path + one line naming the fix).

Keeps the wording users know (``expected an integer, got a string ("640"); write 640 without quotes``),
drops the union tag pydantic puts in the location of ``[camera]`` errors, and points an error a
cross-field validator raises at the first key of the table its message names.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from edgecam.config.locate import KeyPath
from edgecam.redact import redact_url


@dataclass(frozen=True)
class Problem:
    path: KeyPath
    message: str


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        value = redact_url(value)
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string ("{shown}")'
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _example(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return "..."
    text = f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unquote_hint(kind: type, value: Any) -> str:
    """A fix hint for the common mistake of quoting a number or boolean."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if len(text) > 40:
        return ""
    if kind is bool:
        return f"; write {text.lower()} without quotes" if text.lower() in ("true", "false") else ""
    try:
        kind(text)
    except ValueError:
        return ""
    return f"; write {text} without quotes"


def _choices(expected: str) -> list[Any]:
    """pydantic's ``'a', 'b' or 'c'`` back into values."""
    try:
        return list(ast.literal_eval("[" + re.sub(r" or (?=['\"\d])", ", ", expected) + "]"))
    except (ValueError, SyntaxError):
        return []


def _one_of(choices: list[Any], value: Any) -> str:
    listed = ", ".join(repr(c) for c in choices)
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"must be one of {listed}, got {describe(value)}{hint}"


def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True) if dataclasses.is_dataclass(cls) else {}


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return _strip(args[0])
    return tp


def _walk(root: type, loc: tuple, tags: dict[str, type]) -> tuple[KeyPath, Any]:
    """Strip union tags from ``loc``; return the key path and the type the path's parent holds."""
    path: list[str | int] = []
    tp: Any = root
    parent: Any = None
    items = list(loc)
    while items:
        part = items.pop(0)
        tp = _strip(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and part in tags:
            tp = tags[part]
            continue
        parent = tp
        if getattr(tp, "__flattened__", None) == part:  # e.g. [filters.person] is kept in FilterSettings.labels
            tp = _strip(_hints(tp).get(part))
            if items:
                part = items.pop(0)
            tp = typing.get_args(tp)[1] if typing.get_origin(tp) is dict and len(typing.get_args(tp)) == 2 else None
            path.append(part)
            continue
        path.append(part)
        if isinstance(part, int) and typing.get_origin(tp) is tuple:
            args = typing.get_args(tp)
            tp = args[0] if len(args) == 2 and args[1] is Ellipsis else (args[part] if part < len(args) else None)
        elif isinstance(part, str):
            tp = _hints(tp).get(part)
        else:
            tp = None
    return tuple(path), _strip(parent) if parent is not None else None


def _data_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _unknown_key(key: str, table: Any, data: Any, tags: dict[str, type]) -> str:
    shown = key if len(key) <= 40 else key[:37] + "..."
    known = [f.name for f in dataclasses.fields(table)] if dataclasses.is_dataclass(table) else []
    source = data.get("source") if isinstance(data, dict) else None
    if table in tags.values():  # a key of another camera source?
        owners = [name for name, cls in tags.items() if key in {f.name for f in dataclasses.fields(cls)}]
        if owners:
            return (f"unknown key '{shown}' for source = \"{source or 'picamera2'}\"; it is a key of source = "
                    + " / ".join(f'"{o}"' for o in owners) + ": remove it or change source")
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"unknown key '{shown}'; " + (f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(known))


def _message(err: dict, value: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in ("int_type", "int_parsing", "int_from_float"):
        integral = isinstance(value, float) and value.is_integer() and abs(value) < 1e15
        hint = f"; write {int(value)}" if integral else _unquote_hint(int, value)
        return f"expected an integer, got {describe(value)}{hint}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {describe(value)}{_unquote_hint(float, value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {describe(value)}{_unquote_hint(bool, value)}"
    if kind == "string_type":
        hint = f'; put it in quotes: "{_example(value)}"' if isinstance(value, (int, float)) else ""
        return f"expected a string, got {describe(value)}{hint}"
    if kind in ("tuple_type", "list_type"):
        return f"expected an array, got {describe(value)}; write [{_example(value)}]"
    if kind in ("dataclass_type", "dataclass_args_type", "dict_type", "model_type", "union_tag_not_found"):
        return f"expected a table, got {describe(value)}"
    if kind == "literal_error":
        return _one_of(_choices(str(ctx.get("expected", ""))), value)
    if kind == "finite_number":
        return f"must be a finite number, got {value}"
    bounds = {"greater_than_equal": ("≥", "ge"), "less_than_equal": ("≤", "le"),
              "greater_than": (">", "gt"), "less_than": ("<", "lt")}
    if kind in bounds:
        sign, key = bounds[kind]
        return f"must be {sign} {ctx.get(key)}, got {value}"
    if kind == "too_short" or kind == "too_long":
        if kind == "too_long" and ctx.get("max_length", 0) > 2:
            return f"has too many items ({ctx.get('actual_length')}); at most {ctx.get('max_length')} are allowed"
        return f"expected an array of {ctx.get('min_length', ctx.get('max_length'))} items, got {ctx.get('actual_length')}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long ({len(value)} characters); at most {ctx.get('max_length')} are allowed"
    if kind == "string_pattern_mismatch":
        value = redact_url(value)
        value = value if len(value) <= 80 else value[:77] + "..."
        return f"'{value}' does not match the pattern {ctx.get('pattern')}"
    if kind in ("value_error", "assertion_error"):  # a validator's own message may quote the value
        return redact_url(str(ctx.get("error", err["msg"])))
    if kind == "missing":
        return f"missing required key '{err['loc'][-1]}'"
    return f"{err['msg']}; fix the value"


def problems_from(exc: ValidationError, root: type, data: Any, tags: dict[str, type]) -> list[Problem]:
    """One :class:`Problem` per error in ``exc`` (``data`` is what was validated, for blame and hints)."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        path, parent = _walk(root, tuple(err["loc"]), tags)
        value = err.get("input")
        kind = err["type"]
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            message = _unknown_key(str(path[-1]), parent, _data_at(data, path[:-1]), tags)
        elif kind == "union_tag_invalid":
            value = value.get("source") if isinstance(value, dict) else value
            path = path + ("source",)
            message = _one_of(list(tags), value)
        else:
            message = _message(err, value)
            table = _data_at(data, path)
            if kind == "value_error" and isinstance(table, dict):  # a cross-field check: blame the key it names
                key = next((w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", message) if w in table), None)
                path = path + (key,) if key else path
        out.append(Problem(path, message))
    return out
