"""The detector seam: a Protocol and a registry of lazily imported backends."""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

import numpy as np

from edgecam.domain import Inference, PixelFormat


@runtime_checkable
class Detector(Protocol):
    name: str
    class_names: tuple[str, ...]

    def detect(self, image: np.ndarray, pixel_format: PixelFormat = "RGB", conf: float | None = None) -> Inference:
        """Detect objects in an H×W×3 uint8 image; boxes in the image's own pixels."""

    def close(self) -> None:
        """Release the network."""


REGISTRY: dict[str, str] = {
    "ncnn": "edgecam.detectors.ncnn_detector:NcnnDetector",
}


def load_detector_class(backend: str) -> type:
    try:
        target = REGISTRY[backend]
    except KeyError:
        raise KeyError(f"unknown detector backend {backend!r}; known: {', '.join(sorted(REGISTRY))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
