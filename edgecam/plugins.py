"""Plugin registries: one registration per plugin — its kind, its settings model, the class built from them.

Each seam (``sources/base.py``, ``detectors/base.py``, ``publishers/base.py``) lists its plugins in one
:class:`Registry`; the config composes its settings union from it and the app builds every plugin through
it.  Both halves of a registration are ``"module:Attribute"`` strings imported on first use: the settings
model (pydantic only, what ``edgecam check`` needs) and the implementation (which may import ncnn, cv2
or paho).  An implementation declares the same ``kind`` and builds itself with ``from_settings``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Iterator


def _load(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Plugin:
    kind: str
    implementation: str  # "module:Class" with ``kind`` and ``from_settings``
    settings: str | None = None  # "module:Model" of the plugin's own config section
    sections: tuple[str, ...] = ()  # publishers: the config sections handed to ``from_settings``, in order
    switch: str = ""  # publishers: "section.key" of the bool that turns the plugin on

    def load(self) -> type:
        """The implementation class (imports its module, and whatever heavy library it needs)."""
        return _load(self.implementation)

    def settings_model(self) -> type:
        if self.settings is None:
            raise LookupError(f"plugin {self.kind!r} registers no settings model of its own")
        return _load(self.settings)


class Registry:
    """The plugins of one seam, in registration order, found by kind."""

    def __init__(self, family: str, *plugins: Plugin) -> None:
        self.family = family
        self._plugins = {p.kind: p for p in plugins}
        if len(self._plugins) != len(plugins):
            raise ValueError(f"a {family} kind is registered twice")

    def __getitem__(self, kind: str) -> Plugin:
        try:
            return self._plugins[kind]
        except KeyError:
            raise KeyError(f"unknown {self.family} {kind!r}; known: {', '.join(sorted(self._plugins))}") from None

    def __iter__(self) -> Iterator[Plugin]:
        return iter(self._plugins.values())

    def kinds(self) -> tuple[str, ...]:
        return tuple(self._plugins)

    def load(self, kind: str) -> type:
        return self[kind].load()

    def settings_models(self) -> dict[str, type]:
        """kind → settings model of every plugin that registers one (imports only the settings modules)."""
        return {p.kind: p.settings_model() for p in self if p.settings is not None}
