"""The config's side of the plugin registries: a seam's settings models as one validated section.

``[camera]`` is the model of its ``source`` and ``[model]`` the model of its ``backend``; the models and
their kinds come from the seam's registry (``sources/base.py``, ``detectors/base.py``), so a plugin is
registered once and the config follows.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag

from edgecam.detectors.base import DETECTORS
from edgecam.plugins import Registry
from edgecam.sources.base import SOURCES


def settings_union(registry: Registry, key: str) -> Any:
    """The registry's settings models as one type, chosen by ``key`` (the first kind when it is unset)."""
    models = registry.settings_models()
    if len(models) == 1:
        return next(iter(models.values()))
    default = registry.kinds()[0]

    def kind_of(value: Any) -> Any:
        if isinstance(value, dict):
            return value.get(key, default)
        return getattr(value, key, None)

    return Annotated[Union[tuple(Annotated[m, Tag(k)] for k, m in models.items())], Discriminator(kind_of)]


def default_model(registry: Registry) -> type:
    """The settings model of the registry's first (default) kind."""
    return registry[registry.kinds()[0]].settings_model()


CAMERA_SETTINGS: dict[str, type] = SOURCES.settings_models()  # source → its [camera] model
AnyCameraSettings = settings_union(SOURCES, "source")
"""``[camera]`` as it is validated: the model of its ``source`` (picamera2 when unset)."""
AnyDetectorSettings = settings_union(DETECTORS, "backend")
"""``[model]`` as it is validated: the model of its ``backend``."""
