"""The detector seam: a Protocol and a registry of lazily imported backends."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from edgecam.domain import Inference, PixelFormat
from edgecam.plugins import load_plugin


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
    return load_plugin(REGISTRY, "detector backend", backend)