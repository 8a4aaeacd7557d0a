"""Lazily imported plugin registries: a name maps to ``"module:Attribute"``, imported on first use."""

from __future__ import annotations

import importlib


def load_plugin(registry: dict[str, str], kind: str, name: str) -> type:
    """Import and return the class registered as ``name``; KeyError naming the known ones otherwise."""
    try:
        target = registry[name]
    except KeyError:
        raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
